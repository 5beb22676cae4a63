//! The worklist acts on exactly the orders a clerk ticked: a workbook of those, a resend
//! of them as the ledger last had them (checked first, then sent as any upload is), a
//! closure with a reason; and its filters by the night and the run. The real binary,
//! simulator and ledger.

mod common;

use common::Workspace;
use common::desk::{self, start};

fn outcomes_of(ws: &Workspace, req_id: &str) -> usize {
    common::ledger_query(
        &ws.ledger(),
        &format!(
            "SELECT count(*) FROM outcomes JOIN orders ON orders.id = outcomes.order_id WHERE req_id = '{req_id}'"
        ),
    )[0][0]
        .parse()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticked_orders_are_exported_resent_or_closed_exactly() {
    let ws = Workspace::new();
    let sim = common::simulator(desk::rejecting());
    let results = desk::last_night(&ws, &sim);
    desk::add_to_ledger(&ws, "bo", "clerk", "bo's long password");
    desk::add_to_ledger(&ws, "vic", "viewer", "viewer's long password");
    let process = start(&ws.ledger(), &results, &sim.url(), &["--approvals", "none"]);
    let bo = desk::logged_in_as(&process, "bo", "bo's long password").await;
    let vic = desk::logged_in_as(&process, "vic", "viewer's long password").await;

    // Each listed order has its box, in the selection's form.
    let worklist = bo.text("/work").await;
    assert!(
        worklist.contains("name=\"orders\" value=\"N2\" form=\"selection\""),
        "{worklist}"
    );
    let csrf = bo.csrf("/work").await;

    // Nothing ticked, or a name that is no req_id: refused, nothing done.
    let none = bo
        .post("/work/selected", &[("csrf", &csrf), ("do", "resend")])
        .await;
    assert_eq!(none.status(), 400);
    let odd = bo
        .post(
            "/work/selected",
            &[("csrf", &csrf), ("do", "download"), ("orders", "../N2")],
        )
        .await;
    assert_eq!(odd.status(), 400);
    // Without the page's token: 403 before anything is read.
    let forged = bo
        .post(
            "/work/selected",
            &[("csrf", "forged"), ("do", "download"), ("orders", "N2")],
        )
        .await;
    assert_eq!(forged.status(), 403);

    // A workbook of exactly the ticked ones still outstanding (N1 was delivered).
    let download = bo
        .post(
            "/work/selected",
            &[
                ("csrf", &csrf),
                ("do", "download"),
                ("orders", "N2"),
                ("orders", "N1"),
            ],
        )
        .await;
    assert_eq!(download.status(), 200);
    let book = ws.write("selected.xlsx", download.bytes().await.expect("bytes"));
    assert_eq!(common::workbook_column(&book, "req_id"), ["N2"]);
    let audit = desk::audit_text(&ws.ledger());
    assert!(audit.contains("\"what\":\"selected\""), "{audit}");

    // A viewer may export but not resend or close.
    let vic_csrf = vic.csrf("/work").await;
    for action in ["resend", "close"] {
        let refused = vic
            .post(
                "/work/selected",
                &[
                    ("csrf", &vic_csrf),
                    ("do", action),
                    ("orders", "N2"),
                    ("reason", "x"),
                ],
            )
            .await;
        assert_eq!(refused.status(), 403, "{action}");
    }
    let export = vic
        .post(
            "/work/selected",
            &[("csrf", &vic_csrf), ("do", "download"), ("orders", "N2")],
        )
        .await;
    assert_eq!(export.status(), 200);

    // Resent as it is: a submission made from the ledger's payload, checked first.
    let calls = sim.stats().requests;
    let resent = bo
        .post(
            "/work/selected",
            &[("csrf", &csrf), ("do", "resend"), ("orders", "N2")],
        )
        .await;
    assert_eq!(resent.status(), 303);
    let submission = desk::location(&resent);
    assert!(submission.starts_with("/submissions/"), "{submission}");
    let preview = bo.text(&submission).await;
    assert!(
        preview.contains("resend-"),
        "the label names a resend: {preview}"
    );
    assert_eq!(sim.stats().requests, calls, "the check sends nothing");
    let confirmed = bo.confirm(&submission).await;
    assert_eq!(confirmed.status(), 303);
    let status = desk::finished(&bo, &desk::location(&confirmed)).await;
    assert_eq!(status["progress"]["rejected"], 1, "{status}");
    assert_eq!(
        sim.stats().requests,
        calls + 1,
        "exactly the ticked one sent"
    );
    assert_eq!(outcomes_of(&ws, "N2"), 2, "a second attempt in its story");
    assert_eq!(outcomes_of(&ws, "N3"), 1, "nothing else sent");

    // Closed with a reason (none: refused); a ticked order no longer outstanding is
    // reported, not dropped.
    let no_reason = bo
        .post(
            "/work/selected",
            &[("csrf", &csrf), ("do", "close"), ("orders", "N2")],
        )
        .await;
    assert_eq!(no_reason.status(), 400);
    let closed = bo
        .post(
            "/work/selected",
            &[
                ("csrf", &csrf),
                ("do", "close"),
                ("orders", "N2"),
                ("orders", "N1"),
                ("reason", "refunded"),
            ],
        )
        .await;
    assert_eq!(closed.status(), 200);
    let said = closed.text().await.expect("page");
    assert!(
        said.contains("已关闭: 1") && said.contains("已送达、未关闭: 1"),
        "{said}"
    );
    let state = common::ledger_query(
        &ws.ledger(),
        "SELECT state, closed_reason FROM orders WHERE req_id = 'N2'",
    );
    assert_eq!(state[0], ["closed", "refunded"]);
    let gone = bo
        .post(
            "/work/selected",
            &[("csrf", &csrf), ("do", "resend"), ("orders", "N2")],
        )
        .await;
    assert_eq!(gone.status(), 409, "nothing left to resend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worklist_filters_by_the_night_and_the_run() {
    let night = desk::after_last_night(&[]);
    let visitor = desk::logged_in(&night.process).await;
    let run = common::ledger_query(
        &night.ws.ledger(),
        "SELECT last_run, substr(updated_at, 1, 10) FROM orders WHERE req_id = 'N2'",
    );
    let (run, date) = (&run[0][0], &run[0][1]);
    let matching = |page: &str| {
        let at = page.find("符合条件 ").expect("the count") + "符合条件 ".len();
        page[at..].to_owned()
    };
    let page = visitor.text(&format!("/work?date={date}")).await;
    assert!(matching(&page).starts_with("1 笔"), "{page}");
    let page = visitor.text("/work?date=2001-01-01").await;
    assert!(matching(&page).starts_with("0 笔"), "{page}");
    let page = visitor.text(&format!("/work?run={run}")).await;
    assert!(matching(&page).starts_with("1 笔"), "{page}");
    let page = visitor.text("/work?run=another").await;
    assert!(matching(&page).starts_with("0 笔"), "{page}");
    // The export link carries the filter.
    let page = visitor.text(&format!("/work?date={date}")).await;
    assert!(page.contains(&format!("/work.xlsx?date={date}")), "{page}");
    // The export the night's run read (night.csv), by part of its name.
    let page = visitor.text("/work?source=night").await;
    assert!(matching(&page).starts_with("1 笔"), "{page}");
    assert!(page.contains("night.csv"), "the source shown: {page}");
    let page = visitor.text("/work?source=day").await;
    assert!(matching(&page).starts_with("0 笔"), "{page}");
    // The worklist's first address still answers.
    let old = visitor.text("/outstanding?source=night").await;
    assert!(matching(&old).starts_with("1 笔"), "{old}");
    let bad = visitor.get("/work?date=yesterday").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_orders_the_night_resends_are_counted_and_unreadable_rows_named() {
    let ws = Workspace::new();
    let sim = common::simulator(
        desk::rejecting().on(common::Matcher::req_id("N3"), common::Fault::transient(99)),
    );
    let results = ws.path("results");
    std::fs::create_dir(&results).expect("results dir");
    let mut text = common::orders(&["N1", "N2", "N3"]);
    text.push_str("4000000000000000004,,true,0000,ok,,\n");
    let input = ws.write("night.csv", text);
    let mut night =
        common::send_cmd_with(&sim, &[&input], &ws.ledger(), &results.join("night.csv"));
    night.args(["--max-attempts", "1"]);
    common::exits_with(&mut night, 1);
    let state = |id: &str| {
        common::ledger_query(
            &ws.ledger(),
            &format!("SELECT state FROM orders WHERE req_id = '{id}'"),
        )[0][0]
            .clone()
    };
    assert_eq!(state("N3"), "failed");

    // The nightly run sends N3 again by itself for 7 days: not finance's work yet.
    let process = start(&ws.ledger(), &results, &sim.url(), &[]);
    let visitor = desk::logged_in(&process).await;
    let page = visitor.text("/work").await;
    assert!(page.contains("符合条件 1 笔，共 1 笔未完成"), "{page}");
    assert!(
        page.contains("id=\"resending\"") && page.contains("另有 1 笔失败订单"),
        "{page}"
    );
    assert!(!page.contains("value=\"N3\""), "{page}");
    // The export row without a req_id never reached the ledger: its run is named.
    assert!(page.contains("读不出的行"), "{page}");
    let table = &page[page.find("<table class=\"invalid\">").expect("the table")..];
    assert!(
        table.contains("href=\"/runs/") && table.contains("night.csv"),
        "{table}"
    );
    drop(process);

    // A nightly run that resends none: N3 is finance's now.
    let process = start(
        &ws.ledger(),
        &results,
        &sim.url(),
        &["--resend-failed-days", "0"],
    );
    let visitor = desk::logged_in(&process).await;
    let page = visitor.text("/work").await;
    assert!(page.contains("符合条件 2 笔，共 2 笔未完成"), "{page}");
    assert!(
        page.contains("value=\"N3\"") && !page.contains("id=\"resending\""),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_keeps_within_the_uploads_disk_budget() {
    let night = desk::after_last_night(&["--upload-budget-mib", "0"]);
    let visitor = desk::logged_in(&night.process).await;
    let csrf = visitor.csrf("/work").await;
    let refused = visitor
        .post(
            "/work/selected",
            &[("csrf", &csrf), ("do", "resend"), ("orders", "N2")],
        )
        .await;
    assert_eq!(refused.status(), 507);
    assert!(refused.text().await.expect("page").contains("上传空间已满"));
    assert_eq!(night.sim.stats().requests, night.calls, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_says_who_started_it_and_what_it_read() {
    let night = desk::after_last_night(&[]);
    let visitor = desk::logged_in(&night.process).await;
    let runs = visitor.text("/").await;
    let recorded = common::ledger_query(
        &night.ws.ledger(),
        "SELECT runs.id, started_by, run_inputs.sha256 FROM runs JOIN run_inputs ON run_inputs.run_id = runs.id",
    );
    let (run_id, started_by, sha256) = (&recorded[0][0], &recorded[0][1], &recorded[0][2]);
    assert!(
        runs.contains(&format!("<td>{started_by}</td>")),
        "{started_by} in {runs}"
    );
    let run = desk::value_after(&runs, "href=\"/runs/").expect("a run");
    let page = visitor.text(&format!("/runs/{run}")).await;
    let recorded = &page[page
        .find("id=\"recorded\"")
        .expect("what the ledger recorded")..];
    assert!(
        recorded.contains(run_id.as_str())
            && recorded.contains("night.csv")
            && recorded.contains(sha256.as_str()),
        "{recorded}"
    );
    // The file as it was: its SHA-256 is the export's.
    use sha2::Digest as _;
    let bytes = std::fs::read(night.ws.path("night.csv")).expect("the export");
    assert_eq!(
        *sha256,
        faster_hex::hex_string(&sha2::Sha256::digest(bytes))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_a_filter_matches_is_resent_as_it_is_in_one_submission() {
    let night = desk::after_last_night(&["--approvals", "none"]);
    let visitor = desk::logged_in(&night.process).await;
    let page = visitor.text("/work?code=B0107").await;
    let filter = desk::value_after(&page, "name=\"filter\" value=\"").expect("the filter");
    assert_eq!(filter, "code=B0107");
    assert!(page.contains("id=\"resend-all\""), "{page}");
    let csrf = visitor.csrf("/work").await;
    // A filter that matches nothing: nothing to do.
    let none = visitor
        .post(
            "/work/selected",
            &[
                ("csrf", &csrf),
                ("do", "resend"),
                ("filter", "code=nothing"),
            ],
        )
        .await;
    assert_eq!(none.status(), 400);
    let bad = visitor
        .post(
            "/work/selected",
            &[
                ("csrf", &csrf),
                ("do", "resend"),
                ("filter", "status=delivered"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 400);
    // The server finds the matching orders again and makes one submission of them.
    let resent = visitor
        .post(
            "/work/selected",
            &[("csrf", &csrf), ("do", "resend"), ("filter", &filter)],
        )
        .await;
    assert_eq!(resent.status(), 303);
    let submission = desk::location(&resent);
    let confirmed = visitor.confirm(&submission).await;
    assert_eq!(confirmed.status(), 303);
    let status = desk::finished(&visitor, &desk::location(&confirmed)).await;
    assert_eq!(status["progress"]["rejected"], 1, "{status}");
    assert_eq!(night.sim.stats().requests, night.calls + 1, "N2 alone");
}

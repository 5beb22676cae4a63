//! The desk in a real browser (Debian's Chromium over WebDriver), as a finance clerk
//! uses it: log in through the printed link, open last night's run, download the rows
//! needing attention, correct them in a workbook as one would in Excel, upload, check
//! the preview's numbers, confirm, wait for the end, download the results — then the
//! ledger and the simulator's counts. A screenshot of each step goes under
//! `target/desk-screenshots/`. The browser is installed by `scripts/install-browser.sh`
//! when missing; if it cannot be, this test fails (it is never skipped).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use calamine::{Data, Reader as _};
use common::{Fault, Matcher, Scenario, Workspace};
use fantoccini::{Client, ClientBuilder, Locator};

const REJECTED_ORDER: u64 = 4_000_000_000_000_000_002;
const CORRECTED_ORDER: &str = "4000000000000000092";

/// Chromium and ChromeDriver, installed by the project's script if they are missing.
fn browser() -> (PathBuf, PathBuf) {
    let chromium = PathBuf::from("/usr/bin/chromium");
    let driver = PathBuf::from("/usr/bin/chromedriver");
    if !chromium.exists() || !driver.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-browser.sh");
        let status = std::process::Command::new("bash")
            .arg(script)
            .status()
            .expect("run scripts/install-browser.sh");
        assert!(
            status.success(),
            "scripts/install-browser.sh failed: the browser test cannot run"
        );
    }
    assert!(
        chromium.exists() && driver.exists(),
        "chromium and chromedriver are needed"
    );
    (chromium, driver)
}

/// ChromeDriver on a free port; killed when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(path: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let up = common::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "chromedriver did not listen");
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn open_browser(
    driver: &Driver,
    chromium: &Path,
    profile: &Path,
    downloads: &Path,
) -> Client {
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "intl.accept_languages": "zh-CN,zh",
            },
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("an object")
    };
    // chromedriver listens on loopback, plain HTTP: no TLS in between.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Screenshots of each step, kept under the target directory for people to look at.
struct Camera {
    dir: PathBuf,
    step: u32,
    prefix: String,
}

impl Camera {
    fn new() -> Camera {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target.join("desk-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        Camera {
            dir,
            step: 0,
            prefix: String::new(),
        }
    }

    /// A camera whose pictures are named `PREFIX-NN-name.png`.
    fn named(prefix: &str) -> Camera {
        Camera {
            prefix: format!("{prefix}-"),
            ..Camera::new()
        }
    }

    async fn shoot(&mut self, browser: &Client, name: &str) {
        self.step += 1;
        let png = browser.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(
            self.dir
                .join(format!("{}{:02}-{name}.png", self.prefix, self.step)),
            png,
        )
        .expect("write screenshot");
    }
}

/// Clicks the link that reads `text` on the page shown.
async fn follow(browser: &Client, text: &str) {
    browser
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|error| panic!("link {text}: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("click {text}: {error}"));
}

/// The element, once the page shows it (at most 30 s; the page is shown on failure).
async fn find_soon(
    browser: &Client,
    locator: Locator<'_>,
) -> Result<fantoccini::elements::Element, String> {
    match browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(locator)
        .await
    {
        Ok(element) => Ok(element),
        Err(error) => Err(format!(
            "{error}; the page: {}",
            browser.source().await.unwrap_or_default()
        )),
    }
}

/// The file that appears in `dir` whose name starts with `start` and ends with
/// `ending`, once its download has finished: Chromium creates the file empty at once
/// and writes beside it as `….crdownload`, so the download is done when no such file
/// is left and this one has its bytes.
fn downloaded(dir: &Path, start: &str, ending: &str) -> PathBuf {
    let mut found = None;
    let done = common::wait_until(Duration::from_secs(30), || {
        let names: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("downloads")
            .flatten()
            .map(|e| e.path())
            .collect();
        let busy = names
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".crdownload"));
        found = names.into_iter().find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(start)
                && name.ends_with(ending)
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        });
        found.is_some() && !busy
    });
    assert!(done, "no {ending} download in {}", dir.display());
    found.expect("found")
}

/// The downloaded rows needing attention, corrected as a clerk would in Excel: the
/// refused order's number fixed and its amount changed, the missing req_id filled.
fn correct(download: &Path, out: &Path) {
    let mut workbook = calamine::open_workbook_auto(download).expect("open the download");
    let sheet = workbook
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    let mut rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let header = rows[0].clone();
    // Headers read `外部请求流水` over `req_id`: Chinese, then the canonical name.
    let col = |name: &str| {
        header
            .iter()
            .position(|h| opentrade_callback::columns::canonical_header(h) == name)
            .unwrap_or_else(|| panic!("column {name} in {header:?}"))
    };
    let (req_id, order_no, amount) = (col("req_id"), col("order_no"), col("first_charge_amount"));
    let mut changed = 0;
    for row in rows.iter_mut().skip(1) {
        if row[order_no] == REJECTED_ORDER.to_string() {
            row[order_no] = CORRECTED_ORDER.into();
            assert_eq!(row[amount], "100", "the amount has a column of its own");
            row[amount] = "88.80".into();
            changed += 1;
        }
        if row[req_id].is_empty() {
            row[req_id] = "N4".into();
            changed += 1;
        }
    }
    assert_eq!(
        changed, 2,
        "both rows to correct are in the download: {rows:?}"
    );
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            sheet.write_string(r as u32, c as u16, value).expect("cell");
        }
    }
    book.save(out).expect("save the corrected workbook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_corrects_last_nights_rows_in_the_browser() {
    let (chromium, driver_path) = browser();
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default().on(
        Matcher::order_no(REJECTED_ORDER),
        Fault::reject("B0107", "订单号不存在"),
    ));
    let results = ws.path("results");
    std::fs::create_dir(&results).expect("results dir");
    let mut night = common::orders(&["N1", "N2", "N3"]);
    night.push_str(
        "4000000000000000004,,true,0000,ok,,\"{\"\"firstChargeAmount\"\":\"\"20.50\"\"}\"\n",
    );
    let input = ws.write("night.csv", night);
    let mut send = common::send_cmd_with(
        &sim,
        &[&input],
        &ws.ledger(),
        &results.join("night-1201.csv"),
    );
    common::exits_with(&mut send, 1);
    let desk = common::desk::start(&ws.ledger(), &results, &sim.url(), &[]);
    let driver = start_driver(&driver_path);
    let downloads = ws.path("downloads");
    std::fs::create_dir(&downloads).expect("downloads dir");
    let browser = open_browser(&driver, &chromium, &ws.path("profile"), &downloads).await;
    let mut camera = Camera::new();

    // Without the link: the login page says how to get in.
    browser
        .goto(&format!("{}/", desk.base))
        .await
        .expect("home");
    find_soon(&browser, Locator::Css("main p"))
        .await
        .expect("the login page");
    camera.shoot(&browser, "login").await;
    // Log in through the printed link: the runs.
    browser.goto(&desk.login_url).await.expect("login");
    find_soon(&browser, Locator::LinkText("night-1201.csv"))
        .await
        .expect("the run is listed");
    camera.shoot(&browser, "runs").await;
    // Last night's run.
    follow(&browser, "night-1201.csv").await;
    let page = find_soon(&browser, Locator::Css("table.rows"))
        .await
        .expect("rows needing attention");
    let text = page.text().await.expect("text");
    assert!(text.contains("B0107") && text.contains("N2"), "{text}");
    camera.shoot(&browser, "run").await;
    // The outstanding orders: the refused one; the invalid row was never sent.
    follow(&browser, "未完成订单").await;
    let listed = find_soon(&browser, Locator::Css("table.rows"))
        .await
        .expect("outstanding orders");
    assert!(listed.text().await.expect("text").contains("N2"));
    camera.shoot(&browser, "outstanding").await;
    browser.back().await.expect("back to the run");
    find_soon(&browser, Locator::Css("a[href$='/attention.xlsx']"))
        .await
        .expect("the run again");
    // Download the rows needing attention, correct them.
    browser
        .find(Locator::Css("a[href$='/attention.xlsx']"))
        .await
        .expect("download link")
        .click()
        .await
        .expect("click");
    let attention = downloaded(&downloads, "night-1201", "-attention.xlsx");
    let corrected = ws.path("更正.xlsx");
    correct(&attention, &corrected);
    // Upload it: the preview.
    follow(&browser, "提交更正").await;
    let file = find_soon(&browser, Locator::Css("input[type=file]"))
        .await
        .expect("file input");
    file.send_keys(&corrected.display().to_string())
        .await
        .expect("choose the file");
    camera.shoot(&browser, "submit").await;
    browser
        .find(Locator::Css("form.upload button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("upload");
    let calls = find_soon(&browser, Locator::Id("calls"))
        .await
        .expect("the preview");
    assert_eq!(calls.text().await.expect("calls"), "2");
    let amount = browser.find(Locator::Id("amount")).await.expect("amount");
    assert_eq!(
        amount.text().await.expect("amount"),
        "109.30",
        "88.80 + 20.50"
    );
    camera.shoot(&browser, "preview").await;
    let before = sim.stats();
    assert_eq!(before.accepted, 2, "nothing sent by the preview");
    // Confirm; wait for the end.
    browser
        .find(Locator::Id("confirm"))
        .await
        .expect("confirm")
        .click()
        .await
        .expect("click");
    find_soon(&browser, Locator::Id("progress"))
        .await
        .expect("the progress page");
    camera.shoot(&browser, "sending").await;
    until_sent(&browser).await;
    find_soon(&browser, Locator::Css("a[href$='/results.xlsx']"))
        .await
        .expect("results link");
    camera.shoot(&browser, "sent").await;
    // Download the results.
    browser
        .find(Locator::Css("a[href$='/results.xlsx']"))
        .await
        .expect("results link")
        .click()
        .await
        .expect("click");
    let results_download = downloaded(&downloads, "desk-", ".xlsx");
    assert!(
        std::fs::read(&results_download)
            .expect("results")
            .starts_with(b"PK")
    );
    // The language switch.
    follow(&browser, "English").await;
    find_soon(&browser, Locator::LinkText("Outstanding"))
        .await
        .expect("English pages");
    camera.shoot(&browser, "runs-en").await;
    // Last night's run in English: statuses, reasons and advice.
    follow(&browser, "night-1201.csv").await;
    let rows = find_soon(&browser, Locator::Css("table.rows"))
        .await
        .expect("the run in English");
    assert!(rows.text().await.expect("text").contains("What to do"));
    camera.shoot(&browser, "run-en").await;
    browser.close().await.expect("close");

    let ledger = common::ledger_state(&ws.ledger());
    assert_eq!(
        ledger.get("N2").map(String::as_str),
        Some("delivered"),
        "{ledger:?}"
    );
    assert_eq!(
        ledger.get("N4").map(String::as_str),
        Some("delivered"),
        "{ledger:?}"
    );
    let after = sim.stats();
    assert_eq!(after.accepted, 4, "{after:?}");
    assert_eq!(after.rejected, 1, "{after:?}");
}

/// Logs `name` in through the password form.
async fn log_in(browser: &Client, base: &str, name: &str, password: &str) {
    browser
        .goto(&format!("{base}/login"))
        .await
        .expect("login page");
    let field = |n: &'static str| async move {
        find_soon(browser, Locator::Css(&format!("input[name={n}]")))
            .await
            .expect("a field")
    };
    field("name").await.send_keys(name).await.expect("name");
    field("password")
        .await
        .send_keys(password)
        .await
        .expect("password");
    browser
        .find(Locator::Css("form.login button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");
    find_soon(browser, Locator::Css("span.user"))
        .await
        .expect("logged in");
}

/// Waits until the send on the page shown has ended.
async fn until_sent(browser: &Client) {
    let ended = tokio::time::timeout(Duration::from_secs(120), async {
        while !browser
            .source()
            .await
            .expect("page")
            .contains("data-running=\"0\"")
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the send ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_and_an_approver_work_a_day_in_the_browser() {
    let (chromium, driver_path) = browser();
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default().on(
        Matcher::order_no(REJECTED_ORDER),
        Fault::reject("B0107", "订单号不存在"),
    ));
    let results = common::desk::last_night(&ws, &sim);
    for (name, role) in [("bo", "clerk"), ("cy", "approver")] {
        assert_cmd::Command::new(common::binary())
            .args(["users", "add", name, "--role", role, "--ledger"])
            .arg(ws.ledger())
            .write_stdin(format!("{name}'s long password\n"))
            .assert()
            .success();
    }
    // New requests are announced to the team's robot, linked to the shop's desk.
    let robot = common::hooks::HookServer::ok();
    let robot_url = format!("{}/robot", robot.url);
    let config = ws.write(
        "opentrade.toml",
        "desk_url = \"https://desk.shop.example/\"\n",
    );
    let config = config.display().to_string();
    let desk = common::desk::start(
        &ws.ledger(),
        &results,
        &sim.url(),
        &["--config", &config, "--notify-url", &robot_url],
    );
    let driver = start_driver(&driver_path);
    let (bo_downloads, cy_downloads) = (ws.path("bo-downloads"), ws.path("cy-downloads"));
    std::fs::create_dir(&bo_downloads).expect("dir");
    std::fs::create_dir(&cy_downloads).expect("dir");
    let bo = open_browser(&driver, &chromium, &ws.path("bo-profile"), &bo_downloads).await;
    let cy = open_browser(&driver, &chromium, &ws.path("cy-profile"), &cy_downloads).await;
    let mut camera = Camera::named("team");

    // The clerk logs in with a password and finds the rejected order on the worklist.
    log_in(&bo, &desk.base, "bo", "bo's long password").await;
    bo.goto(&format!("{}/work?code=B0107", desk.base))
        .await
        .expect("worklist");
    let matching = find_soon(&bo, Locator::Id("matching"))
        .await
        .expect("the worklist");
    assert!(
        matching
            .text()
            .await
            .expect("text")
            .contains("符合条件 1 笔")
    );
    // The box in the table's heading ticks every order listed; the ticked ones are
    // exported exactly.
    find_soon(&bo, Locator::Id("pick-all"))
        .await
        .expect("the box that ticks all")
        .click()
        .await
        .expect("tick all");
    let ticked = bo
        .find(Locator::Css("input[name='orders'][value='N2']"))
        .await
        .expect("N2's box")
        .is_selected()
        .await
        .expect("ticked?");
    assert!(ticked, "the heading's box ticks N2's");
    camera.shoot(&bo, "worklist").await;
    bo.find(Locator::Css("form#selection button[value='download']"))
        .await
        .expect("export the ticked")
        .click()
        .await
        .expect("export");
    let exported = downloaded(&bo_downloads, "outstanding-", ".xlsx");
    assert_eq!(common::workbook_column(&exported, "req_id"), ["N2"]);
    std::fs::remove_file(&exported).expect("tidy");
    // Its story.
    bo.goto(&format!("{}/orders?q={REJECTED_ORDER}", desk.base))
        .await
        .expect("story");
    let story = find_soon(&bo, Locator::Css("table.events"))
        .await
        .expect("the story");
    assert!(story.text().await.expect("text").contains("B0107"));
    camera.shoot(&bo, "story").await;
    // Last night's rows to correct, downloaded, corrected, uploaded: the preview says
    // what the correction changes; the clerk asks for the send.
    bo.goto(&format!("{}/", desk.base)).await.expect("runs");
    follow(&bo, "night-1201.csv").await;
    find_soon(&bo, Locator::Css("a[href$='/attention.xlsx']"))
        .await
        .expect("the run")
        .click()
        .await
        .expect("download");
    let attention = downloaded(&bo_downloads, "night-1201", "-attention.xlsx");
    let corrected = ws.path("更正.xlsx");
    correct(&attention, &corrected);
    follow(&bo, "提交更正").await;
    find_soon(&bo, Locator::Css("input[type=file]"))
        .await
        .expect("file input")
        .send_keys(&corrected.display().to_string())
        .await
        .expect("choose");
    bo.find(Locator::Css("form.upload button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("upload");
    let request = find_soon(&bo, Locator::Id("request"))
        .await
        .expect("the preview");
    let preview = bo.source().await.expect("page");
    assert!(preview.contains("与上次发送的内容相比改动了"), "{preview}");
    assert!(
        !preview.contains("id=\"confirm\""),
        "a clerk does not send alone"
    );
    camera.shoot(&bo, "preview").await;
    request.click().await.expect("request");
    find_soon(&bo, Locator::Id("state"))
        .await
        .expect("the request");
    let request_url = bo.current_url().await.expect("url").to_string();
    assert!(request_url.contains("/requests/"), "{request_url}");
    assert!(bo.source().await.expect("page").contains("等待他人审批"));
    camera.shoot(&bo, "requested").await;
    assert_eq!(sim.stats().accepted, 2, "nothing sent yet");

    // The approver opens the link the robot was sent (the shop's desk address; this
    // desk listens on a port of the test's), reads the request and approves: it is sent.
    assert!(
        common::wait_until(std::time::Duration::from_secs(10), || !robot
            .seen()
            .is_empty()),
        "the request announced"
    );
    let said: serde_json::Value =
        serde_json::from_str(&robot.seen()[0].body).expect("the robot's JSON");
    let link = said["text"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("https://desk.shop.example/requests/"))
        .unwrap_or_else(|| panic!("a link in {said}"))
        .to_owned();
    let path = link.trim_start_matches("https://desk.shop.example");
    assert!(request_url.ends_with(path), "{link} is {request_url}");
    log_in(&cy, &desk.base, "cy", "cy's long password").await;
    cy.goto(&format!("{}{path}", desk.base))
        .await
        .expect("the request");
    let approve = find_soon(&cy, Locator::Id("approve"))
        .await
        .expect("approve");
    camera.shoot(&cy, "approver").await;
    approve.click().await.expect("approve");
    find_soon(&cy, Locator::Id("progress"))
        .await
        .expect("the send");
    until_sent(&cy).await;
    camera.shoot(&cy, "approved-sent").await;
    // Both read the order's story now: delivered, with who did what.
    cy.goto(&format!("{}/orders/N2", desk.base))
        .await
        .expect("story");
    let state = find_soon(&cy, Locator::Id("state")).await.expect("state");
    assert_eq!(state.text().await.expect("text"), "已送达");
    camera.shoot(&cy, "story-after").await;
    bo.goto(&request_url).await.expect("the request");
    let finished = find_soon(&bo, Locator::Id("state")).await.expect("state");
    assert_eq!(finished.text().await.expect("text"), "已完成");
    // And in English.
    follow(&bo, "English").await;
    bo.goto(&format!("{}/requests", desk.base))
        .await
        .expect("requests");
    find_soon(&bo, Locator::Css("table.requests"))
        .await
        .expect("requests in English");
    camera.shoot(&bo, "requests-en").await;
    follow(&cy, "English").await;
    cy.goto(&format!("{}/orders/N2", desk.base))
        .await
        .expect("story");
    find_soon(&cy, Locator::Css("table.events"))
        .await
        .expect("story in English");
    camera.shoot(&cy, "story-en").await;
    // The audit log, as an auditor reads it: the day's actions, both downloads offered.
    cy.goto(&format!("{}/audit", desk.base))
        .await
        .expect("audit");
    find_soon(&cy, Locator::Css("a[href^='/audit.xlsx']"))
        .await
        .expect("the workbook of the log");
    camera.shoot(&cy, "audit-en").await;
    bo.close().await.expect("close");
    cy.close().await.expect("close");

    let ledger = common::ledger_state(&ws.ledger());
    assert_eq!(
        ledger.get("N2").map(String::as_str),
        Some("delivered"),
        "{ledger:?}"
    );
    let actions: Vec<String> = common::desk::audit_rows(&ws.ledger())
        .iter()
        .filter_map(|r| r["action"].as_str().map(str::to_owned))
        .filter(|a| a == "request" || a == "approve")
        .collect();
    assert_eq!(actions, ["request", "approve"]);
}

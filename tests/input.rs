//! Real-world exports (issue: encodings, headers, Excel damage, bad rows): every
//! fixture in tests/fixtures/ through the binary, with the exact status and
//! error_code of every row.

mod common;

use common::{Fault, Matcher, Scenario};

use common::{Workspace, columns, dry_run, exits_with, fixture, read_csv, send_cmd, simulator};

fn would_send(ids: &[&str]) -> Vec<[String; 3]> {
    ids.iter()
        .map(|id| [id.to_string(), "would_send".to_owned(), String::new()])
        .collect()
}

fn descs(ws: &Workspace) -> Vec<String> {
    read_csv(&ws.out())
        .into_iter()
        .map(|r| r["result_desc"].clone())
        .collect()
}

#[test]
fn utf8_with_and_without_bom_is_read() {
    for (file, ids) in [
        ("encoding-utf8.csv", ["enc-1", "enc-2"]),
        ("encoding-utf8-bom.csv", ["bom-1", "bom-2"]),
    ] {
        let ws = Workspace::new();
        dry_run(&ws, &[&fixture(file)]).assert().code(0);
        assert_eq!(
            columns(&ws.out(), ["req_id", "status", "error_code"]),
            would_send(&ids),
            "{file}"
        );
        assert_eq!(descs(&ws), ["充值成功", "号码已停机"], "{file}");
    }
}

#[test]
fn gbk_with_chinese_headers_and_crlf_is_detected() {
    let ws = Workspace::new();
    dry_run(&ws, &[&fixture("encoding-gbk.csv")])
        .assert()
        .code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        would_send(&["gbk-1", "gbk-2"])
    );
    let rows = read_csv(&ws.out());
    assert_eq!(
        (rows[0]["result_desc"].as_str(), rows[0]["success"].as_str()),
        ("充值成功", "true")
    );
    assert_eq!(
        rows[0]["ext"],
        r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#
    );
    assert_eq!(
        (
            rows[1]["success"].as_str(),
            rows[1]["sub_order_no"].as_str()
        ),
        ("false", "4012345678901234599")
    );
}

#[test]
fn gb18030_four_byte_characters_are_read() {
    let ws = Workspace::new();
    dry_run(&ws, &[&fixture("encoding-gb18030.csv")])
        .assert()
        .code(0);
    assert_eq!(descs(&ws), ["吉祥𠮷充值成功€"]);
}

#[test]
fn an_undecodable_row_is_invalid_with_its_line_and_the_rest_is_read() {
    let ws = Workspace::new();
    let stderr = exits_with(&mut dry_run(&ws, &[&fixture("encoding-bad-bytes.csv")]), 1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["bad-1", "would_send", ""],
            ["bad-2", "invalid", "input.bad_encoding"],
            ["bad-3", "would_send", ""]
        ]
    );
    // The bad cell is shown as GBK would read it, so finance can see what it was.
    assert_eq!(descs(&ws)[1], "号码已停机");
    assert!(
        stderr.contains("encoding-bad-bytes.csv row 3: input.bad_encoding: result_desc"),
        "{stderr}"
    );
}

#[test]
fn a_forced_encoding_wins_over_detection() {
    let ws = Workspace::new();
    // GBK read as UTF-8: the Chinese header itself cannot be read.
    let stderr = exits_with(
        dry_run(&ws, &[&fixture("encoding-gbk.csv")]).args(["--encoding", "utf-8"]),
        2,
    );
    assert!(stderr.contains("header line is not valid UTF-8"));
    // UTF-8 read as GBK: the Chinese cells are refused rather than turned into nonsense.
    dry_run(&ws, &[&fixture("encoding-utf8.csv")])
        .args(["--encoding", "gbk"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["enc-1", "invalid", "input.bad_encoding"],
            ["enc-2", "invalid", "input.bad_encoding"]
        ]
    );
}

#[test]
fn camel_case_and_messy_headers_are_recognised() {
    for (file, id) in [
        ("headers-camel.csv", "camel-1"),
        ("headers-messy.csv", "messy-1"),
    ] {
        let ws = Workspace::new();
        dry_run(&ws, &[&fixture(file)]).assert().code(0);
        assert_eq!(
            columns(&ws.out(), ["req_id", "status", "error_code"]),
            would_send(&[id]),
            "{file}"
        );
        assert_eq!(descs(&ws), ["充值成功"], "{file}");
    }
}

#[test]
fn map_names_custom_headers_and_unknown_columns_are_carried_through() {
    let ws = Workspace::new();
    let stderr = exits_with(
        dry_run(&ws, &[&fixture("headers-custom.csv")]).args([
            "--map",
            "order_no=订单编号",
            "--map",
            "success=处理结果",
            "--map",
            "req_id=流水号",
        ]),
        0,
    );
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        would_send(&["custom-1"])
    );
    // Columns the API does not use are the merchant's own: kept, after `line`.
    let rows = common::read_csv(&ws.out());
    assert!(
        rows.iter()
            .all(|r| r.contains_key("备注") && r.contains_key("操作员")),
        "{rows:?}"
    );
    assert!(!stderr.contains("备注"), "nothing to warn about: {stderr}");
}

#[test]
fn columns_named_like_outputs_are_carried_and_no_word_inside_a_header_names_a_field() {
    let ws = Workspace::new();
    let input = ws.write(
        "export.csv",
        "order_no,success,req_id,Payment ext,status,advice,状态\n\
         4000000000000000001,true,P1,\"{\"\"channel\"\":\"\"alipay\"\"}\",paid,call back,已付款\n",
    );
    exits_with(&mut dry_run(&ws, &[&input]), 0);
    let rows = common::read_csv(&ws.out());
    assert_eq!(rows[0]["status"], "would_send");
    // `Payment ext` is the merchant's own column, not the payload's ext.
    assert_eq!(rows[0]["ext"], "");
    assert_eq!(rows[0]["Payment ext"], "{\"channel\":\"alipay\"}");
    assert_eq!(rows[0]["input_status"], "paid");
    assert_eq!(rows[0]["input_advice"], "call back");
    assert_eq!(rows[0]["input_状态"], "已付款");
    // The result file sent again: its outcome columns are the tool's own, ignored;
    // the carried ones stay as they are.
    let again = ws.path("again.csv");
    assert_cmd::Command::new(common::binary())
        .arg("send")
        .arg(ws.out())
        .arg("--ledger")
        .arg(ws.ledger())
        .arg("--out")
        .arg(&again)
        .arg("--dry-run")
        .assert()
        .code(0);
    let rows = common::read_csv(&again);
    assert_eq!(rows[0]["status"], "would_send");
    assert_eq!(rows[0]["input_status"], "paid");
    assert!(!rows[0].contains_key("input_input_status"));
}

#[test]
fn a_missing_required_column_lists_found_and_expected_names_and_sends_nothing() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = fixture("headers-missing.csv");
    let stderr = exits_with(&mut send_cmd(&ws, &sim, &[&input]), 2);
    assert!(
        stderr.contains("headers-missing.csv: no column for req_id."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Columns found: 'order_no', 'success', '流水'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("req_id (reqId or 外部请求流水)"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("no column for").count(),
        1,
        "said once: {stderr}"
    );
    assert!(
        !ws.out().exists() && !ws.ledger().exists(),
        "nothing written"
    );
    assert_eq!(sim.stats().requests, 0);
}

#[test]
fn first_charge_columns_build_ext_and_must_agree_with_it() {
    let ws = Workspace::new();
    dry_run(&ws, &[&fixture("first-charge.csv")])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        [
            ["fc-1", "would_send", ""],
            ["fc-2", "would_send", ""],
            ["fc-3", "would_send", ""],
            ["fc-4", "would_send", ""],
            ["fc-5", "invalid", "input.ext_mismatch"],
            ["fc-6", "invalid", "input.bad_amount"],
            ["fc-7", "invalid", "input.bad_time"],
            ["fc-8", "invalid", "input.scientific_notation"],
            ["fc-9", "invalid", "input.ext_mismatch"],
        ]
    );
    let ext: Vec<String> = read_csv(&ws.out())
        .into_iter()
        .map(|r| r["ext"].clone())
        .collect();
    assert_eq!(
        ext[0],
        r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#
    );
    assert_eq!(
        ext[1],
        r#"{"firstChargeAmount":"49.90","firstChargeTime":"1704038400000"}"#
    );
    assert_eq!(
        ext[2], r#"{"firstChargeAmount":"1000.00","firstChargeTime":"1704038400000"}"#,
        "Excel's date format"
    );
    assert_eq!(
        ext[3], r#"{"firstChargeAmount":"100.00","channel":"tmall"}"#,
        "ext kept as given when it agrees"
    );
    assert_eq!(
        ext[5], r#"{"firstChargeAmount":"abc"}"#,
        "shown as ext for correction"
    );
}

#[test]
fn excel_damage_gets_one_code_each_and_harmless_forms_are_accepted() {
    let ws = Workspace::new();
    let stderr = exits_with(&mut dry_run(&ws, &[&fixture("excel-damage.csv")]), 1);
    let mut expected = vec![
        ["xl-01", "invalid", "input.scientific_notation"],
        ["xl-02", "invalid", "input.decimal_number"],
        ["xl-03", "invalid", "input.thousands_separator"],
    ];
    for id in [
        "xl-04", "xl-05", "xl-06", "xl-07", "xl-08", "xl-09", "xl-10", "xl-11", "xl-12", "xl-13",
        "xl-14", "xl-15",
    ] {
        expected.push([id, "would_send", ""]);
    }
    expected.extend([
        ["xl-16", "invalid", "input.scientific_notation"],
        ["", "invalid", "input.field_count"],
        ["xl-18", "invalid", "input.field_count"],
        ["xl-19", "would_send", ""],
        ["xl-20", "invalid", "input.bad_success"],
        ["1.23457E+15", "invalid", "input.scientific_notation"],
        ["", "invalid", "input.missing_field"],
        ["xl-23", "would_send", ""],
    ]);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        expected
    );
    let rows = read_csv(&ws.out());
    let success: Vec<&str> = rows[4..14].iter().map(|r| r["success"].as_str()).collect();
    assert_eq!(
        success,
        [
            "true", "false", "true", "false", "true", "false", "true", "false", "true", "false"
        ]
    );
    assert_eq!(
        rows[3]["order_no"], "4012345678901234504",
        "apostrophe dropped, digits kept"
    );
    assert_eq!(
        (
            rows[14]["order_no"].as_str(),
            rows[14]["result_desc"].as_str()
        ),
        ("4012345678901234515", "多余空格")
    );
    assert_eq!(
        rows[18]["result_desc"],
        "第一行\r\n第二行, 带逗号和\"引号\""
    );
    // Messages name the fix, and blank lines do not shift the file line numbers.
    assert!(
        rows[0]["error_msg"].contains("Format the column as Text"),
        "{}",
        rows[0]["error_msg"]
    );
    // Data row 19 (Excel row 20) spans two lines and a blank line precedes data row 9.
    assert!(
        stderr.contains("excel-damage.csv row 21 (file line 23): input.bad_success"),
        "{stderr}"
    );
}

#[test]
fn tab_and_semicolon_delimiters_are_sniffed() {
    for (file, ids, descs_expected) in [
        (
            "delimiter-tab.tsv",
            ["tab-1", "tab-2"],
            ["含,逗号", "含;分号"],
        ),
        (
            "delimiter-semicolon.csv",
            ["semi-1", "semi-2"],
            ["含,逗号,不需要引号", "含;分号"],
        ),
    ] {
        let ws = Workspace::new();
        dry_run(&ws, &[&fixture(file)]).assert().code(0);
        assert_eq!(
            columns(&ws.out(), ["req_id", "status", "error_code"]),
            would_send(&ids),
            "{file}"
        );
        assert_eq!(descs(&ws), descs_expected, "{file}");
    }
}

#[test]
fn a_forced_delimiter_wins_over_sniffing() {
    let ws = Workspace::new();
    dry_run(&ws, &[&fixture("delimiter-tab.tsv")])
        .args(["--delimiter", "tab"])
        .assert()
        .code(0);
    dry_run(&ws, &[&fixture("delimiter-semicolon.csv")])
        .args(["--delimiter", "comma"])
        .assert()
        .code(2);
}

#[test]
fn formula_like_text_is_defused_in_results_and_sent_verbatim() {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write(
        "in.csv",
        "order_no,success,req_id,result_desc\n4012345678901234501,true,f-1,=HYPERLINK(\"x\")\n4012345678901234502,true,f-2,-5元\n4012345678901234503,true,@f-3,@备注\n",
    );
    send_cmd(&ws, &sim, &[&input]).assert().code(0);
    let text = std::fs::read_to_string(ws.out()).expect("results");
    assert!(text.contains("'=HYPERLINK(\"\"x\"\")"), "{text}");
    assert!(
        text.contains(",'-5元,") && text.contains("'@f-3,") && text.contains(",'@备注,"),
        "{text}"
    );
    // The ledger stays raw.
    assert_eq!(
        common::ledger_query(
            &ws.ledger(),
            "SELECT req_id, json_extract(param0, '$.result_desc') FROM orders WHERE req_id LIKE '%f-3'"
        ),
        [["@f-3", "@备注"]]
    );
    // Fed back, the guarded file has the same payloads: nothing is sent again.
    let calls = sim.stats().requests;
    let again = ws.write("again.csv", std::fs::read(ws.out()).expect("results"));
    send_cmd(&ws, &sim, &[&again]).assert().code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"])
            .iter()
            .filter(|[_, s]| s == "skipped_delivered")
            .count(),
        3
    );
    assert_eq!(sim.stats().requests, calls);
}

#[test]
fn a_filtered_result_file_is_sent_again_under_the_ledger_rules() {
    let sim = simulator(
        Scenario::default()
            .on(Matcher::req_id("r2"), Fault::transient(2))
            .on(
                Matcher::req_id("r4"),
                Fault::reject("BIZ_REJECTED", "订单状态不允许回调"),
            ),
    );
    let ws = Workspace::new();
    let input = ws.write("in.csv", common::orders(&["r1", "r2", "r3", "r4"]));
    send_cmd(&ws, &sim, &[&input])
        .args(["--max-attempts", "2"])
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [
            ["r1", "delivered"],
            ["r2", "failed"],
            ["r3", "delivered"],
            ["r4", "rejected"]
        ]
    );
    // Finance: keep the rows that need attention, send them again.
    let fix = ws.path("fix.csv");
    assert_cmd::Command::new(common::binary())
        .args(["report"])
        .arg(ws.out())
        .args(["--failed-only", "--out"])
        .arg(&fix)
        .assert()
        .code(1);
    let before = sim.stats().requests;
    // Delivered or skipped only: exit 0.
    send_cmd(&ws, &sim, &[&fix]).assert().code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [["r2", "delivered"], ["r4", "skipped_rejected"]]
    );
    assert_eq!(sim.stats().requests - before, 1, "only r2 was sent");
    // --retry-rejected sends the rejected one too.
    send_cmd(&ws, &sim, &[&fix])
        .arg("--retry-rejected")
        .assert()
        .code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [["r2", "skipped_delivered"], ["r4", "rejected"]]
    );
}

#[test]
fn excel_mode_writes_a_bom_and_the_file_reads_back() {
    let ws = Workspace::new();
    dry_run(&ws, &[&fixture("encoding-utf8.csv")])
        .arg("--excel")
        .assert()
        .code(0);
    let bytes = std::fs::read(ws.out()).expect("results");
    assert!(bytes.starts_with(b"\xEF\xBB\xBFreq_id,"));
    let again = ws.write("again.csv", bytes);
    dry_run(&ws, &[&again]).assert().code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code"]),
        would_send(&["enc-1", "enc-2"])
    );
}

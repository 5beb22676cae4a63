//! Workbooks in and out: exports as `.xlsx` built in code (typed cells, Chinese
//! headers, an empty row), result workbooks read back with calamine, and the finance
//! loop results.xlsx → report --failed-only → failed.xlsx → send.

mod common;

use common::{Fault, Matcher, Scenario};

use std::path::Path;

use calamine::{Data, DataType as _, Reader as _, Xlsx, open_workbook};
use common::{Workspace, binary, columns, dry_run, read_csv, simulator};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

/// An export as finance would type it in Excel.
fn export(path: &Path) {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let header = [
        "天猫交易订单号",
        "子订单号",
        "商家处理结果是否成功标志",
        "结果码",
        "结果描述",
        "外部请求流水",
        "首充金额",
        "首充时间",
    ];
    for (col, name) in header.iter().enumerate() {
        sheet.write_string(0, col as u16, *name).expect("header");
    }
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let at = ExcelDateTime::parse_from_str("2024-01-01 00:00:00").expect("date");
    // Row 2: order number as text, a boolean, an amount and a date-time as numbers.
    sheet
        .write_string(1, 0, "4012345678901234567")
        .expect("cell");
    sheet.write_boolean(1, 2, true).expect("cell");
    sheet.write_string(1, 4, "订购成功").expect("cell");
    sheet.write_string(1, 5, "wb-1").expect("cell");
    sheet.write_number(1, 6, 49.9).expect("cell");
    sheet
        .write_datetime_with_format(1, 7, &at, &date)
        .expect("cell");
    // Row 3: a 15-digit order number stored as a number: exact.
    sheet
        .write_number(2, 0, 123_456_789_012_345.0)
        .expect("cell");
    sheet.write_string(2, 2, "是").expect("cell");
    sheet.write_string(2, 5, "wb-2").expect("cell");
    // Row 4: a 19-digit order number stored as a number: digits lost.
    sheet
        .write_number(3, 0, 4_012_345_678_901_234_567.0)
        .expect("cell");
    sheet.write_boolean(3, 2, true).expect("cell");
    sheet.write_string(3, 5, "wb-3").expect("cell");
    // Row 5 is empty. Row 6: false as a boolean, a whole amount.
    sheet
        .write_string(5, 0, "4012345678901234600")
        .expect("cell");
    sheet.write_boolean(5, 2, false).expect("cell");
    sheet.write_string(5, 3, "E01").expect("cell");
    sheet.write_string(5, 5, "wb-6").expect("cell");
    sheet.write_number(5, 6, 100.0).expect("cell");
    // Row 7: an amount with more than cents.
    sheet
        .write_string(6, 0, "4012345678901234700")
        .expect("cell");
    sheet.write_boolean(6, 2, true).expect("cell");
    sheet.write_string(6, 5, "wb-7").expect("cell");
    sheet.write_number(6, 6, 12.345).expect("cell");
    // Row 8: a sub-order number that is not whole.
    sheet
        .write_string(7, 0, "4012345678901234800")
        .expect("cell");
    sheet.write_number(7, 1, 1.5).expect("cell");
    sheet.write_boolean(7, 2, true).expect("cell");
    sheet.write_string(7, 5, "wb-8").expect("cell");
    // Row 9: a description that was UTF-8 opened as Windows-1252 and saved (充值成功).
    sheet
        .write_string(8, 0, "4012345678901234900")
        .expect("cell");
    sheet.write_boolean(8, 2, true).expect("cell");
    sheet.write_string(8, 4, "å……å€¼æˆåŠŸ").expect("cell");
    sheet.write_string(8, 5, "wb-9").expect("cell");
    workbook.save(path).expect("save");
}

#[test]
fn typed_cells_are_read_for_what_they_hold() {
    let ws = Workspace::new();
    let input = ws.path("export.xlsx");
    export(&input);
    dry_run(&ws, &[&input]).assert().code(1);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status", "error_code", "line"]),
        [
            ["wb-1", "would_send", "", "2"],
            ["wb-2", "would_send", "", "3"],
            ["wb-3", "invalid", "input.inexact_number", "4"],
            ["wb-6", "would_send", "", "6"],
            ["wb-7", "invalid", "input.bad_amount", "7"],
            ["wb-8", "invalid", "input.inexact_number", "8"],
            ["wb-9", "invalid", "input.bad_encoding", "9"],
        ]
    );
    let rows = read_csv(&ws.out());
    assert!(
        rows[6]["error_msg"].contains("(cell E9)") && rows[6]["error_msg"].contains("充值"),
        "{}",
        rows[6]["error_msg"]
    );
    assert_eq!(rows[0]["order_no"], "4012345678901234567");
    assert_eq!(rows[0]["success"], "true");
    assert_eq!(
        rows[0]["ext"],
        r#"{"firstChargeAmount":"49.9","firstChargeTime":"1704038400000"}"#
    );
    assert_eq!(rows[1]["order_no"], "123456789012345");
    assert_eq!(rows[2]["order_no"], "4.01234567890123E+18");
    assert!(
        rows[2]["error_msg"].contains("Format the column as Text"),
        "{}",
        rows[2]["error_msg"]
    );
    assert_eq!(
        (rows[3]["success"].as_str(), rows[3]["ext"].as_str()),
        ("false", r#"{"firstChargeAmount":"100"}"#)
    );
}

#[test]
fn a_named_sheet_is_read_and_a_missing_one_is_named() {
    let ws = Workspace::new();
    let input = ws.path("two.xlsx");
    let mut workbook = Workbook::new();
    workbook
        .add_worksheet()
        .set_name("notes")
        .expect("name")
        .write_string(0, 0, "nothing here")
        .expect("cell");
    let sheet = workbook.add_worksheet().set_name("订单").expect("name");
    for (col, name) in ["order_no", "success", "req_id"].iter().enumerate() {
        sheet.write_string(0, col as u16, *name).expect("header");
    }
    sheet.write_string(1, 0, "7").expect("cell");
    sheet.write_string(1, 1, "true").expect("cell");
    sheet.write_string(1, 2, "n-1").expect("cell");
    workbook.save(&input).expect("save");
    dry_run(&ws, &[&input])
        .args(["--sheet", "订单"])
        .assert()
        .code(0);
    assert_eq!(
        columns(&ws.out(), ["req_id", "status"]),
        [["n-1", "would_send"]]
    );
    let stderr = common::exits_with(dry_run(&ws, &[&input]).args(["--sheet", "missing"]), 2);
    assert!(
        stderr.contains("no sheet named 'missing'; its sheets: notes, 订单"),
        "{stderr}"
    );
}

/// The cells of a sheet, by row.
fn sheet(path: &Path, name: &str) -> Vec<Vec<Data>> {
    let mut workbook: Xlsx<_> = open_workbook(path).expect("a workbook");
    let range = workbook.worksheet_range(name).expect("the sheet");
    range.rows().map(<[Data]>::to_vec).collect()
}

#[test]
fn a_result_workbook_holds_text_numbers_and_a_summary_equal_to_the_run() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("wb-6"),
        Fault::reject("B0107", "订单状态不允许回调"),
    ));
    let ws = Workspace::new();
    let input = ws.path("export.xlsx");
    export(&input);
    let out = ws.path("results.xlsx");
    let summary = ws.path("summary.json");
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &out)
        .arg("--summary-json")
        .arg(&summary)
        .assert()
        .code(1);
    let results = sheet(&out, "results 结果");
    let header: Vec<String> = results[0].iter().map(ToString::to_string).collect();
    let expected: Vec<String> = opentrade_callback::columns::WORKBOOK_COLUMNS
        .iter()
        .map(|(chinese, name)| format!("{chinese}\n{name}"))
        .collect();
    assert_eq!(header, expected);
    for row in &results[1..] {
        assert!(matches!(row[0], Data::String(_)), "req_id as text: {row:?}");
        assert!(
            matches!(row[1], Data::String(_)),
            "order_no as text: {row:?}"
        );
    }
    assert_eq!(results[1][1], Data::String("4012345678901234567".into()));

    let counts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).expect("json")).expect("parses");
    let summed = sheet(&out, "summary 汇总");
    let mut listed = 0;
    for row in &summed[1..] {
        let status = row[0].to_string();
        if status.starts_with("total") {
            break;
        }
        let rows = row[2].as_f64().expect("a count");
        assert_eq!(
            Some(rows as u64),
            counts["counts"][&status].as_u64(),
            "{status}"
        );
        listed += rows as u64;
    }
    assert_eq!(Some(listed), counts["rows"].as_u64());
    assert!(
        summed
            .iter()
            .any(|row| row[0] == Data::String("B0107".into())),
        "the errors are listed"
    );
}

#[test]
fn the_finance_loop_sends_exactly_the_failed_rows_again_with_the_same_payloads() {
    let sim = simulator(
        Scenario::default()
            .on(
                Matcher::req_id("wb-1"),
                Fault::reject("B0107", "订单状态不允许回调"),
            )
            .on(Matcher::req_id("wb-2"), Fault::transient(1)),
    );
    let ws = Workspace::new();
    let input = ws.path("export.xlsx");
    export(&input);
    let results = ws.path("results.xlsx");
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &results)
        .args(["--max-attempts", "1"])
        .assert()
        .code(1);
    let failed = ws.path("failed.xlsx");
    let report = std::process::Command::new(binary())
        .arg("report")
        .arg(&results)
        .args(["--failed-only", "--out"])
        .arg(&failed)
        .output()
        .expect("report");
    assert_eq!(
        report.status.code(),
        Some(1),
        "rows need attention: {report:?}"
    );
    let first = sim.stats();
    let again = ws.path("again.csv");
    common::send_cmd_with(&sim, &[&failed], &ws.ledger(), &again)
        .arg("--retry-rejected")
        .assert()
        .code(1);
    assert_eq!(
        columns(&again, ["req_id", "status"]),
        [
            ["wb-1", "rejected"],
            ["wb-2", "delivered"],
            ["wb-3", "invalid"],
            ["wb-7", "invalid"],
            ["wb-8", "invalid"],
            ["wb-9", "invalid"],
        ]
    );
    let second = sim.stats();
    // Exactly the two valid rows were sent; the same payloads, so the gateway sees the
    // rejected one again as a duplicate and never a conflict.
    assert_eq!(second.requests - first.requests, 2);
    assert_eq!(second.duplicates - first.duplicates, 1);
    assert_eq!(second.conflicts, 0);
    let ledger = common::ledger_query(
        &ws.ledger(),
        "SELECT o.req_id, hex(x.payload_md5) FROM outcomes x JOIN orders o ON o.id = x.order_id ORDER BY x.id",
    );
    for req_id in ["wb-1", "wb-2"] {
        let digests: Vec<&str> = ledger
            .iter()
            .filter(|l| l[0] == req_id)
            .map(|l| l[1].as_str())
            .collect();
        assert!(
            digests.len() >= 2 && digests.windows(2).all(|w| w[0] == w[1]),
            "{req_id}: {digests:?}"
        );
    }
}

#[test]
fn a_result_workbook_is_laid_out_for_finance_and_reads_back_with_the_same_payloads() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("fx-2"),
        Fault::reject("B0107", "订单状态不允许回调"),
    ));
    let ws = Workspace::new();
    let mut text = common::orders(&["fx-1", "fx-2"]);
    // A first charge with a time, one with another key, a repeated row, an invalid row.
    text.push_str("4000000000000000003,,true,0000,ok,fx-3,\"{\"\"firstChargeAmount\"\":\"\"49.90\"\",\"\"firstChargeTime\"\":\"\"1795392163000\"\"}\"\n");
    text.push_str("4000000000000000004,,false,E01,no,fx-4,\"{\"\"channel\"\":\"\"app\"\",\"\"firstChargeAmount\"\":\"\"5\"\"}\"\n");
    text.push_str(&common::line(1, "fx-1"));
    text.push_str("\n4000000000000000006,,maybe,0000,ok,fx-6,\n");
    let input = ws.write("export.csv", text);
    let out = ws.path("results.xlsx");
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &out)
        .assert()
        .code(1);
    // What Excel will show, read by a library finance tools use (openpyxl).
    let layout = common::python_with(
        "openpyxl",
        "openpyxl==3.1.5",
        r#"
import json, sys, openpyxl
book = openpyxl.load_workbook(sys.argv[1])
sheet = book.worksheets[0]
rows = [[c.value for c in row] for row in sheet.iter_rows()]
formats = {c.column_letter: c.number_format for c in sheet[4]}
lists = [(str(v.sqref), v.formula1) for v in sheet.data_validations.dataValidation]
summary = [[c.value for c in row] for row in book.worksheets[1].iter_rows()]
fills = [[c.fill.fgColor.rgb if c.fill.fill_type == "solid" else None for c in row[:20]]
         for row in sheet.iter_rows()]
print(json.dumps({"rows": rows, "formats": formats, "freeze": sheet.freeze_panes,
                  "lists": lists, "summary": summary, "fills": fills}, ensure_ascii=False))
"#,
        &[out.as_os_str()],
    );
    let layout: serde_json::Value = serde_json::from_str(&layout).expect("json");
    assert_eq!(
        layout["freeze"], "F2",
        "the order numbers, the status and the advice stay in view"
    );
    // fx-3's row: every input cell it has is Text, whatever Excel is given to type.
    for column in ["A", "B", "F", "G", "H", "I", "J"] {
        assert_eq!(
            layout["formats"][column], "@",
            "column {column} is Text: {layout}"
        );
    }
    let lists = layout["lists"].to_string();
    assert!(lists.contains("F2:F") && lists.contains("是,否"), "{lists}");
    let rows = layout["rows"].as_array().expect("rows");
    let row = |req_id: &str| {
        rows.iter()
            .find(|r| r[0] == req_id)
            .unwrap_or_else(|| panic!("{req_id} in {rows:?}"))
    };
    let fx3 = row("fx-3");
    assert_eq!(
        (fx3[5].as_str(), fx3[8].as_str(), fx3[9].as_str()),
        (Some("是"), Some("49.90"), Some("2026-11-23 08:02:43"))
    );
    assert_eq!(
        fx3[10],
        serde_json::Value::Null,
        "ext keeps only other keys (none)"
    );
    let fx4 = row("fx-4");
    assert_eq!(
        (fx4[5].as_str(), fx4[8].as_str(), fx4[10].as_str()),
        (Some("否"), Some("5"), Some(r#"{"channel":"app"}"#))
    );
    let fx2 = row("fx-2");
    assert_eq!(fx2[3], "被拒绝 rejected");
    assert_eq!(
        row("fx-1")[4],
        serde_json::Value::Null,
        "no advice for a delivered row"
    );
    // A row that needs attention is shaded whole; a delivered one not at all.
    let fills = layout["fills"].as_array().expect("fills");
    let fill_of = |req_id: &str| {
        let at = rows.iter().position(|r| r[0] == req_id).expect("row");
        fills[at].as_array().expect("cells").clone()
    };
    assert!(
        fill_of("fx-2")
            .iter()
            .all(|c| c.as_str() == Some("FFFCE4D6")),
        "{:?}",
        fill_of("fx-2")
    );
    assert!(
        !fill_of("fx-1")
            .iter()
            .any(|c| c.as_str() == Some("FFFCE4D6")),
        "{:?}",
        fill_of("fx-1")
    );
    assert!(
        fx2[4]
            .as_str()
            .is_some_and(|advice| advice.contains("平台")),
        "advice in plain words: {fx2:?}"
    );
    // The total counts each order once: the repeated fx-1 is not an order of its own.
    let summary = layout["summary"].as_array().expect("summary");
    let total = summary
        .iter()
        .find(|r| r[0].as_str().is_some_and(|s| s.starts_with("total")))
        .expect("a total");
    assert_eq!(total[2], 5, "6 rows, one of them a repeat: {summary:?}");

    // Untouched, the workbook is input again: every payload digest is the same, so
    // what was delivered is skipped, never a conflict.
    common::dry_run(&ws, &[&out]).assert().code(1);
    let statuses = columns(&ws.out(), ["req_id", "status"]);
    assert_eq!(
        statuses,
        [
            ["fx-1", "skipped_delivered"],
            ["fx-2", "skipped_rejected"],
            ["fx-3", "skipped_delivered"],
            ["fx-4", "skipped_delivered"],
            ["fx-1", "duplicate_in_input"],
            ["fx-6", "invalid"],
        ]
    );
}

#[test]
fn input_columns_the_api_does_not_use_are_carried_through_every_table() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("cx-2"),
        Fault::reject("B0107", "订单状态不允许回调"),
    ));
    let ws = Workspace::new();
    let mut text = String::from(
        "备注,order_no,sub_order_no,success,result_code,result_desc,req_id,ext,门店\n",
    );
    text.push_str("VIP 客户,4000000000000000001,,true,0000,ok,cx-1,,北京\n");
    text.push_str("=HYPERLINK(\"x\"),4000000000000000002,,true,0000,ok,cx-2,,上海\n");
    let input = ws.write("export.csv", text);
    let csv = ws.path("results.csv");
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &csv)
        .assert()
        .code(1);
    let rows = common::read_csv(&csv);
    assert_eq!(rows[0]["备注"], "VIP 客户");
    assert_eq!(rows[1]["门店"], "上海");
    assert_eq!(
        rows[1]["备注"], "'=HYPERLINK(\"x\")",
        "guarded like every cell"
    );
    let header = std::fs::read_to_string(&csv).expect("csv");
    assert!(
        header
            .lines()
            .next()
            .is_some_and(|h| h.ends_with(",line,备注,门店")),
        "after line: {header}"
    );
    // The rows needing attention, as a workbook, keep them; sent again, so do the results.
    let failed = ws.path("failed.xlsx");
    std::process::Command::new(binary())
        .arg("report")
        .arg(&csv)
        .args(["--failed-only", "--out"])
        .arg(&failed)
        .output()
        .expect("report");
    let sheet = sheet(&failed, "results 结果");
    let names: Vec<String> = sheet[0].iter().map(ToString::to_string).collect();
    assert_eq!(&names[names.len() - 2..], ["备注", "门店"]);
    assert_eq!(sheet[1][names.len() - 1], Data::String("上海".into()));
    let again = ws.path("again.csv");
    common::send_cmd_with(&sim, &[&failed], &ws.ledger(), &again)
        .arg("--retry-rejected")
        .assert()
        .code(1);
    let rows = common::read_csv(&again);
    assert_eq!(
        (rows[0]["req_id"].as_str(), rows[0]["门店"].as_str()),
        ("cx-2", "上海")
    );
    assert_eq!(rows[0]["备注"], "'=HYPERLINK(\"x\")");
}

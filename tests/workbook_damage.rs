//! Workbooks never trusted: each made here byte by byte (a zip of the parts Excel
//! writes), so every kind of damage can be had — error values old and new, date cells
//! in text columns, missing shared text, hidden first sheets, parts that inflate past
//! what they declare, files that are not what their name says. Each is a clear message
//! naming the file and the cell or the fix, never a silent wrong value.

mod common;

use common::Scenario;

use std::io::Write as _;

use common::{Workspace, columns, dry_run, exits_with};

/// One sheet: its name, whether it is hidden, and its `<sheetData>` rows.
struct Sheet<'a> {
    name: &'a str,
    hidden: bool,
    rows: &'a str,
}

/// An .xlsx holding `sheets`, the shared strings `shared` and a style 1 that is a date.
fn workbook(sheets: &[Sheet<'_>], shared: &[&str]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut part = |name: &str, text: &str| {
        zip.start_file(name, options).expect("part");
        zip.write_all(text.as_bytes()).expect("write");
    };
    let mut listed = String::new();
    let mut rels = String::new();
    for (i, sheet) in sheets.iter().enumerate() {
        let state = if sheet.hidden {
            r#" state="hidden""#
        } else {
            ""
        };
        listed.push_str(&format!(
            r#"<sheet name="{}" sheetId="{}"{state} r:id="rId{}"/>"#,
            sheet.name,
            i + 1,
            i + 1
        ));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{}.xml"/>"#,
            i + 1,
            i + 1
        ));
    }
    let n = sheets.len();
    rels.push_str(&format!(
        r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>"#,
        n + 1,
        n + 2
    ));
    let mut types = String::new();
    for i in 0..n {
        types.push_str(&format!(
            r#"<Override PartName="/xl/worksheets/sheet{}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#,
            i + 1
        ));
    }
    part(
        "[Content_Types].xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{types}<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#
        ),
    );
    part(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    part(
        "xl/workbook.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>"#
        ),
    );
    part(
        "xl/_rels/workbook.xml.rels",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
        ),
    );
    part(
        "xl/styles.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#,
    );
    let items: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    part(
        "xl/sharedStrings.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">{items}</sst>"#,
            shared.len()
        ),
    );
    for (i, sheet) in sheets.iter().enumerate() {
        part(
            &format!("xl/worksheets/sheet{}.xml", i + 1),
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}</sheetData></worksheet>"#,
                sheet.rows
            ),
        );
    }
    zip.finish().expect("zip").into_inner()
}

/// `export.xlsx` in the workspace: one visible sheet `name` of `rows`.
fn one_sheet(ws: &Workspace, name: &str, rows: &str) -> std::path::PathBuf {
    let input = ws.path("export.xlsx");
    let sheet = Sheet {
        name,
        hidden: false,
        rows,
    };
    std::fs::write(&input, workbook(&[sheet], &[])).expect("write");
    input
}

/// An inline text cell.
fn text(place: &str, value: &str) -> String {
    format!(r#"<c r="{place}" t="inlineStr"><is><t>{value}</t></is></c>"#)
}

/// The header row: the canonical columns, and `备注` (a column the tool does not use).
fn header() -> String {
    let names = [
        "order_no",
        "sub_order_no",
        "success",
        "result_code",
        "result_desc",
        "req_id",
        "ext",
        "备注",
    ];
    let cells: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| text(&format!("{}1", (b'A' + i as u8) as char), n))
        .collect();
    format!(r#"<row r="1">{cells}</row>"#)
}

/// A valid data row `n` with `req_id`, and `extra` cells appended.
fn row(n: u32, req_id: &str, extra: &str) -> String {
    format!(
        r#"<row r="{n}">{}{}{}{extra}</row>"#,
        text(&format!("A{n}"), &format!("401234567890123456{n}")),
        text(&format!("C{n}"), "true"),
        text(&format!("F{n}"), req_id),
    )
}

fn statuses(ws: &Workspace) -> Vec<[String; 3]> {
    columns(&ws.out(), ["status", "error_code", "error_msg"])
}

#[test]
fn error_values_make_a_row_invalid_only_in_a_column_the_tool_uses() {
    let ws = Workspace::new();
    let rows = format!(
        "{}{}{}{}{}",
        header(),
        // #N/A in req_id (a code calamine knows), #SPILL! in order_no (one it does not).
        r#"<row r="2"><c r="A2" t="inlineStr"><is><t>4012345678901234562</t></is></c><c r="C2" t="inlineStr"><is><t>true</t></is></c><c r="F2" t="e"><f>VLOOKUP(1,X,2)</f><v>#N/A</v></c></row>"#,
        r#"<row r="3"><c r="A3" t="e"><f>SORT(X)</f><v>#SPILL!</v></c><c r="C3" t="inlineStr"><is><t>true</t></is></c><c r="F3" t="inlineStr"><is><t>r3</t></is></c></row>"#,
        // Newer error codes in the column the tool does not use: no matter.
        row(4, "r4", r#"<c r="H4" t="e"><v>#CALC!</v></c>"#),
        row(5, "r5", r#"<c r="H5" t="e"><v>#REF!</v></c>"#),
    );
    let input = one_sheet(&ws, "订单", &rows);
    dry_run(&ws, &[&input]).assert().code(1);
    let got = statuses(&ws);
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(
        got[0][..2],
        ["invalid".to_owned(), "input.excel_error".to_owned()]
    );
    assert!(
        got[0][2].contains("cell F2") && got[0][2].contains("#N/A"),
        "{}",
        got[0][2]
    );
    assert_eq!(
        got[1][..2],
        ["invalid".to_owned(), "input.excel_error".to_owned()]
    );
    assert!(
        got[1][2].contains("cell A3") && got[1][2].contains("#SPILL!"),
        "{}",
        got[1][2]
    );
    assert_eq!(got[2][0], "would_send");
    assert_eq!(got[3][0], "would_send");
    let req_ids = columns(&ws.out(), ["req_id"]);
    assert_ne!(req_ids[0][0], "##N/A", "never an error value as a req_id");
}

#[test]
fn a_date_cell_in_a_text_column_is_named_with_the_fix() {
    let ws = Workspace::new();
    let rows = format!(
        "{}{}{}",
        header(),
        r#"<row r="2"><c r="A2" t="inlineStr"><is><t>4012345678901234562</t></is></c><c r="C2" t="inlineStr"><is><t>true</t></is></c><c r="F2" s="1"><v>45292</v></c></row>"#,
        row(3, "r3", ""),
    );
    let input = one_sheet(&ws, "S", &rows);
    dry_run(&ws, &[&input]).assert().code(1);
    let got = statuses(&ws);
    assert_eq!(
        got[0][..2],
        ["invalid".to_owned(), "input.date_cell".to_owned()]
    );
    assert!(
        got[0][2].contains("cell F2") && got[0][2].contains("Format the column as Text"),
        "{}",
        got[0][2]
    );
    assert_eq!(got[1][0], "would_send");
}

#[test]
fn a_hidden_first_sheet_is_not_read_in_the_place_of_the_one_shown() {
    let ws = Workspace::new();
    let shown = format!("{}{}", header(), row(2, "shown", ""));
    let hidden = format!("{}{}", header(), row(2, "hidden", ""));
    let input = ws.path("export.xlsx");
    std::fs::write(
        &input,
        workbook(
            &[
                Sheet {
                    name: "lookup",
                    hidden: true,
                    rows: &hidden,
                },
                Sheet {
                    name: "orders",
                    hidden: false,
                    rows: &shown,
                },
            ],
            &[],
        ),
    )
    .expect("write");
    let stderr = exits_with(&mut dry_run(&ws, &[&input]), 2);
    assert!(
        stderr.contains("export.xlsx")
            && stderr.contains("'lookup' is hidden")
            && stderr.contains("--sheet")
            && stderr.contains("orders"),
        "{stderr}"
    );
    dry_run(&ws, &[&input])
        .args(["--sheet", "orders"])
        .assert()
        .code(0);
    assert_eq!(columns(&ws.out(), ["req_id"]), [["shown"]]);
}

#[test]
fn damaged_or_disguised_files_are_named_with_the_fix() {
    let ws = Workspace::new();
    let missing_string = format!(
        "{}{}",
        header(),
        r#"<row r="2"><c r="A2" t="inlineStr"><is><t>4012345678901234562</t></is></c><c r="C2" t="inlineStr"><is><t>true</t></is></c><c r="F2" t="s"><v>7</v></c></row>"#,
    );
    let mut encrypted = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    encrypted.resize(512, 0);
    encrypted.extend("EncryptionInfo".encode_utf16().flat_map(u16::to_le_bytes));
    encrypted.resize(4096, 0);
    let mut long_cell = format!("{}<row r=\"2\">", header());
    long_cell.push_str(&text("F2", &"x".repeat(1_100_000)));
    long_cell.push_str("</row>");
    let valid = workbook(
        &[Sheet {
            name: "S",
            hidden: false,
            rows: &format!("{}{}", header(), row(2, "r2", "")),
        }],
        &[],
    );
    for (name, bytes, expected) in [
        (
            "missing.xlsx",
            workbook(
                &[Sheet {
                    name: "S",
                    hidden: false,
                    rows: &missing_string,
                }],
                &["a"],
            ),
            "shared text the workbook does not have",
        ),
        ("locked.xlsx", encrypted, "password-protected"),
        (
            "text.xlsx",
            b"order_no,req_id\n1,a\n".to_vec(),
            "rename it to .csv",
        ),
        ("zip.csv", valid, "rename it to .xlsx"),
        (
            "long.xlsx",
            workbook(
                &[Sheet {
                    name: "S",
                    hidden: false,
                    rows: &long_cell,
                }],
                &[],
            ),
            "longer than any cell Excel can hold",
        ),
    ] {
        let input = ws.path(name);
        std::fs::write(&input, bytes).expect("write");
        let stderr = exits_with(&mut dry_run(&ws, &[&input]), 2);
        assert!(
            stderr.contains(name) && stderr.contains(expected),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_part_that_inflates_past_what_it_declares_is_refused() {
    let ws = Workspace::new();
    let mut bytes = workbook(
        &[Sheet {
            name: "S",
            hidden: false,
            rows: &header(),
        }],
        &[],
    );
    // Append a part of 80 MiB of tiny elements (deflates to a few hundred KiB), then make
    // the archive claim it is 2,000 bytes, in its local header and its central directory.
    let mut zip = zip::ZipWriter::new_append(std::io::Cursor::new(std::mem::take(&mut bytes)))
        .expect("append");
    zip.start_file(
        "xl/media/padding.xml",
        zip::write::SimpleFileOptions::default(),
    )
    .expect("part");
    let spaces = b"<p/>".repeat(1 << 18);
    for _ in 0..80 {
        zip.write_all(&spaces).expect("write");
    }
    let mut bytes = zip.finish().expect("zip").into_inner();
    let declared = (80u32 << 20).to_le_bytes();
    let mut patched = 0;
    let mut at = 0;
    while let Some(found) = memchr::memmem::find(&bytes[at..], &declared) {
        let place = at + found;
        bytes[place..place + 4].copy_from_slice(&2000u32.to_le_bytes());
        patched += 1;
        at = place + 4;
    }
    assert!(patched >= 1, "the sizes were patched");
    let input = ws.path("bomb.xlsx");
    std::fs::write(&input, bytes).expect("write");
    let stderr = exits_with(&mut dry_run(&ws, &[&input]), 2);
    assert!(stderr.contains("bomb.xlsx"), "{stderr}");
    assert!(stderr.contains("unpacks to more than"), "{stderr}");
}

#[test]
fn more_rows_than_a_sheet_holds_are_refused_before_the_first_call() {
    let sim = common::simulator(Scenario::default());
    let ws = Workspace::new();
    let rows = 1_048_576u64;
    let mut text = String::with_capacity(rows as usize * 24);
    text.push_str("order_no,success,req_id\n");
    for n in 0..rows {
        text.push_str(&format!("{},true,r{n}\n", 1_000_000 + n));
    }
    let input = ws.write("big.csv", text);
    let out = ws.path("results.xlsx");
    for dry in [true, false] {
        let mut cmd = common::send_cmd_with(&sim, &[&input], &ws.ledger(), &out);
        if dry {
            cmd.arg("--dry-run");
        }
        let stderr = exits_with(&mut cmd, 2);
        assert!(
            stderr.contains("1048576 rows") && stderr.contains("--out"),
            "{stderr}"
        );
    }
    assert!(!out.exists(), "no truncated workbook left");
    assert_eq!(sim.stats().requests, 0, "nothing sent");
}

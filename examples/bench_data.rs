//! Generates benchmark data: `orders N OUT` writes N orders (a workbook when OUT ends
//! in `.xlsx`, order numbers as text cells, as finance keeps them); `ledger N OVERLAP
//! OUT` writes an N-line ledger whose first OVERLAP lines record orders 0..OVERLAP as
//! delivered with their real payload digests (so a dry run skips them), the rest other
//! req_ids; `certs DIR` writes a root and a server certificate for 127.0.0.1 (the TLS
//! rows). Deterministic: order i is always the same.

#![allow(
    clippy::print_stderr,
    reason = "a benchmark helper run by bench/run.sh"
)]

use std::io::{BufWriter, Write};

#[path = "../tests/common/certs.rs"]
mod certs;

use opentrade_callback::order::Order;

fn order(i: u64) -> Order {
    Order {
        sub_order_no: i.is_multiple_of(4).then_some(4_100_000_000_000_000_000 + i),
        order_no: 4_000_000_000_000_000_000 + i,
        success: i % 10 != 7,
        result_code: Some(if i % 10 == 7 {
            "E1001".into()
        } else {
            "0000".into()
        }),
        result_desc: Some(if i % 10 == 7 {
            "号码已停机".into()
        } else {
            "充值成功".into()
        }),
        req_id: format!("B{i:010}"),
        ext: Some(format!(
            r#"{{"firstChargeAmount":"{}","firstChargeTime":"{}"}}"#,
            30 + i % 170,
            1_795_392_163_000 + i * 1000
        )),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).expect("a count") };
    match args.first().map(String::as_str) {
        Some("orders") if args[2].ends_with(".xlsx") => workbook(number(1), &args[2]),
        Some("orders") => {
            let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[2])?);
            writeln!(
                out,
                "order_no,sub_order_no,success,result_code,result_desc,req_id,ext"
            )?;
            for i in 0..number(1) {
                let o = order(i);
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    o.order_no,
                    o.sub_order_no.map(|n| n.to_string()).unwrap_or_default(),
                    o.success,
                    o.result_code.as_deref().unwrap_or(""),
                    o.result_desc.as_deref().unwrap_or(""),
                    o.req_id,
                    csv_field(o.ext.as_deref().unwrap_or(""))
                )?;
            }
            out.flush()
        }
        Some("ledger") => {
            let (lines, overlap) = (number(1), number(2));
            let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[3])?);
            writeln!(
                out,
                "{}",
                opentrade_callback::columns::LEDGER_HEADER.join(",")
            )?;
            for i in 0..lines {
                let (req_id, order_no, md5) = if i < overlap {
                    let o = order(i);
                    let md5 = o.payload().md5;
                    (o.req_id, o.order_no, md5)
                } else {
                    let md5 = opentrade_callback::top::payload_md5(&i.to_string());
                    (format!("L{i:010}"), 3_900_000_000_000_000_000 + i, md5)
                };
                writeln!(
                    out,
                    "{req_id},{order_no},,delivered,0000,,{},zt{i:011x},1,2026-11-24T01:30:00.000+08:00,20261124T013000-4242",
                    hex(&md5)
                )?;
            }
            out.flush()
        }
        Some("certs") if args.len() == 2 => {
            let dir = std::path::Path::new(&args[1]);
            std::fs::create_dir_all(dir)?;
            certs::issue(dir, &["127.0.0.1", "localhost"]);
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: bench_data orders N OUT | bench_data ledger N OVERLAP OUT | bench_data certs DIR"
            );
            std::process::exit(2);
        }
    }
}

/// The orders as a workbook: the canonical header, every cell text but `success`
/// (a boolean cell).
fn workbook(orders: u64, out: &str) -> std::io::Result<()> {
    let fail = |e: rust_xlsxwriter::XlsxError| std::io::Error::other(e.to_string());
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory().map_err(fail)?;
    let header = [
        "order_no",
        "sub_order_no",
        "success",
        "result_code",
        "result_desc",
        "req_id",
        "ext",
    ];
    for (col, name) in header.iter().enumerate() {
        sheet.write_string(0, col as u16, *name).map_err(fail)?;
    }
    for i in 0..orders {
        let o = order(i);
        let row = u32::try_from(i + 1).expect("rows fit a sheet");
        sheet
            .write_string(row, 0, o.order_no.to_string())
            .map_err(fail)?;
        if let Some(sub) = o.sub_order_no {
            sheet.write_string(row, 1, sub.to_string()).map_err(fail)?;
        }
        sheet.write_boolean(row, 2, o.success).map_err(fail)?;
        sheet
            .write_string(row, 3, o.result_code.unwrap_or_default())
            .map_err(fail)?;
        sheet
            .write_string(row, 4, o.result_desc.unwrap_or_default())
            .map_err(fail)?;
        sheet.write_string(row, 5, o.req_id).map_err(fail)?;
        sheet
            .write_string(row, 6, o.ext.unwrap_or_default())
            .map_err(fail)?;
    }
    book.save(out).map_err(fail)
}

fn hex(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The result workbook as finance's spreadsheet program shows it: LibreOffice Calc
//! (headless) prints it to PDF, and the first page — the columns a screen at 100 %
//! shows, the frozen ones first — must already say which order, what happened and what
//! to do. The pages are kept as PNG in `target/workbook-render/` to look at. LibreOffice
//! is installed by `scripts/install-office.sh` when missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fault, Matcher, Scenario, Workspace, simulator};

/// `soffice`, installed by the project's script if it is missing.
fn office() -> PathBuf {
    let soffice = PathBuf::from("/usr/bin/soffice");
    if !soffice.exists() || !Path::new("/usr/bin/pdftotext").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-office.sh");
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("run scripts/install-office.sh");
        assert!(
            status.success(),
            "scripts/install-office.sh failed: the rendering test cannot run"
        );
    }
    soffice
}

#[test]
fn the_first_page_a_spreadsheet_shows_holds_the_order_its_status_and_the_advice() {
    let soffice = office();
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("r-2"),
        Fault::reject("B0107", "订单状态不允许回调"),
    ));
    let ws = Workspace::new();
    let input = ws.write("export.csv", common::orders(&["r-1", "r-2", "r-3"]));
    let out = ws.path("results.xlsx");
    common::send_cmd_with(&sim, &[&input], &ws.ledger(), &out)
        .assert()
        .code(1);
    // A profile of its own (a first start writes one), in the workspace.
    let profile = format!(
        "-env:UserInstallation=file://{}",
        ws.path("lo-profile").display()
    );
    let converted = Command::new(&soffice)
        .args([
            profile.as_str(),
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(ws.dir.path())
        .arg(&out)
        .env("HOME", ws.dir.path())
        .output()
        .expect("soffice runs");
    let pdf = ws.path("results.pdf");
    assert!(pdf.exists(), "soffice made no PDF: {converted:?}");
    let first = Command::new("pdftotext")
        .args(["-layout", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    let page = String::from_utf8_lossy(&first.stdout);
    for seen in [
        "外部请求流水",
        "天猫交易订单号",
        "状态",
        "处理建议",
        "被拒绝 rejected",
        "已送达 delivered",
    ] {
        assert!(page.contains(seen), "page 1 shows {seen:?}:\n{page}");
    }
    // The platform's own words come later, on pages of their own.
    assert!(!page.contains("TOP请求号"), "page 1:\n{page}");
    // Kept to look at, as a person would.
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/workbook-render");
    std::fs::create_dir_all(&shots).expect("dir");
    let rendered = Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg(shots.join("results"))
        .status()
        .expect("pdftoppm runs");
    assert!(rendered.success());
}

//! The README's commands, run as written (with the binary for `cargo run --release --`)
//! in a copy of the samples: a newcomer's first steps must work, change no file of the
//! project, and write only where git ignores.

mod common;

use calamine::Reader;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `cargo run --release -- …` lines of the README's `sh` blocks, in order.
fn readme_commands() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            text if in_sh => {
                if let Some(args) = text.strip_prefix("cargo run --release -- ") {
                    commands.push(args.split_whitespace().map(str::to_owned).collect());
                }
            }
            _ => {}
        }
    }
    commands
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.insert(path.strip_prefix(dir).expect("inside").to_owned(), bytes);
            }
        }
    }
    files
}

fn run(dir: &Path, args: &[String]) -> Output {
    Command::new(common::binary())
        .args(args)
        .current_dir(dir)
        .env_remove("TOP_GATEWAY")
        .env_remove("RUST_LOG")
        .output()
        .expect("runs")
}

#[test]
fn the_quick_start_and_the_resubmission_work_as_written_and_write_only_under_demo() {
    let commands = readme_commands();
    assert_eq!(
        commands.len(),
        4,
        "demo, report, failed-only, resubmit: {commands:?}"
    );
    let gitignore = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore"))
        .expect(".gitignore");
    assert!(gitignore.lines().any(|l| l == "/demo"), "demo/ is ignored");

    let dir = tempfile::tempdir().expect("dir");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    std::fs::create_dir(dir.path().join("samples")).expect("mkdir");
    for entry in std::fs::read_dir(&samples).expect("samples") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            dir.path().join("samples").join(entry.file_name()),
        )
        .expect("copy");
    }
    let before = snapshot(dir.path());

    // report and --failed-only exit 1 too: the demo's results have rows that need attention.
    for (args, expected) in commands.iter().zip([1, 1, 1, 1]) {
        let output = run(dir.path(), args);
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{args:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rows = common::read_csv(&dir.path().join("demo/results.csv"));
    let count = |status: &str| rows.iter().filter(|r| r["status"] == status).count();
    assert_eq!(
        (
            count("delivered"),
            count("rejected"),
            count("invalid"),
            count("skipped_delivered")
        ),
        (27, 1, 3, 8)
    );
    // The resubmission goes through workbooks: to-fix.xlsx in, results-2.xlsx out.
    let mut resent: calamine::Xlsx<_> =
        calamine::open_workbook(dir.path().join("demo/results-2.xlsx")).expect("a workbook");
    let sheet = resent
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    let mut rows = sheet.rows();
    let header = rows.next().expect("a header");
    let status = header
        .iter()
        .position(|cell| {
            opentrade_callback::columns::canonical_header(&cell.to_string()) == "status"
        })
        .expect("a status column");
    let statuses: Vec<String> = rows.map(|row| row[status].to_string()).collect();
    assert_eq!(
        statuses,
        [
            "已送达 delivered",
            "无效 invalid",
            "无效 invalid",
            "无效 invalid"
        ]
    );

    // The demo again, as the README says: nothing is sent, every valid row is skipped.
    let again = run(dir.path(), &commands[0]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("simulator: 0 requests"), "{stderr}");
    let rows = common::read_csv(&dir.path().join("demo/results.csv"));
    assert!(
        rows.iter().all(|r| r["status"].starts_with("skipped_")
            || r["status"] == "invalid"
            || r["status"] == "duplicate_in_input"),
        "{rows:?}"
    );

    let after = snapshot(dir.path());
    for (path, bytes) in &before {
        assert_eq!(after.get(path), Some(bytes), "{} changed", path.display());
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        assert!(
            path.starts_with("demo"),
            "{} written outside demo/",
            path.display()
        );
    }
}

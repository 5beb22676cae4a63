//! The README's commands, run as written (with the binary for `cargo run --release --`)
//! in a copy of the samples: a newcomer's first steps must work.

mod common;

use std::process::Command;

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

#[test]
fn the_quick_start_and_the_resubmission_work_as_written() {
    let commands = readme_commands();
    assert_eq!(
        commands.len(),
        4,
        "demo, report, failed-only, resubmit: {commands:?}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    std::fs::create_dir(dir.path().join("samples")).expect("mkdir");
    for entry in std::fs::read_dir(&samples).expect("samples") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            dir.path().join("samples").join(entry.file_name()),
        )
        .expect("copy");
    }
    let expected_exit = [1, 0, 0, 1];
    for (args, expected) in commands.iter().zip(expected_exit) {
        let output = Command::new(common::binary())
            .args(args)
            .current_dir(dir.path())
            .env_remove("TOP_GATEWAY")
            .output()
            .expect("runs");
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{args:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rows = common::read_csv(&dir.path().join("results.csv"));
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
    let resent = common::read_csv(&dir.path().join("results-2.csv"));
    let statuses: Vec<&str> = resent.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses, ["delivered", "invalid", "invalid", "invalid"]);
}

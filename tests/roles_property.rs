//! Property: whichever two roles of `send` are given one file — the same path, `./x`,
//! an absolute path, a symlink or a hard link — the command exits 2, names both
//! roles, and no file in its directory changes or appears.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

const ROLES: [&str; 6] = [
    "INPUT",
    "--ledger",
    "--out",
    "--summary-json",
    "--config",
    "--scenario",
];

/// How the second role reaches the first role's file.
#[derive(Debug, Clone, Copy)]
enum Alias {
    Same,
    DotSlash,
    Absolute,
    Symlink,
    HardLink,
}

fn alias() -> impl Strategy<Value = Alias> {
    prop_oneof![
        Just(Alias::Same),
        Just(Alias::DotSlash),
        Just(Alias::Absolute),
        Just(Alias::Symlink),
        Just(Alias::HardLink),
    ]
}

/// What a file of each role holds when it exists.
fn content(role: &str) -> Vec<u8> {
    match role {
        "INPUT" => common::orders(&["a", "b"]).into_bytes(),
        "--ledger" => empty_ledger().to_vec(),
        "--config" => b"concurrency = 2\n".to_vec(),
        "--scenario" => b"{}".to_vec(),
        _ => b"previous contents\n".to_vec(),
    }
}

/// The bytes of a new ledger database, made once.
fn empty_ledger() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        use opentrade_callback::ledger::{Access, Ledger};
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        drop(Ledger::open(&path, Access::Write).expect("a new ledger"));
        std::fs::read(&path).expect("read")
    })
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            let bytes = if is_file {
                std::fs::read(&path).expect("read")
            } else {
                Vec::new()
            };
            (path, bytes)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn one_file_in_two_roles_is_refused_and_nothing_changes(
        first in 0..ROLES.len(),
        offset in 1..ROLES.len(),
        alias in alias(),
        others_exist in any::<bool>(),
    ) {
        let second = (first + offset) % ROLES.len();
        let dir = tempfile::tempdir().expect("dir");
        let shared = dir.path().join("shared.file");
        std::fs::write(&shared, content(ROLES[first])).expect("write");
        let second_path = match alias {
            Alias::Same => PathBuf::from("shared.file"),
            Alias::DotSlash => PathBuf::from("./shared.file"),
            Alias::Absolute => shared.clone(),
            Alias::Symlink => {
                std::os::unix::fs::symlink("shared.file", dir.path().join("link.file"))
                    .expect("symlink");
                PathBuf::from("link.file")
            }
            Alias::HardLink => {
                std::fs::hard_link(&shared, dir.path().join("hard.file")).expect("hard link");
                PathBuf::from("hard.file")
            }
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for (i, role) in ROLES.iter().enumerate() {
            let path = if i == first {
                PathBuf::from("shared.file")
            } else if i == second {
                second_path.clone()
            } else {
                let own = PathBuf::from(format!("own-{i}.file"));
                let needed = matches!(*role, "INPUT" | "--config" | "--scenario");
                if needed || others_exist {
                    std::fs::write(dir.path().join(&own), content(role)).expect("write");
                }
                own
            };
            paths.push(path);
        }
        let before = snapshot(dir.path());
        let mut cmd = std::process::Command::new(common::binary());
        cmd.current_dir(dir.path()).arg("send").arg(&paths[0]);
        for (role, path) in ROLES.iter().zip(&paths).skip(1) {
            cmd.arg(role).arg(path);
        }
        let output = cmd
            .args(["--simulate", "--progress", "off"])
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        prop_assert_eq!(output.status.code(), Some(2), "{}", stderr);
        prop_assert!(stderr.contains("are the same file"), "{}", stderr);
        prop_assert!(
            stderr.contains(&format!("{} (", ROLES[first]))
                && stderr.contains(&format!("{} (", ROLES[second])),
            "{}", stderr
        );
        prop_assert_eq!(snapshot(dir.path()), before);
    }
}

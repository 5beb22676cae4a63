//! `completions` and `man`: generated from the same definitions as `--help`, so every
//! subcommand and flag appears in them; `man --dir` writes only its pages.

mod common;

use assert_cmd::Command;

fn run(args: &[&str]) -> String {
    let output = Command::new(common::binary())
        .args(args)
        .assert()
        .success()
        .get_output()
        .clone();
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn completion_scripts_know_every_subcommand_and_flag() {
    let bash = run(&["completions", "bash"]);
    assert!(bash.contains("-o default opentrade-callback"), "{bash}");
    for word in [
        "send",
        "report",
        "simulate",
        "ledger",
        "import",
        "export",
        "--resend-failed-days",
        "--ca-cert",
        "--batch",
        "--sheet",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let zsh = run(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef opentrade-callback"), "{zsh}");
    assert!(
        zsh.contains("--tls-cert"),
        "zsh completion lacks --tls-cert"
    );
    for shell in ["fish", "elvish", "powershell"] {
        assert!(run(&["completions", shell]).contains("ca-cert"), "{shell}");
    }
    let err = Command::new(common::binary())
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err).contains("possible values"));
}

#[test]
fn the_man_page_is_the_help_in_roff() {
    let page = run(&["man"]);
    assert!(page.contains(".TH opentrade-callback 1"), "{page}");
    assert!(
        page.contains("Exit codes"),
        "the after-help text is in the page"
    );
    for section in [".SH ENVIRONMENT", ".SH EXIT STATUS", ".SH FILES"] {
        assert!(page.contains(section), "{section}");
    }
    assert!(page.contains("OPENTRADE_CONFIG") && page.contains("129, 130, 143"));
}

#[test]
fn man_dir_writes_one_page_per_command_and_nothing_else() {
    let ws = common::Workspace::new();
    let mine = ws.write("notes.txt", "keep me");
    let listed = run(&["man", "--dir", ws.dir.path().to_str().expect("utf-8")]);
    let mut names: Vec<String> = std::fs::read_dir(ws.dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "notes.txt",
            "opentrade-callback-audit-verify.1",
            "opentrade-callback-audit.1",
            "opentrade-callback-check.1",
            "opentrade-callback-completions.1",
            "opentrade-callback-demo.1",
            "opentrade-callback-ledger-close.1",
            "opentrade-callback-ledger-export.1",
            "opentrade-callback-ledger-import.1",
            "opentrade-callback-ledger-show.1",
            "opentrade-callback-ledger.1",
            "opentrade-callback-man.1",
            "opentrade-callback-reconcile.1",
            "opentrade-callback-report.1",
            "opentrade-callback-send.1",
            "opentrade-callback-serve.1",
            "opentrade-callback-simulate.1",
            "opentrade-callback-users-add.1",
            "opentrade-callback-users.1",
            "opentrade-callback.1",
        ]
    );
    assert_eq!(listed.lines().count(), 19, "{listed}");
    assert_eq!(std::fs::read_to_string(&mine).expect("read"), "keep me");
    let send = std::fs::read_to_string(ws.path("opentrade-callback-send.1")).expect("page");
    assert!(send.contains(".TH opentrade-callback-send 1"), "{send}");
    assert!(send.contains("\\-\\-ca\\-cert"), "flags are in the page");
}

/// The README and `docs/` link to each other, to SPEC.md and to files of the project:
/// every such link leads to a file that is there, and every `#anchor` to a heading.
#[test]
fn the_readme_and_the_docs_link_only_to_what_is_there() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let slug = |heading: &str| -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    };
    let anchors = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                l.trim_start_matches('#')
                    .strip_prefix(' ')
                    .filter(|_| l.starts_with('#'))
            })
            .map(slug)
            .collect()
    };
    let pages = [
        "README.md",
        "docs/reference.md",
        "docs/operations.md",
        "docs/finance.md",
    ];
    let mut checked = 0;
    for page in pages {
        let path = root.join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let link = &rest[..rest.find(')').unwrap_or(0)];
            if link.starts_with("http") || link.contains(' ') {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() {
                path.clone()
            } else {
                path.parent().expect("dir").join(file)
            };
            assert!(target.exists(), "{page}: {link} leads nowhere");
            if !anchor.is_empty() {
                assert!(
                    anchors(&target).iter().any(|a| a == anchor),
                    "{page}: {link}: no such heading"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} links");
}

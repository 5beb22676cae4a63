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
            "opentrade-callback-check.1",
            "opentrade-callback-completions.1",
            "opentrade-callback-demo.1",
            "opentrade-callback-ledger-close.1",
            "opentrade-callback-ledger-export.1",
            "opentrade-callback-ledger-import.1",
            "opentrade-callback-ledger-show.1",
            "opentrade-callback-ledger.1",
            "opentrade-callback-man.1",
            "opentrade-callback-report.1",
            "opentrade-callback-send.1",
            "opentrade-callback-serve.1",
            "opentrade-callback-simulate.1",
            "opentrade-callback-users-add.1",
            "opentrade-callback-users.1",
            "opentrade-callback.1",
        ]
    );
    assert_eq!(listed.lines().count(), 16, "{listed}");
    assert_eq!(std::fs::read_to_string(&mine).expect("read"), "keep me");
    let send = std::fs::read_to_string(ws.path("opentrade-callback-send.1")).expect("page");
    assert!(send.contains(".TH opentrade-callback-send 1"), "{send}");
    assert!(send.contains("\\-\\-ca\\-cert"), "flags are in the page");
}

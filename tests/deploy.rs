//! The deployment files in `deploy/`, checked as their tools read them: the systemd
//! units by `systemd-analyze verify`, the Kubernetes CronJob parsed as YAML and held to
//! what the nightly job needs (one run at a time, Beijing time, no retry of exit 2/3).

mod common;

use std::path::Path;
use std::process::Command;

fn deploy(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_systemd_units_verify_and_are_hardened() {
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(deploy("systemd/opentrade-callback.service"))
        .arg(deploy("systemd/opentrade-callback.timer"))
        .arg(deploy("systemd/opentrade-desk.service"))
        .arg(deploy("systemd/opentrade-reconcile.service"))
        .arg(deploy("systemd/opentrade-reconcile.timer"))
        .output()
        .expect("systemd-analyze runs (Debian's systemd package)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "no warnings: {stderr}");
    let service = read("systemd/opentrade-callback.service");
    for line in [
        "Type=oneshot",
        "User=opentrade",
        "LoadCredential=top.env:",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        // The data directories made for the user: nothing to create by hand.
        "StateDirectory=opentrade opentrade/results opentrade/export",
        // The textfile directory is node_exporter's: writable when it is there.
        "ReadWritePaths=-/var/lib/node_exporter/textfile",
        "TimeoutStartSec=6h",
        // Alerts from an optional file; exit 1 a success with a note; retryable
        // halts (and only those) run again, a few times at most.
        "EnvironmentFile=-/etc/opentrade/alerts.env",
        "SuccessExitStatus=1",
        "Restart=on-failure",
        "RestartPreventExitStatus=2 3 4",
        "StartLimitBurst=",
    ] {
        assert!(service.lines().any(|l| l.starts_with(line)), "{line}");
    }
    let exec = service
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    for part in [
        "--ledger /var/lib/opentrade/ledger.db",
        "--out \"/var/lib/opentrade/results/{date}-{run}.xlsx\"",
        "--retryable-exit-code 75",
        "TZ=Asia/Shanghai date",
    ] {
        assert!(exec.contains(part), "{part}: {exec}");
    }
    assert!(
        !service.contains("TOP_APP_SECRET="),
        "no secret in the unit"
    );
    let desk = read("systemd/opentrade-desk.service");
    for line in [
        "User=opentrade",
        "LoadCredential=top.env:",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=opentrade opentrade/results",
    ] {
        assert!(desk.lines().any(|l| l.starts_with(line)), "desk: {line}");
    }
    let exec = desk
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    assert!(
        exec.contains(" serve ") && exec.contains("--listen 127.0.0.1:"),
        "the desk on loopback: {exec}"
    );
    assert!(
        exec.contains("--ledger /var/lib/opentrade/ledger.db"),
        "{exec}"
    );
    let timer = read("systemd/opentrade-callback.timer");
    for line in [
        "OnCalendar=*-*-* 00:30:00 Asia/Shanghai",
        "Persistent=true",
        "RandomizedDelaySec=",
    ] {
        assert!(timer.lines().any(|l| l.starts_with(line)), "{line}");
    }
}

/// The documents of a manifest as JSON, read by PyYAML (installed under target/ when
/// missing).
fn manifests(path: &str) -> Vec<serde_json::Value> {
    let path = deploy(path);
    let json = common::python_with(
        "yaml",
        "PyYAML==6.0.3",
        "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        &[path.as_os_str()],
    );
    serde_json::from_str(&json).expect("JSON")
}

fn cronjob() -> serde_json::Value {
    manifests("kubernetes/cronjob.yaml").remove(0)
}

/// A container's arguments, each flag checked to be one `SUBCOMMAND --help` knows (or
/// a global one).
fn known_args<'a>(container: &'a serde_json::Value, subcommand: &str) -> Vec<&'a str> {
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let help = Command::new(assert_cmd::cargo::cargo_bin!("opentrade-callback"))
        .args([subcommand, "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let known = help.contains(flag) || ["--log-format"].contains(flag);
        assert!(known, "{flag} is a flag of {subcommand}");
    }
    args
}

#[test]
fn the_cronjob_runs_once_a_night_in_beijing_time_and_never_retries_a_refusal() {
    let job = cronjob();
    assert_eq!(job["kind"], "CronJob");
    let spec = &job["spec"];
    assert_eq!(spec["timeZone"], "Asia/Shanghai");
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    assert_eq!(spec["schedule"], "30 0 * * *");
    let job_spec = &spec["jobTemplate"]["spec"];
    let rules = job_spec["podFailurePolicy"]["rules"]
        .as_array()
        .expect("a pod failure policy");
    let fail = rules
        .iter()
        .find(|r| r["action"] == "FailJob")
        .expect("a FailJob rule");
    let codes: Vec<u64> = fail["onExitCodes"]["values"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    for code in [1, 2, 3, 4] {
        assert!(
            codes.contains(&code),
            "exit {code} is never retried: {codes:?}"
        );
    }
    assert!(!codes.contains(&75), "a retryable halt is retried");
    let pod = &job_spec["template"]["spec"];
    assert_eq!(
        pod["restartPolicy"], "Never",
        "a pod failure policy needs it"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["name"], fail["onExitCodes"]["containerName"]);
    let env = container["env"].as_array().expect("env");
    for name in ["TOP_APP_KEY", "TOP_APP_SECRET", "TOP_SESSION"] {
        let var = env.iter().find(|v| v["name"] == name).expect(name);
        assert!(
            var["valueFrom"]["secretKeyRef"].is_object(),
            "{name} from a Secret"
        );
        assert!(var.get("value").is_none(), "{name} never inline");
    }
    assert!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"].is_string());
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    // The arguments are ones the tool takes.
    let args = known_args(container, "send");
    let after = |flag: &str| args.iter().skip_while(|a| **a != flag).nth(1).copied();
    assert!(
        after("--ledger").is_some_and(|l| l.ends_with(".db")),
        "a SQLite ledger"
    );
    assert_eq!(after("--retryable-exit-code"), Some("75"));
    assert!(
        after("--out").is_some_and(|o| o.contains("{date}-{run}")),
        "each run its own file"
    );
    let image = container["image"].as_str().expect("image");
    assert!(
        !image.ends_with(":latest") && image.contains(':'),
        "a versioned image: {image}"
    );
    assert_eq!(
        container["envFrom"][0]["secretRef"]["optional"], true,
        "alerts from an optional Secret"
    );
}

#[test]
fn the_desk_and_the_ledger_s_volume_are_shipped_for_kubernetes_too() {
    let claim = manifests("kubernetes/ledger-pvc.yaml").remove(0);
    assert_eq!(claim["kind"], "PersistentVolumeClaim");
    let name = claim["metadata"]["name"].as_str().expect("name").to_owned();
    let job = cronjob();
    assert_eq!(
        job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]
            ["claimName"],
        name.as_str()
    );
    let desk = manifests("kubernetes/desk.yaml");
    let deployment = desk
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let service = desk
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("a Service");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        deployment["spec"]["replicas"], 1,
        "one writer of the ledger"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["persistentVolumeClaim"]["claimName"] == name.as_str())
    );
    let users = volumes
        .iter()
        .find(|v| v["secret"].is_object())
        .expect("the users file");
    assert_eq!(
        users["secret"]["defaultMode"], 0o440,
        "not readable by everyone"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let args = known_args(container, "serve");
    for flag in ["--public-url", "--users"] {
        assert!(
            args.contains(&flag),
            "a desk reachable from the cluster needs {flag}"
        );
    }
}

#[test]
fn the_docker_build_context_leaves_the_build_output_out() {
    let ignore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore"))
            .expect(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(lines.contains(&"target/"), "{ignore}");
    assert!(
        !lines
            .iter()
            .any(|l| *l == "Cargo.lock" || *l == "**/*.lock"),
        "the build needs Cargo.lock"
    );
    let dockerfile = read("docker/Dockerfile");
    assert!(dockerfile.contains("--locked"));
    assert!(
        !dockerfile.contains("ledger.csv"),
        "the ledger is a database"
    );
}

#[test]
fn reconcile_runs_each_morning_after_the_night_and_its_due_orders_alert() {
    let service = read("systemd/opentrade-reconcile.service");
    for line in [
        "Type=oneshot",
        "User=opentrade",
        "LoadCredential=top.env:",
        "EnvironmentFile=-/etc/opentrade/alerts.env",
        "After=network-online.target opentrade-callback.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "Restart=on-failure",
        // Orders due (1) alert and wait for a person; never a success with a note.
        "RestartPreventExitStatus=1 2",
    ] {
        assert!(service.lines().any(|l| l.starts_with(line)), "{line}");
    }
    assert!(
        !service.lines().any(|l| l.starts_with("SuccessExitStatus")),
        "exit 1 fails the unit"
    );
    let exec = service
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    for part in [
        " reconcile ",
        "--ledger /var/lib/opentrade/ledger.db",
        "--since 7d",
        "reconcile-{date}.xlsx",
    ] {
        assert!(exec.contains(part), "{part}: {exec}");
    }
    let timer = read("systemd/opentrade-reconcile.timer");
    assert!(
        timer
            .lines()
            .any(|l| l == "OnCalendar=*-*-* 07:00:00 Asia/Shanghai")
    );

    let job = manifests("kubernetes/reconcile-cronjob.yaml").remove(0);
    assert_eq!(job["kind"], "CronJob");
    assert_eq!(job["spec"]["timeZone"], "Asia/Shanghai");
    assert_eq!(job["spec"]["schedule"], "0 7 * * *");
    let job_spec = &job["spec"]["jobTemplate"]["spec"];
    let fail = &job_spec["podFailurePolicy"]["rules"][0];
    assert_eq!(fail["action"], "FailJob");
    let codes: Vec<u64> = fail["onExitCodes"]["values"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert_eq!(
        codes,
        [1, 2],
        "orders due and usage errors are never retried"
    );
    let container = &job_spec["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], fail["onExitCodes"]["containerName"]);
    let args = known_args(container, "reconcile");
    assert!(args.contains(&"reconcile"));
    let env = container["env"].as_array().expect("env");
    for name in ["TOP_APP_KEY", "TOP_APP_SECRET", "TOP_SESSION"] {
        let var = env.iter().find(|v| v["name"] == name).expect(name);
        assert!(
            var["valueFrom"]["secretKeyRef"].is_object(),
            "{name} from a Secret"
        );
    }
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
}

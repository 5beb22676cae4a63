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
        "ReadWritePaths=/var/lib/opentrade",
        "TimeoutStartSec=6h",
    ] {
        assert!(service.lines().any(|l| l.starts_with(line)), "{line}");
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
        "ReadWritePaths=/var/lib/opentrade",
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
    let timer = read("systemd/opentrade-callback.timer");
    for line in [
        "OnCalendar=*-*-* 00:30:00 Asia/Shanghai",
        "Persistent=true",
        "RandomizedDelaySec=",
    ] {
        assert!(timer.lines().any(|l| l.starts_with(line)), "{line}");
    }
}

/// The CronJob as JSON, read by PyYAML (installed under target/ when missing).
fn cronjob() -> serde_json::Value {
    let path = deploy("kubernetes/cronjob.yaml");
    let json = common::python_with(
        "yaml",
        "PyYAML==6.0.3",
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &[path.as_os_str()],
    );
    serde_json::from_str(&json).expect("JSON")
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
    for code in [2, 3] {
        assert!(
            codes.contains(&code),
            "exit {code} is never retried: {codes:?}"
        );
    }
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
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let help = Command::new(assert_cmd::cargo::cargo_bin!("opentrade-callback"))
        .args(["send", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let known = help.contains(flag) || ["--log-format"].contains(flag);
        assert!(known, "{flag} is a flag of the tool");
    }
}

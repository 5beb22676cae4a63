//! HTTPS end to end: the real `simulate` serving TLS with a certificate made here, the
//! real `send` trusting its root through `--ca-cert` or `TOP_CA_CERT`, and every way a
//! certificate can fail to be trusted halting the run at once with `net.tls`.

mod common;

use common::Scenario;

use std::path::Path;

use common::certs::{Pki, issue};
use common::{Workspace, columns, exits_with, ids, orders_of, signal};
use opentrade_callback::simulator::{self, BackgroundSimulator, SimulatorConfig};

/// A simulator on 127.0.0.1 serving HTTPS with `pki`'s server certificate.
fn https_simulator(pki: &Pki) -> BackgroundSimulator {
    let tls = opentrade_callback::listen::tls::server_config(&pki.cert, &pki.key)
        .expect("usable certificate");
    let config = SimulatorConfig {
        tls: Some(tls),
        ..SimulatorConfig::demo()
    };
    simulator::spawn_background(config).expect("simulator starts")
}

/// `send` of `n` orders to `gateway` with the demo credentials, no system CA override.
fn send(ws: &Workspace, gateway: &str, n: usize) -> assert_cmd::Command {
    let input = ws.write("orders.csv", orders_of(&ids(n)));
    let mut cmd =
        assert_cmd::Command::from_std(common::send_process(ws, gateway, &[input.as_path()]));
    cmd.env_remove("TOP_CA_CERT")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

fn statuses(path: &Path) -> Vec<(String, String, String)> {
    columns(path, ["status", "error_code", "attempts"])
        .into_iter()
        .map(|[s, c, a]| (s, c, a))
        .collect()
}

#[test]
fn simulate_serves_https_and_send_trusts_its_root_with_ca_cert() {
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["127.0.0.1", "localhost"]);
    let (mut child, origin, _stdout) = common::start_simulate(
        &[
            "--tls-cert".as_ref(),
            pki.cert.as_os_str(),
            "--tls-key".as_ref(),
            pki.key.as_os_str(),
        ],
        &[],
    );
    assert!(origin.starts_with("https://127.0.0.1:"), "{origin}");

    let gateway = format!("{origin}/router/rest");
    let stderr = exits_with(send(&ws, &gateway, 20).arg("--ca-cert").arg(&pki.root), 0);
    assert!(stderr.contains("delivered"), "{stderr}");
    let rows = statuses(&ws.out());
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|(s, _, _)| s == "delivered"), "{rows:?}");

    signal(child.id(), "-TERM");
    assert!(child.wait().expect("exits").success());
}

#[test]
fn the_root_can_come_from_top_ca_cert_and_batches_travel_over_tls_too() {
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["127.0.0.1"]);
    let sim = https_simulator(&pki);
    exits_with(
        send(&ws, &sim.url(), 30)
            .env("TOP_CA_CERT", &pki.root)
            .args(["--batch", "7"]),
        0,
    );
    let stats = sim.stats();
    assert_eq!(stats.accepted, 30, "{stats:?}");
    assert_eq!(stats.batches, 5, "30 calls in batches of 7: {stats:?}");
}

#[test]
fn an_untrusted_certificate_halts_at_once_with_net_tls_naming_the_fix() {
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["127.0.0.1"]);
    let sim = https_simulator(&pki);
    let stderr = exits_with(send(&ws, &sim.url(), 200).args(["--concurrency", "4"]), 3);
    assert!(stderr.contains("net.tls"), "{stderr}");
    assert!(stderr.contains("--ca-cert"), "the fix is named: {stderr}");
    assert!(stderr.contains("not signed by a root"), "{stderr}");

    let rows = statuses(&ws.out());
    let tried: Vec<_> = rows.iter().filter(|(s, _, _)| s == "failed").collect();
    assert!(
        !tried.is_empty() && tried.len() <= 4,
        "only the calls already in flight were tried: {tried:?}"
    );
    assert!(
        tried
            .iter()
            .all(|(_, code, attempts)| code == "net.tls" && attempts == "1"),
        "never retried: {tried:?}"
    );
    assert_eq!(
        rows.iter().filter(|(s, _, _)| s == "not_attempted").count(),
        200 - tried.len()
    );
    assert_eq!(sim.stats().accepted, 0);
}

#[test]
fn a_certificate_for_another_host_is_refused_for_that_reason() {
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["gateway.example"]);
    let sim = https_simulator(&pki);
    let stderr = exits_with(send(&ws, &sim.url(), 3).arg("--ca-cert").arg(&pki.root), 3);
    assert!(stderr.contains("for another host"), "{stderr}");
}

#[test]
fn plain_http_to_a_tls_port_halts_saying_the_gateway_speaks_https() {
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["127.0.0.1"]);
    let sim = https_simulator(&pki);
    let gateway = sim.url().replacen("https://", "http://", 1);
    assert!(gateway.starts_with("http://127.0.0.1:"), "{gateway}");
    let stderr = exits_with(send(&ws, &gateway, 50).args(["--concurrency", "2"]), 3);
    assert!(stderr.contains("speaks HTTPS"), "{stderr}");
    assert!(
        stderr.contains("use https://"),
        "the fix is named: {stderr}"
    );
    let rows = statuses(&ws.out());
    assert!(
        rows.iter()
            .all(|(_, _, attempts)| attempts == "0" || attempts == "1"),
        "never retried: {rows:?}"
    );
    assert!(rows.iter().any(|(s, _, _)| s == "not_attempted"));
}

#[test]
fn https_to_a_plain_http_port_is_named_as_such() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    let gateway = sim.url().replacen("http://", "https://", 1);
    let stderr = exits_with(&mut send(&ws, &gateway, 3), 3);
    assert!(stderr.contains("does not speak TLS"), "{stderr}");
    assert_eq!(sim.stats().requests, 0, "no call got through");
}

#[test]
fn without_ca_certificates_https_halts_and_loopback_http_still_works() {
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["127.0.0.1"]);
    let empty_file = ws.write("no-roots.pem", "");
    let empty_dir = ws.path("no-roots");
    std::fs::create_dir(&empty_dir).expect("mkdir");
    let no_system_roots = |cmd: &mut assert_cmd::Command| {
        cmd.env("SSL_CERT_FILE", &empty_file)
            .env("SSL_CERT_DIR", &empty_dir);
    };

    let sim = https_simulator(&pki);
    let mut cmd = send(&ws, &sim.url(), 3);
    no_system_roots(&mut cmd);
    let stderr = exits_with(&mut cmd, 3);
    assert!(stderr.contains("no CA certificates"), "{stderr}");
    assert!(
        stderr.contains("ca-certificates"),
        "the fix is named: {stderr}"
    );

    // The same machine, a root given: trusted.
    let ws = Workspace::new();
    let mut cmd = send(&ws, &sim.url(), 3);
    no_system_roots(&mut cmd);
    exits_with(cmd.arg("--ca-cert").arg(&pki.root), 0);

    // Plain http on loopback needs no certificate at all.
    let ws = Workspace::new();
    let plain = common::simulator(Scenario::default());
    let mut cmd = send(&ws, &plain.url(), 3);
    no_system_roots(&mut cmd);
    exits_with(&mut cmd, 0);
}

#[test]
fn an_unusable_ca_file_is_a_usage_error_naming_it_before_anything_is_sent() {
    let ws = Workspace::new();
    let sim = common::simulator(Scenario::default());
    let not_pem = ws.write("root.der", [0x30u8, 0x82, 0xff, 0xfe]);
    let stderr = exits_with(send(&ws, &sim.url(), 3).arg("--ca-cert").arg(&not_pem), 2);
    assert!(
        stderr.contains("--ca-cert") && stderr.contains("root.der"),
        "{stderr}"
    );
    assert!(stderr.contains("not a PEM"), "{stderr}");

    let empty = ws.write("empty.pem", "# no certificates here\n");
    let stderr = exits_with(send(&ws, &sim.url(), 3).env("TOP_CA_CERT", &empty), 2);
    assert!(
        stderr.contains("TOP_CA_CERT") && stderr.contains("empty.pem"),
        "{stderr}"
    );

    // A CA file cannot double as an output.
    let stderr = exits_with(send(&ws, &sim.url(), 3).arg("--ca-cert").arg(ws.out()), 2);
    assert!(stderr.contains("--ca-cert"), "{stderr}");
    assert!(!ws.ledger().exists(), "nothing was touched");
    assert_eq!(sim.stats().requests, 0);
}

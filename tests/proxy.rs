//! Proxies: a plain-http gateway never goes through one, whatever the environment says
//! (the session would travel in clear to the proxy, and its answers would count as the
//! gateway's); an https gateway goes through `HTTPS_PROXY` only as a `CONNECT` tunnel,
//! the TLS end to end inside it. The proxies here are real ones on 127.0.0.1.

mod common;

use common::Scenario;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::certs::issue;
use common::{Workspace, columns, ids, orders_of, simulator};
use opentrade_callback::simulator::{self as sim, SimulatorConfig};

/// A proxy on 127.0.0.1 that records each request's first line. `CONNECT` is tunnelled
/// to its target; anything else is answered as a hostile proxy would: a delivery.
struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(client, &log));
            }
        });
        Proxy { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("log").clone()
    }
}

fn serve(client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    log.lock().expect("log").push(first.trim_end().to_owned());
    let mut client = client;
    match first
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split(' ').next())
    {
        Some(target) => {
            let Ok(upstream) = TcpStream::connect(target) else {
                return;
            };
            let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (mut up_read, mut up_write) = (upstream.try_clone().expect("clone"), upstream);
            let mut down_write = client.try_clone().expect("clone");
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up_read, &mut down_write);
            });
            // What the client already sent past the request head, then the rest.
            let buffered = reader.buffer().to_vec();
            let _ = up_write.write_all(&buffered);
            let mut rest = reader.into_inner();
            let _ = std::io::copy(&mut rest, &mut up_write);
        }
        None => {
            let body = r#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"error_code":"0000"},"request_id":"proxy"}}"#;
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        }
    }
}

#[test]
fn a_plain_http_gateway_never_goes_through_a_proxy() {
    let proxy = Proxy::start();
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(6)));
    let mut cmd = common::send_cmd(&ws, &sim, &[&input]);
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env(name, &proxy.url);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    cmd.assert().code(0);
    assert_eq!(proxy.seen(), Vec::<String>::new(), "the proxy saw nothing");
    assert_eq!(sim.stats().accepted, 6, "the gateway itself answered");
    let rows = columns(&ws.out(), ["status"]);
    assert!(rows.iter().all(|[s]| s == "delivered"), "{rows:?}");
}

#[test]
fn an_https_gateway_goes_through_https_proxy_only_as_a_tunnel() {
    let proxy = Proxy::start();
    let ws = Workspace::new();
    let pki = issue(ws.dir.path(), &["127.0.0.1"]);
    let tls =
        opentrade_callback::listen::tls::server_config(&pki.cert, &pki.key).expect("certificate");
    let gateway = sim::spawn_background(SimulatorConfig {
        tls: Some(tls),
        ..SimulatorConfig::demo()
    })
    .expect("simulator");
    let input = ws.write("in.csv", orders_of(&ids(5)));
    let mut cmd = common::send_cmd(&ws, &gateway, &[&input]);
    cmd.env("HTTPS_PROXY", &proxy.url)
        .env("http_proxy", &proxy.url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .arg("--ca-cert")
        .arg(&pki.root);
    cmd.assert().code(0);
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "the calls went through the proxy");
    assert!(
        seen.iter().all(|l| l.starts_with("CONNECT 127.0.0.1:")),
        "only tunnels: {seen:?}"
    );
    assert_eq!(gateway.stats().accepted, 5);
    // NO_PROXY names the host: reached directly.
    let direct = Proxy::start();
    let mut cmd = common::send_cmd(
        &ws,
        &gateway,
        &[&ws.write("more.csv", orders_of(&["m".to_owned()]))],
    );
    cmd.env("HTTPS_PROXY", &direct.url)
        .env("NO_PROXY", "localhost,127.0.0.1")
        .arg("--ca-cert")
        .arg(&pki.root);
    cmd.assert().code(0);
    assert!(direct.seen().is_empty());
}

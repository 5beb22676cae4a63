//! Shared by the integration tests: simulators on 127.0.0.1 port 0, clients for them,
//! the binary under test, temp dirs and CSV helpers.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::Duration;

use opentrade_callback::order::Order;
use opentrade_callback::simulator::{self, BackgroundSimulator, Scenario, SimulatorConfig};
use opentrade_callback::top::{self, ClientSettings, Credentials, Secret, SignMethod, TopClient};

/// A simulator with the demo credentials and the given scenario (JSON text).
pub fn simulator(scenario_json: &str) -> BackgroundSimulator {
    let scenario: Scenario =
        serde_json::from_str(scenario_json).expect("test scenario is valid JSON");
    simulator::spawn_background(SimulatorConfig::demo().with_scenario(scenario))
        .expect("simulator starts")
}

/// Client settings for the demo credentials against `url`.
pub fn settings(url: &str) -> ClientSettings {
    ClientSettings {
        gateway: url.to_owned(),
        credentials: Credentials {
            app_key: simulator::DEMO_APP_KEY.into(),
            secret: Secret::new(simulator::DEMO_SECRET),
            session: Secret::new(simulator::DEMO_SESSION),
        },
        sign_method: SignMethod::Hmac,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        pool_size: 8,
        overrides: Default::default(),
        clock: top::system_clock(),
    }
}

pub fn client(settings: ClientSettings) -> TopClient {
    TopClient::new(settings).expect("client builds")
}

/// A valid order with the given req_id.
pub fn order(req_id: &str) -> Order {
    Order {
        sub_order_no: None,
        order_no: 4_012_345_678_901_234_567,
        success: true,
        result_code: Some("0000".into()),
        result_desc: Some("充值成功".into()),
        req_id: req_id.into(),
        ext: Some(r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#.into()),
    }
}

/// A current-thread runtime for driving the async client from a plain #[test].
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Sends a signal (`-INT`, `-TERM`, `-KILL`) to a child process by pid.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {name} {pid} failed");
}

/// The path of the binary under test.
pub fn binary() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin!("opentrade-callback").to_path_buf()
}

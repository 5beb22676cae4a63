//! Pings and notifications leave the machine only for where the operator said: no
//! redirect to another origin is followed, no `Referer` is sent, a robot's token or a
//! ping's key never shows in a log; a robot that answers HTTP 200 with a refusal is a
//! failed notification in its own words; signed robots (加签) carry their platform's
//! signature. None of it ever changes how the run went.

mod common;

use base64::Engine as _;
use common::hooks::{Answer, HookServer};
use common::{Scenario, Workspace, exits_with, ids, orders_of, send_cmd, simulator};

const PING_KEY: &str = "5f3c2a1e-8b7d-4c3e-9a1f-2b3c4d5e6f70";
const TOKEN: &str = "robottoken0123456789abcdef";

/// A run of three orders, all delivered (exit 0), with `hooks` arguments; its stderr.
fn run_with(args: &[String], code: i32) -> String {
    let sim = simulator(Scenario::default());
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(3)));
    let stderr = exits_with(send_cmd(&ws, &sim, &[&input]).args(args), code);
    sim.unused();
    stderr
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn a_redirect_to_another_host_is_never_followed_and_no_referer_is_sent() {
    let elsewhere = HookServer::ok();
    let away = format!("{}/stolen", elsewhere.url);
    let hooks = HookServer::start(move |seen| {
        if seen.target.starts_with("/ping/") {
            Answer::redirect(302, &away)
        } else {
            Answer::redirect(307, &away)
        }
    });
    let stderr = run_with(
        &args(&[
            "--ping-url",
            &format!("{}/ping/{PING_KEY}", hooks.url),
            "--notify-url",
            &format!("{}/robot/send?access_token={TOKEN}", hooks.url),
            "--notify-format",
            "dingtalk",
            "--notify-on",
            "always",
        ]),
        0,
    );
    assert!(
        elsewhere.seen().is_empty(),
        "another host got {:?}",
        elsewhere.lines()
    );
    // Each hook asked once: a redirect is an answer, not something to try again.
    assert_eq!(
        hooks.lines(),
        [
            format!("POST /ping/{PING_KEY}/start"),
            format!("POST /ping/{PING_KEY}"),
            format!("POST /robot/send?access_token={TOKEN}"),
        ]
    );
    assert!(hooks.seen().iter().all(|s| s.header("referer").is_none()));
    assert!(stderr.contains("not followed"), "{stderr}");
    assert!(stderr.contains("/ping/***"), "{stderr}");
    assert!(stderr.contains("access_token=***"), "{stderr}");
    for secret in [PING_KEY, TOKEN] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

#[test]
fn a_redirect_within_the_same_origin_is_followed_without_referer() {
    let hooks = HookServer::start(|seen| match seen.target.as_str() {
        "/moved" => Answer::ok(r#"{"errcode":0,"errmsg":"ok"}"#),
        _ => Answer::redirect(307, "/moved"),
    });
    let stderr = run_with(
        &args(&[
            "--notify-url",
            &format!("{}/robot/send?access_token={TOKEN}", hooks.url),
            "--notify-format",
            "wecom",
            "--notify-on",
            "always",
        ]),
        0,
    );
    let seen = hooks.seen();
    assert_eq!(seen.len(), 2, "{:?}", hooks.lines());
    assert_eq!(seen[1].line(), "POST /moved");
    assert_eq!(seen[1].body, seen[0].body, "a 307 posts the same message");
    assert!(seen.iter().all(|s| s.header("referer").is_none()));
    assert!(!stderr.contains("notification"), "{stderr}");
}

#[test]
fn a_robot_refusing_with_http_200_is_a_failed_notification_in_its_own_words() {
    for (format, refusal) in [
        (
            "dingtalk",
            r#"{"errcode":310000,"errmsg":"keywords not in content"}"#,
        ),
        (
            "wecom",
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
        ),
        (
            "feishu",
            r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        ),
    ] {
        let answer = refusal.to_owned();
        let hooks = HookServer::start(move |_| Answer::ok(&answer));
        let stderr = run_with(
            &args(&[
                "--notify-url",
                &format!("{}/robot/send?access_token={TOKEN}", hooks.url),
                "--notify-format",
                format,
                "--notify-on",
                "always",
            ]),
            0,
        );
        let words: serde_json::Value = serde_json::from_str(refusal).expect("json");
        let message = words["errmsg"]
            .as_str()
            .or(words["msg"].as_str())
            .expect("a message");
        assert!(
            stderr.contains("the robot refused it") && stderr.contains(message),
            "{format}: {stderr}"
        );
        assert!(!stderr.contains(TOKEN), "{stderr}");
        assert_eq!(hooks.lines().len(), 1, "a refusal is not tried again");
    }
    // A robot that took the message: not a word.
    let hooks = HookServer::start(|_| Answer::ok(r#"{"errcode":0,"errmsg":"ok"}"#));
    let stderr = run_with(
        &args(&[
            "--notify-url",
            &format!("{}/robot/send", hooks.url),
            "--notify-format",
            "dingtalk",
            "--notify-on",
            "always",
        ]),
        0,
    );
    assert!(!stderr.contains("robot"), "{stderr}");
}

fn hmac_base64(key: &[u8], text: &[u8]) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(text);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn signed_robots_carry_their_platforms_signature_and_the_secret_never_shows() {
    const SECRET: &str = "SEC7f1c0e9d8b6a5f4e3d2c1b0a9f8e7d6c5b4a39";
    let ws = Workspace::new();
    let config = ws.write("config.toml", format!("notify_secret = \"{SECRET}\"\n"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let config = config.to_str().expect("utf-8").to_owned();
    // DingTalk: timestamp (ms) and sign in the URL.
    let ding = HookServer::start(|_| Answer::ok(r#"{"errcode":0,"errmsg":"ok"}"#));
    let stderr = run_with(
        &args(&[
            "--config",
            &config,
            "--notify-url",
            &format!("{}/robot/send?access_token={TOKEN}", ding.url),
            "--notify-format",
            "dingtalk",
            "--notify-on",
            "always",
            "-vv",
        ]),
        0,
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    let seen = &ding.seen()[0];
    let url = url::Url::parse(&format!("http://x{}", seen.target)).expect("target");
    let pairs: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let millis: i64 = pairs["timestamp"].parse().expect("ms");
    assert!((chrono::Utc::now().timestamp_millis() - millis).abs() < 60_000);
    assert_eq!(
        pairs["sign"],
        hmac_base64(SECRET.as_bytes(), format!("{millis}\n{SECRET}").as_bytes())
    );
    assert_eq!(pairs["access_token"], TOKEN);
    assert!(!seen.body.contains(SECRET));
    // Feishu: timestamp (s) and sign in the body, the key made of both.
    let feishu = HookServer::start(|_| Answer::ok(r#"{"code":0,"msg":"success"}"#));
    run_with(
        &args(&[
            "--config",
            &config,
            "--notify-url",
            &format!("{}/open-apis/bot/v2/hook/{PING_KEY}", feishu.url),
            "--notify-format",
            "feishu",
            "--notify-on",
            "always",
        ]),
        0,
    );
    let body: serde_json::Value =
        serde_json::from_str(&feishu.seen()[0].body).expect("a JSON message");
    let seconds = body["timestamp"].as_str().expect("timestamp");
    assert_eq!(
        body["sign"],
        hmac_base64(format!("{seconds}\n{SECRET}").as_bytes(), b"")
    );
    assert_eq!(body["msg_type"], "text");
    // A WeCom robot cannot be signed: said before anything is sent.
    let wecom = HookServer::ok();
    let stderr = run_with(
        &args(&[
            "--config",
            &config,
            "--notify-url",
            &format!("{}/cgi-bin/webhook/send?key={TOKEN}", wecom.url),
            "--notify-format",
            "wecom",
        ]),
        2,
    );
    assert!(
        stderr.contains("WeCom group robot has no signing"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SECRET) && !stderr.contains(TOKEN),
        "{stderr}"
    );
}

#[test]
fn credentials_in_a_gateway_url_are_masked_in_check_and_in_errors() {
    let sim = simulator(Scenario::default());
    let gateway = sim.url().replace("http://", "http://ops:hunter2pass@");
    for json in [false, true] {
        let output = std::process::Command::new(common::binary())
            .arg("check")
            .args(json.then_some("--json"))
            .args(["--gateway", &gateway])
            .env("TOP_APP_KEY", opentrade_callback::simulator::DEMO_APP_KEY)
            .env("TOP_APP_SECRET", opentrade_callback::simulator::DEMO_SECRET)
            .env("TOP_SESSION", opentrade_callback::simulator::DEMO_SESSION)
            .env_remove("OPENTRADE_CONFIG")
            .env_remove("TOP_GATEWAY")
            .output()
            .expect("check runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!all.contains("hunter2pass"), "{all}");
        assert!(all.contains("http://***@127.0.0.1"), "{all}");
    }
    // Refused before anything is sent, the message masks them too.
    let ws = Workspace::new();
    let input = ws.write("in.csv", orders_of(&ids(1)));
    let stderr = exits_with(
        send_cmd(&ws, &sim, &[&input]).args([
            "--gateway",
            "http://ops:hunter2pass@gw.example.com/router/rest?session=S3SS",
        ]),
        2,
    );
    assert!(stderr.contains("--allow-insecure-http"), "{stderr}");
    assert!(
        !stderr.contains("hunter2pass") && !stderr.contains("S3SS"),
        "{stderr}"
    );
    sim.stats();
}

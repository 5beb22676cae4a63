//! The TOP client against the simulated gateway over loopback: signing, skew,
//! credentials, idempotency, and every scenario fault rule.

mod common;

use common::{Fault, Matcher, Scenario};

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{block_on, client, order, settings, simulator};
use opentrade_callback::top::{Secret, SignMethod, Verdict};

#[test]
fn a_valid_call_is_delivered_with_the_platform_wrapper() {
    let sim = simulator(Scenario::default());
    let reply = block_on(client(settings(&sim.url())).call(&order("ok-1").payload()));
    assert_eq!(reply.verdict, Verdict::Delivered);
    assert_eq!(reply.error_code, "0000");
    assert_eq!(reply.error_msg, "消息处理成功");
    assert!(reply.top_request_id.starts_with("sim"), "{reply:?}");
    assert_eq!(sim.stats().accepted, 1);
}

#[test]
fn every_sign_method_is_accepted() {
    let sim = simulator(Scenario::default());
    for (i, method) in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256]
        .into_iter()
        .enumerate()
    {
        let mut s = settings(&sim.url());
        s.sign_method = method;
        let reply = block_on(client(s).call(&order(&format!("sign-{i}")).payload()));
        assert_eq!(reply.verdict, Verdict::Delivered, "{method}: {reply:?}");
    }
    assert_eq!(sim.stats().accepted, 3);
}

#[test]
fn a_wrong_secret_is_refused_with_code_25() {
    let sim = simulator(Scenario::default());
    let mut s = settings(&sim.url());
    s.credentials.secret = Secret::new("not-the-secret");
    let reply = block_on(client(s).call(&order("r").payload()));
    assert_eq!(
        (reply.verdict, reply.error_code.as_str()),
        (Verdict::Fatal, "25")
    );
    assert_eq!(reply.error_msg, "Invalid Signature");
    assert_eq!(sim.stats().accepted, 0);
}

#[test]
fn a_wrong_session_is_refused_with_code_27() {
    let sim = simulator(Scenario::default());
    let mut s = settings(&sim.url());
    s.credentials.session = Secret::new("expired");
    let reply = block_on(client(s).call(&order("r").payload()));
    assert_eq!(
        (reply.verdict, reply.error_code.as_str()),
        (Verdict::Fatal, "27")
    );
}

#[test]
fn a_wrong_app_key_is_refused_with_code_29() {
    let sim = simulator(Scenario::default());
    let mut s = settings(&sim.url());
    s.credentials.app_key = "999".into();
    let reply = block_on(client(s).call(&order("r").payload()));
    assert_eq!(
        (reply.verdict, reply.error_code.as_str()),
        (Verdict::Fatal, "29")
    );
}

#[test]
fn a_timestamp_eleven_minutes_off_is_refused_with_code_31() {
    let sim = simulator(Scenario::default());
    for minutes in [11, -11] {
        let mut s = settings(&sim.url());
        s.clock = Arc::new(move || chrono::Utc::now() + chrono::Duration::minutes(minutes));
        let reply = block_on(client(s).call(&order("skewed").payload()));
        assert_eq!(
            (reply.verdict, reply.error_code.as_str()),
            (Verdict::Fatal, "31"),
            "{minutes} min"
        );
    }
    let mut s = settings(&sim.url());
    s.clock = Arc::new(|| chrono::Utc::now() - chrono::Duration::minutes(9));
    assert_eq!(
        block_on(client(s).call(&order("nine").payload())).verdict,
        Verdict::Delivered
    );
}

#[test]
fn the_same_req_id_and_payload_is_answered_again_as_a_duplicate() {
    let sim = simulator(Scenario::default());
    let c = client(settings(&sim.url()));
    let json = order("dup").payload();
    let first = block_on(c.call(&json));
    let second = block_on(c.call(&json));
    assert_eq!(
        (first.verdict, second.verdict),
        (Verdict::Delivered, Verdict::Delivered)
    );
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.duplicates), (1, 1));
}

#[test]
fn a_different_payload_under_an_accepted_req_id_is_refused() {
    let sim = simulator(Scenario::default());
    let c = client(settings(&sim.url()));
    block_on(c.call(&order("same").payload()));
    let mut changed = order("same");
    changed.success = false;
    let reply = block_on(c.call(&changed.payload()));
    assert_eq!(reply.verdict, Verdict::Rejected);
    assert_eq!(reply.sub_code, "isv.req-id-conflict");
    assert_eq!((sim.stats().accepted, sim.stats().conflicts), (1, 1));
}

#[test]
fn reject_rule_gives_a_business_rejection() {
    let sim = simulator(
        Scenario::default().on(Matcher::req_id("no"), Fault::reject("B02", "订单已关闭")),
    );
    let reply = block_on(client(settings(&sim.url())).call(&order("no").payload()));
    assert_eq!(reply.verdict, Verdict::Rejected);
    assert_eq!(
        (reply.error_code.as_str(), reply.error_msg.as_str()),
        ("B02", "订单已关闭")
    );
    assert_eq!(sim.stats().rejected, 1);
}

#[test]
fn transient_rule_fails_n_times_then_succeeds() {
    let sim = simulator(Scenario::default().on(Matcher::prefix("flaky-"), Fault::transient(2)));
    let c = client(settings(&sim.url()));
    let json = order("flaky-1").payload();
    let verdicts: Vec<(Verdict, String)> = (0..3)
        .map(|_| block_on(c.call(&json)))
        .map(|r| (r.verdict, r.sub_code))
        .collect();
    assert_eq!(
        verdicts,
        [
            (Verdict::Transient, "isp.remote-service-error".to_owned()),
            (Verdict::Transient, "isp.remote-service-error".to_owned()),
            (Verdict::Delivered, String::new())
        ]
    );
    // Another req_id under the same prefix gets its own two failures.
    assert_eq!(
        block_on(c.call(&order("flaky-2").payload())).verdict,
        Verdict::Transient
    );
}

#[test]
fn ban_rule_refuses_every_call_until_it_passes() {
    let sim =
        simulator(Scenario::default().on(Matcher::order_no(4012345678901234567), Fault::ban(1)));
    let c = client(settings(&sim.url()));
    let started = Instant::now();
    let first = block_on(c.call(&order("ban-1").payload()));
    assert_eq!(
        first.verdict,
        Verdict::RateLimited {
            ban: Some(Duration::from_secs(1))
        }
    );
    assert_eq!(
        (first.error_code.as_str(), first.sub_msg.as_str()),
        ("7", "This ban will last for 1 more seconds")
    );
    let mut other = order("other");
    other.order_no = 1;
    let during = block_on(c.call(&other.payload()));
    assert!(
        matches!(during.verdict, Verdict::RateLimited { .. }),
        "{during:?}"
    );
    std::thread::sleep(
        Duration::from_secs(1).saturating_sub(started.elapsed()) + Duration::from_millis(50),
    );
    // The rule fires once: the same order is accepted after the ban.
    assert_eq!(
        block_on(c.call(&order("ban-1").payload())).verdict,
        Verdict::Delivered
    );
    let stats = sim.stats();
    assert_eq!((stats.bans_started, stats.calls_during_ban), (1, 1));
}

#[test]
fn html_502_rule_answers_a_proxy_page_then_succeeds() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("h"), Fault::html_502(2)));
    let c = client(settings(&sim.url()));
    let json = order("h").payload();
    for _ in 0..2 {
        let reply = block_on(c.call(&json));
        assert_eq!(
            (reply.verdict, reply.error_code.as_str()),
            (Verdict::Transient, "http.502")
        );
        assert!(reply.error_msg.contains("502 Bad Gateway"), "{reply:?}");
    }
    assert_eq!(block_on(c.call(&json)).verdict, Verdict::Delivered);
}

#[test]
fn slow_first_attempt_times_out_and_the_retry_is_a_duplicate() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("slow"), Fault::slow_first(1500)));
    let mut s = settings(&sim.url());
    s.request_timeout = Duration::from_millis(300);
    let c = client(s);
    let json = order("slow").payload();
    let first = block_on(c.call(&json));
    assert_eq!(
        (first.verdict, first.error_code.as_str()),
        (Verdict::Transient, "net.timeout")
    );
    let second = block_on(c.call(&json));
    assert_eq!(second.verdict, Verdict::Delivered);
    // The slow first call was processed: the retry was recognised, not accepted twice.
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.duplicates), (1, 1));
}

#[test]
fn drop_rule_closes_the_connection_then_succeeds() {
    let sim = simulator(Scenario::default().on(Matcher::req_id("d"), Fault::drop(1)));
    let c = client(settings(&sim.url()));
    let json = order("d").payload();
    let first = block_on(c.call(&json));
    assert_eq!(
        (first.verdict, first.error_code.as_str()),
        (Verdict::Transient, "net.reset"),
        "{first:?}"
    );
    assert_eq!(block_on(c.call(&json)).verdict, Verdict::Delivered);
    assert_eq!(sim.stats().by_outcome.get("dropped"), Some(&1));
}

#[test]
fn invalid_rule_is_a_permanent_isv_error() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("bad"),
        Fault::invalid("isv.order-not-exist", "订单不存在"),
    ));
    let c = client(settings(&sim.url()));
    for _ in 0..2 {
        let reply = block_on(c.call(&order("bad").payload()));
        assert_eq!(reply.verdict, Verdict::Rejected);
        assert_eq!(
            (reply.sub_code.as_str(), reply.sub_msg.as_str()),
            ("isv.order-not-exist", "订单不存在")
        );
    }
    assert_eq!(sim.stats().accepted, 0);
}

#[test]
fn error_rule_can_revoke_the_session() {
    let sim = simulator(Scenario::default().on(
        Matcher::req_id("revoked"),
        Fault::Error {
            code: 27,
            msg: "Invalid session".into(),
            sub_code: "invalid-sessionkey".into(),
            sub_msg: "".into(),
            times: None,
        },
    ));
    let reply = block_on(client(settings(&sim.url())).call(&order("revoked").payload()));
    assert_eq!(
        (reply.verdict, reply.error_code.as_str()),
        (Verdict::Fatal, "27")
    );
}

#[test]
fn latency_applies_to_every_answer() {
    let sim = simulator(Scenario::default().latency_ms(120));
    let c = client(settings(&sim.url()));
    let started = Instant::now();
    assert_eq!(
        block_on(c.call(&order("late").payload())).verdict,
        Verdict::Delivered
    );
    assert!(started.elapsed() >= Duration::from_millis(120));
}

#[test]
fn a_closed_port_is_a_connect_failure() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let reply = block_on(
        client(settings(&format!("http://{addr}/router/rest"))).call(&order("x").payload()),
    );
    assert_eq!(
        (reply.verdict, reply.error_code.as_str()),
        (Verdict::Transient, "net.connect")
    );
}

#[test]
fn stats_are_served_over_http() {
    let sim = simulator(Scenario::default());
    block_on(client(settings(&sim.url())).call(&order("s").payload()));
    let body = block_on(async {
        common::http()
            .build()
            .expect("client")
            .get(format!("http://{}/__stats", sim.addr()))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body")
    });
    let served: opentrade_callback::simulator::Stats =
        serde_json::from_str(&body).expect("stats JSON");
    assert_eq!(served, sim.stats());
    assert_eq!(served.accepted, 1);
}

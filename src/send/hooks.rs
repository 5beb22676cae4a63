//! Telling the world how a run went, without ever changing how it went: a ping in the
//! healthchecks convention (`URL/start` when the run starts, `URL` on exit 0 — and on
//! exit 1, rows needing attention, unless they are to count as a failure —
//! `URL/<exit code>` otherwise, the summary document as the body; a run that found
//! the ledger held by another pings `URL/log`, which records it without saying the
//! running one is down), and a notification
//! to a webhook or a DingTalk, WeCom or Feishu group robot. Short timeouts, a couple of
//! retries, a few seconds at most in all; a failure is a warning. What is sent is the
//! summary, which never holds the secret or the session.

use std::time::Duration;

use crate::top::Secret;

/// The most time one hook may take, retries included.
const BUDGET: Duration = Duration::from_secs(5);
/// Tries per hook.
const TRIES: u32 = 3;

/// Where a notification goes, and in which shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyFormat {
    /// The summary document itself.
    #[default]
    Json,
    /// A DingTalk group robot (`{"msgtype":"text",…}`).
    Dingtalk,
    /// A WeCom (企业微信) group robot.
    Wecom,
    /// A Feishu (飞书) group robot (`{"msg_type":"text",…}`).
    Feishu,
}

/// When a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyOn {
    /// When rows need attention or the run failed (exit code other than 0).
    #[default]
    Problems,
    /// After every run.
    Always,
}

/// What rows needing attention (exit 1) are to a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PingAttention {
    /// A success with a note: `URL`, the summary (which names them) as the body.
    #[default]
    Success,
    /// A failure: `URL/1`.
    Fail,
}

/// The hooks of one run.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub ping: Option<url::Url>,
    pub ping_attention: PingAttention,
    pub notify: Option<Notify>,
}

/// Where the ping of a run that ended with `exit` goes.
fn ping_url(ping: &url::Url, exit: u8, attention: PingAttention) -> url::Url {
    match (exit, attention) {
        (0, _) | (1, PingAttention::Success) => ping.clone(),
        // Another run holds the ledger: that one is running, not down.
        (4, _) => join(ping, "log"),
        (code, _) => join(ping, &code.to_string()),
    }
}

/// Where the notification goes, in which shape, when, and the robot's signing
/// secret (加签, `notify_secret` in the config) if it has one; what it calls the shop
/// and host, and the desk whose run page it links to.
#[derive(Debug, Clone)]
pub struct Notify {
    pub url: url::Url,
    pub format: NotifyFormat,
    pub on: NotifyOn,
    pub secret: Option<Secret>,
    pub label: String,
    pub desk_url: Option<url::Url>,
}

impl Hooks {
    /// `URL/start`: the run begins.
    pub async fn started(&self) {
        if let Some(ping) = &self.ping {
            post(
                &join(ping, "start"),
                Signed::plain(String::new()),
                "the start ping",
            )
            .await;
        }
    }

    /// The run ended with `exit`, its summary document `summary` (JSON text).
    pub async fn finished(&self, exit: u8, summary: &str) {
        if let Some(ping) = &self.ping {
            let url = ping_url(ping, exit, self.ping_attention);
            post(&url, Signed::plain(summary.to_owned()), "the ping").await;
        }
        if let Some(notify) = &self.notify
            && (notify.on == NotifyOn::Always || exit != 0 || has_warnings(summary))
        {
            let body = message(notify, exit, summary);
            let signed = sign(notify, body, chrono::Utc::now());
            post(
                &signed.url.clone().unwrap_or_else(|| notify.url.clone()),
                signed,
                "the notification",
            )
            .await;
        }
    }
}

/// `base` with `segment` appended as a path segment.
fn join(base: &url::Url, segment: &str) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().push(segment);
    }
    url
}

/// The body for `format`: the summary itself, or a robot's text message made from it.
pub fn message(notify: &Notify, exit: u8, summary: &str) -> String {
    if notify.format == NotifyFormat::Json {
        return summary.to_owned();
    }
    let text = text_of(exit, summary, &notify.label, notify.desk_url.as_ref());
    let body = match notify.format {
        NotifyFormat::Feishu => serde_json::json!({"msg_type": "text", "content": {"text": text}}),
        _ => serde_json::json!({"msgtype": "text", "text": {"content": text}}),
    };
    body.to_string()
}

/// A request ready to go: its body, and what signing changed (the URL of a signed
/// DingTalk robot, headers of a signed webhook); what it expects back.
#[derive(Debug)]
struct Signed {
    url: Option<url::Url>,
    body: String,
    headers: Vec<(&'static str, String)>,
    robot: Option<NotifyFormat>,
}

impl Signed {
    fn plain(body: String) -> Signed {
        Signed {
            url: None,
            body,
            headers: Vec::new(),
            robot: None,
        }
    }
}

/// The request for `notify` carrying `body`, signed as the robot's platform asks when
/// it has a secret (加签): DingTalk `&timestamp=<ms>&sign=<base64 HMAC-SHA256(key =
/// secret, "<ms>\n<secret>")>` in the URL; Feishu `timestamp` (seconds) and `sign`
/// (base64 HMAC-SHA256 with key "<s>\n<secret>" over nothing) in the body; a JSON
/// webhook `X-Opentrade-Timestamp` and `X-Opentrade-Signature: sha256=<hex
/// HMAC-SHA256(key = secret, "<s>.<body>")>`. WeCom robots have no signing (the
/// configuration refuses a secret for one).
fn sign(notify: &Notify, body: String, now: chrono::DateTime<chrono::Utc>) -> Signed {
    use base64::Engine as _;
    let robot = (notify.format != NotifyFormat::Json).then_some(notify.format);
    let Some(secret) = &notify.secret else {
        return Signed {
            robot,
            ..Signed::plain(body)
        };
    };
    let secret = secret.expose();
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match notify.format {
        NotifyFormat::Dingtalk => {
            let millis = now.timestamp_millis();
            let sign = base64(&hmac_sha256(
                secret.as_bytes(),
                format!("{millis}\n{secret}").as_bytes(),
            ));
            let mut url = notify.url.clone();
            url.query_pairs_mut()
                .append_pair("timestamp", &millis.to_string())
                .append_pair("sign", &sign);
            Signed {
                url: Some(url),
                robot,
                ..Signed::plain(body)
            }
        }
        NotifyFormat::Feishu => {
            let seconds = now.timestamp();
            let sign = base64(&hmac_sha256(format!("{seconds}\n{secret}").as_bytes(), b""));
            let mut doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if let Some(doc) = doc.as_object_mut() {
                doc.insert("timestamp".into(), seconds.to_string().into());
                doc.insert("sign".into(), sign.into());
            }
            Signed {
                robot,
                ..Signed::plain(doc.to_string())
            }
        }
        NotifyFormat::Json => {
            let seconds = now.timestamp();
            let mac = hmac_sha256(secret.as_bytes(), format!("{seconds}.{body}").as_bytes());
            Signed {
                headers: vec![
                    ("x-opentrade-timestamp", seconds.to_string()),
                    (
                        "x-opentrade-signature",
                        format!("sha256={}", faster_hex::hex_string(&mac)),
                    ),
                ],
                ..Signed::plain(body)
            }
        }
        NotifyFormat::Wecom => Signed {
            robot,
            ..Signed::plain(body)
        },
    }
}

fn hmac_sha256(key: &[u8], text: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

/// A few lines a person reads in a group chat.
/// Whether the summary warns of something a person should do soon (the session's
/// end): a clean night with a warning is notified too.
fn has_warnings(summary: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(summary)
        .ok()
        .and_then(|doc| doc["warnings"].as_array().map(|w| !w.is_empty()))
        .unwrap_or(false)
}

fn text_of(exit: u8, summary: &str, label: &str, desk: Option<&url::Url>) -> String {
    let doc: serde_json::Value = serde_json::from_str(summary).unwrap_or_default();
    // A document that says its own text (the desk's announcement of a request).
    if let Some(text) = doc["text"].as_str() {
        return text.to_owned();
    }
    if doc["command"] == "reconcile" {
        return crate::reconcile::robot::robot_text(exit, &doc, label);
    }
    let verdict = match exit {
        0 => "全部完成 all delivered or skipped",
        1 => "有行需处理 rows need attention",
        2 => "未运行 did not run (usage or configuration)",
        3 => "中途停止 halted early",
        4 => "账本被占用 another run holds the ledger",
        _ => "被中断 interrupted",
    };
    let mut text = format!("opentrade-callback [{label}]: exit {exit} — {verdict}");
    if let Some(rows) = doc["rows"].as_u64() {
        text.push_str(&format!("\nrows 行数: {rows}"));
        if let Some(counts) = doc["counts"].as_object() {
            let parts: Vec<String> = counts
                .iter()
                .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
                .map(|(status, n)| format!("{status} {n}"))
                .collect();
            if !parts.is_empty() {
                text.push_str(&format!(" ({})", parts.join(", ")));
            }
        }
    }
    if let Some(delivered) = doc["amounts"]["delivered"].as_str() {
        text.push_str(&format!("\ndelivered amount 已送达金额: ¥{delivered}"));
    }
    if let Some(reason) = doc["halt_reason"].as_str() {
        let what = if doc["halt_retryable"].as_bool() == Some(true) {
            "可稍后重试 retry later"
        } else {
            "需人工处理 a person must act"
        };
        text.push_str(&format!("\nhalt_reason: {reason} — {what}"));
    }
    if let Some(error) = doc["error"].as_str() {
        text.push_str(&format!("\n{}", crate::text::shorten(error, 300)));
    }
    for warning in doc["warnings"].as_array().into_iter().flatten() {
        if let Some(warning) = warning.as_str() {
            text.push_str(&format!("\n提醒 warning: {warning}"));
        }
    }
    for group in doc["errors"].as_array().into_iter().flatten().take(3) {
        text.push_str(&format!(
            "\n{} {} ×{}",
            group["error_code"].as_str().unwrap_or(""),
            group["sub_code"].as_str().unwrap_or(""),
            group["count"]
        ));
    }
    let results = doc["results"].as_str().and_then(|path| {
        std::path::Path::new(path)
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
    });
    if let (Some(desk), Some(name)) = (desk, results) {
        let mut page = desk.clone();
        if let Ok(mut path) = page.path_segments_mut() {
            path.pop_if_empty()
                .extend(["runs", &crate::results::run_id_of(&name)]);
        }
        text.push_str(&format!("\n工作台 desk: {page}"));
    }
    if let Some(run_id) = doc["run_id"].as_str() {
        text.push_str(&format!("\nrun {run_id}"));
    }
    text
}

/// The most of a robot's answer read.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Redirects followed at most, and only within the URL's own origin.
const MAX_REDIRECTS: usize = 3;

/// Posts `signed` to `url`, a few tries within `BUDGET`; a failure is only said. A
/// redirect is followed only within the same origin (a token in the URL must never
/// reach another host), no `Referer` is ever sent, and a robot's answer is read: HTTP
/// 200 with `errcode`/`code` other than 0 is a refusal, not a delivery.
async fn post(url: &url::Url, signed: Signed, what: &str) {
    let shown = crate::mask::hook_url(url);
    let client = match client() {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!("{what} to {shown} not sent: {error}");
            return;
        }
    };
    let attempts = async {
        let mut last = String::new();
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let mut request = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(signed.body.clone());
            for (name, value) in &signed.headers {
                request = request.header(*name, value);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return match signed.robot {
                        Some(robot) => robot_verdict(robot, response).await,
                        None => Ok(()),
                    };
                }
                Ok(response) if response.status().is_redirection() => {
                    // Not followed: another origin, or too many hops. Trying again
                    // would only be sent there again.
                    return Err(format!(
                        "HTTP {}: redirected elsewhere ({}), not followed — a hook is posted only to the origin given",
                        response.status().as_u16(),
                        response
                            .headers()
                            .get(reqwest::header::LOCATION)
                            .and_then(|l| l.to_str().ok())
                            .map(crate::mask::url)
                            .unwrap_or_default()
                    ));
                }
                Ok(response) => last = format!("HTTP {}", response.status().as_u16()),
                Err(error) => last = error.without_url().to_string(),
            }
        }
        Err(last)
    };
    match tokio::time::timeout(BUDGET, attempts).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(
            "{what} to {shown} failed: {}",
            crate::text::visible(&crate::mask::parameters(&error))
        ),
        Err(_) => tracing::warn!("{what} to {shown} took too long; given up"),
    }
}

/// The client every hook uses: short timeouts, same-origin redirects only, no
/// `Referer`; certificates checked as the gateway's are (`top::tls`).
fn client() -> Result<reqwest::Client, String> {
    let tls = crate::top::tls::client_config(&[]).map_err(|error| error.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .referer(false)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().map(url::Url::origin);
            if attempt.previous().len() > MAX_REDIRECTS
                || first.is_some_and(|origin| origin != attempt.url().origin())
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|error| error.without_url().to_string())
}

/// What a robot said of the message: DingTalk and WeCom answer `{"errcode":0,…}`,
/// Feishu `{"code":0,…}` (older hooks `{"StatusCode":0,…}`); anything else, even with
/// HTTP 200, is a refusal in the robot's own words.
async fn robot_verdict(robot: NotifyFormat, response: reqwest::Response) -> Result<(), String> {
    let mut body = Vec::new();
    let mut response = response;
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > ANSWER_LIMIT {
            return Err("the robot's answer is too large to be one".into());
        }
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "the robot's answer is not JSON".to_owned())?;
    let (code, message) = match robot {
        NotifyFormat::Feishu => (
            doc.get("code").or_else(|| doc.get("StatusCode")),
            doc.get("msg").or_else(|| doc.get("StatusMessage")),
        ),
        _ => (doc.get("errcode"), doc.get("errmsg")),
    };
    match code.and_then(serde_json::Value::as_i64) {
        Some(0) => Ok(()),
        Some(code) => Err(format!(
            "the robot refused it: {code} {}",
            crate::text::shorten(
                message.and_then(serde_json::Value::as_str).unwrap_or(""),
                200
            )
        )),
        None => Err("the robot's answer has no result code".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_follow_the_healthchecks_convention() {
        let base = url::Url::parse("https://hc-ping.com/uuid").expect("url");
        assert_eq!(
            join(&base, "start").as_str(),
            "https://hc-ping.com/uuid/start"
        );
        assert_eq!(join(&base, "3").as_str(), "https://hc-ping.com/uuid/3");
        let ping = |exit, attention| ping_url(&base, exit, attention).to_string();
        assert_eq!(ping(0, PingAttention::Success), "https://hc-ping.com/uuid");
        assert_eq!(ping(1, PingAttention::Success), "https://hc-ping.com/uuid");
        assert_eq!(ping(1, PingAttention::Fail), "https://hc-ping.com/uuid/1");
        assert_eq!(
            ping(3, PingAttention::Success),
            "https://hc-ping.com/uuid/3"
        );
        assert_eq!(ping(4, PingAttention::Fail), "https://hc-ping.com/uuid/log");
        let slash = url::Url::parse("https://hc-ping.com/uuid/").expect("url");
        assert_eq!(
            join(&slash, "start").as_str(),
            "https://hc-ping.com/uuid/start"
        );
    }

    #[test]
    fn robots_get_text_made_from_the_summary() {
        let summary = r#"{"rows":3,"counts":{"delivered":2,"rejected":1,"failed":0},"amounts":{"delivered":"200.00"},"errors":[{"error_code":"B0107","sub_code":"","count":1}],"error":null,"run_id":"r1","results":"/var/lib/opentrade/results/2026-12-08-r1.xlsx"}"#;
        let notify = |format| Notify {
            url: url::Url::parse("https://oapi.dingtalk.com/robot/send").expect("url"),
            format,
            on: NotifyOn::Problems,
            secret: None,
            label: "上海店 prod-1".into(),
            desk_url: Some(url::Url::parse("https://desk.example.com/").expect("url")),
        };
        let ding: serde_json::Value =
            serde_json::from_str(&message(&notify(NotifyFormat::Dingtalk), 1, summary))
                .expect("json");
        assert_eq!(ding["msgtype"], "text");
        let text = ding["text"]["content"].as_str().expect("text");
        assert!(
            text.contains("exit 1") && text.contains("delivered 2, rejected 1"),
            "{text}"
        );
        assert!(text.contains("¥200.00") && text.contains("B0107"), "{text}");
        // The shop and host, and the run's page on the desk.
        assert!(
            text.starts_with("opentrade-callback [上海店 prod-1]: exit 1"),
            "{text}"
        );
        let page = format!(
            "https://desk.example.com/runs/{}",
            crate::results::run_id_of("2026-12-08-r1.xlsx")
        );
        assert!(text.contains(&page), "{text}");
        let feishu: serde_json::Value =
            serde_json::from_str(&message(&notify(NotifyFormat::Feishu), 1, summary))
                .expect("json");
        assert_eq!(feishu["msg_type"], "text");
        assert_eq!(message(&notify(NotifyFormat::Json), 1, summary), summary);
    }

    #[test]
    fn signed_robots_carry_their_platforms_signature() {
        let at = chrono::DateTime::from_timestamp(1_704_038_400, 0).expect("time");
        let notify = |format, url: &str| Notify {
            url: url::Url::parse(url).expect("url"),
            format,
            on: NotifyOn::Always,
            secret: Some(Secret::new("SEC000")),
            label: "shop".into(),
            desk_url: None,
        };
        // DingTalk: the documented recipe, checked against an independent computation.
        let ding = sign(
            &notify(
                NotifyFormat::Dingtalk,
                "https://oapi.dingtalk.com/robot/send?access_token=T",
            ),
            "{}".into(),
            at,
        );
        let url = ding.url.expect("a signed URL");
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["timestamp"], "1704038400000");
        assert_eq!(pairs["access_token"], "T");
        assert_eq!(
            pairs["sign"],
            "cQfDqVpmoI7IANfAVn55adyEWwUfpO39Zr8YVSUVWWA="
        );
        // Feishu: in the body, the key is the timestamp and the secret.
        let feishu = sign(
            &notify(
                NotifyFormat::Feishu,
                "https://open.feishu.cn/open-apis/bot/v2/hook/x",
            ),
            r#"{"msg_type":"text"}"#.into(),
            at,
        );
        let body: serde_json::Value = serde_json::from_str(&feishu.body).expect("json");
        assert_eq!(body["timestamp"], "1704038400");
        assert_eq!(body["sign"], "HeZpQsMAMQuD4SX7XX0fyuWubFbgyJlDj5Dz5qAEsok=");
        assert_eq!(body["msg_type"], "text");
        // A webhook: a header the receiver checks.
        let json = sign(
            &notify(NotifyFormat::Json, "https://hooks.example.com/x"),
            "{}".into(),
            at,
        );
        assert_eq!(
            json.headers[0],
            ("x-opentrade-timestamp", "1704038400".to_owned())
        );
        assert!(json.headers[1].1.starts_with("sha256="));
    }
}

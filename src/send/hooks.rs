//! Telling the world how a run went, without ever changing how it went: a ping in the
//! healthchecks convention (`URL/start` when the run starts, `URL` on exit 0,
//! `URL/<exit code>` otherwise, the summary document as the body), and a notification
//! to a webhook or a DingTalk, WeCom or Feishu group robot. Short timeouts, a couple of
//! retries, a few seconds at most in all; a failure is a warning. What is sent is the
//! summary, which never holds the secret or the session.

use std::time::Duration;

/// The most time one hook may take, retries included.
const BUDGET: Duration = Duration::from_secs(5);
/// Tries per hook.
const TRIES: u32 = 3;

/// Where a notification goes, and in which shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum NotifyOn {
    /// When rows need attention or the run failed (exit code other than 0).
    #[default]
    Problems,
    /// After every run.
    Always,
}

/// The hooks of one run.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub ping: Option<url::Url>,
    pub notify: Option<(url::Url, NotifyFormat, NotifyOn)>,
}

impl Hooks {
    /// `URL/start`: the run begins.
    pub async fn started(&self) {
        if let Some(ping) = &self.ping {
            post(&join(ping, "start"), String::new(), "the start ping").await;
        }
    }

    /// The run ended with `exit`, its summary document `summary` (JSON text).
    pub async fn finished(&self, exit: u8, summary: &str) {
        if let Some(ping) = &self.ping {
            let url = match exit {
                0 => ping.clone(),
                code => join(ping, &code.to_string()),
            };
            post(&url, summary.to_owned(), "the ping").await;
        }
        if let Some((url, format, on)) = &self.notify
            && (*on == NotifyOn::Always || exit != 0)
        {
            post(url, message(*format, exit, summary), "the notification").await;
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
pub fn message(format: NotifyFormat, exit: u8, summary: &str) -> String {
    if format == NotifyFormat::Json {
        return summary.to_owned();
    }
    let text = text_of(exit, summary);
    let body = match format {
        NotifyFormat::Feishu => serde_json::json!({"msg_type": "text", "content": {"text": text}}),
        _ => serde_json::json!({"msgtype": "text", "text": {"content": text}}),
    };
    body.to_string()
}

/// A few lines a person reads in a group chat.
fn text_of(exit: u8, summary: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(summary).unwrap_or_default();
    let verdict = match exit {
        0 => "全部完成 all delivered or skipped",
        1 => "有行需处理 rows need attention",
        2 => "未运行 did not run (usage or configuration)",
        3 => "中途停止 halted early",
        4 => "账本被占用 another run holds the ledger",
        _ => "被中断 interrupted",
    };
    let mut text = format!("opentrade-callback: exit {exit} — {verdict}");
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
    if let Some(error) = doc["error"].as_str() {
        text.push_str(&format!("\n{}", crate::text::shorten(error, 300)));
    }
    for group in doc["errors"].as_array().into_iter().flatten().take(3) {
        text.push_str(&format!(
            "\n{} {} ×{}",
            group["error_code"].as_str().unwrap_or(""),
            group["sub_code"].as_str().unwrap_or(""),
            group["count"]
        ));
    }
    if let Some(run_id) = doc["run_id"].as_str() {
        text.push_str(&format!("\nrun {run_id}"));
    }
    text
}

/// Posts `body` to `url`, a few tries within `BUDGET`; a failure is only said.
async fn post(url: &url::Url, body: String, what: &str) {
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::limited(2))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!("{what} to {} not sent: {error}", shown(url));
            return;
        }
    };
    let attempts = async {
        let mut last = String::new();
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let sent = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last = format!("HTTP {}", response.status().as_u16()),
                Err(error) => last = error.without_url().to_string(),
            }
        }
        Err(last)
    };
    match tokio::time::timeout(BUDGET, attempts).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!("{what} to {} failed: {error}", shown(url)),
        Err(_) => tracing::warn!("{what} to {} took too long; given up", shown(url)),
    }
}

/// A URL as a log shows it: without a password or query (robots' tokens live there).
fn shown(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    url.set_query(None);
    url.to_string()
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
        let slash = url::Url::parse("https://hc-ping.com/uuid/").expect("url");
        assert_eq!(
            join(&slash, "start").as_str(),
            "https://hc-ping.com/uuid/start"
        );
    }

    #[test]
    fn robots_get_text_made_from_the_summary() {
        let summary = r#"{"rows":3,"counts":{"delivered":2,"rejected":1,"failed":0},"amounts":{"delivered":"200.00"},"errors":[{"error_code":"B0107","sub_code":"","count":1}],"error":null,"run_id":"r1"}"#;
        let ding: serde_json::Value =
            serde_json::from_str(&message(NotifyFormat::Dingtalk, 1, summary)).expect("json");
        assert_eq!(ding["msgtype"], "text");
        let text = ding["text"]["content"].as_str().expect("text");
        assert!(
            text.contains("exit 1") && text.contains("delivered 2, rejected 1"),
            "{text}"
        );
        assert!(text.contains("¥200.00") && text.contains("B0107"), "{text}");
        let feishu: serde_json::Value =
            serde_json::from_str(&message(NotifyFormat::Feishu, 1, summary)).expect("json");
        assert_eq!(feishu["msg_type"], "text");
        assert_eq!(message(NotifyFormat::Json, 1, summary), summary);
        let shown = shown(
            &url::Url::parse("https://u:pw@oapi.dingtalk.com/robot/send?access_token=T")
                .expect("url"),
        );
        assert!(!shown.contains("pw") && !shown.contains('T'), "{shown}");
    }
}

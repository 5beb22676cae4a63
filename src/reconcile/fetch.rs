//! The walk's pages from the gateway: within `--qps`, within the day's call budget
//! (`daily_quota`, counted in the ledger with every other command's calls), a
//! transient failure asked again a few times, a ban waited out when it is short —
//! else the walk stops, saying why as a `HaltKind` a machine can act on.

use std::time::Duration;

use super::walk::Pages;
use crate::send::halt::HaltKind;
use crate::top::reply::Verdict;
use crate::top::trades::{self, Page, PageQuery};
use crate::top::{Reply, TopClient};

/// Why the walk stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Stop {
    #[error("the platform refused the trades query: {code} {msg}{sub}", code = reply.error_code, msg = reply.error_msg, sub = sub(reply))]
    Platform { reply: Reply, kind: HaltKind },
    #[error(
        "the next call would pass today's daily_quota of {quota} calls ({used} made today, by every command): stopped before it; the quota resets at 00:00 Beijing time"
    )]
    Quota { used: u64, quota: u64 },
}

fn sub(reply: &Reply) -> String {
    if reply.sub_code.is_empty() {
        String::new()
    } else {
        format!(" ({}: {})", reply.sub_code, reply.sub_msg)
    }
}

impl Stop {
    pub fn kind(&self) -> HaltKind {
        match self {
            Stop::Platform { kind, .. } => *kind,
            Stop::Quota { .. } => HaltKind::DailyQuota,
        }
    }

    /// What to do about it, for ops.
    pub fn advice(&self) -> Option<&'static str> {
        match self {
            Stop::Platform { reply, .. }
                if matches!(reply.error_code.as_str(), "11" | "12" | "13") =>
            {
                Some(
                    "the app lacks the trade permission (taobao.trades.sold.increment.get): apply for it on the open platform console; reconcile cannot run until it has it",
                )
            }
            Stop::Platform { reply, .. } => {
                crate::top::reply::advice(&reply.error_code, &reply.sub_code)
            }
            Stop::Quota { .. } => None,
        }
    }
}

/// Pages from the gateway.
#[derive(Debug)]
pub struct Gateway<'a> {
    pub client: &'a TopClient,
    /// The least time between two calls (`--qps`).
    pub spacing: Option<Duration>,
    /// Calls made before this walk today, and the day's budget.
    pub used_before: u64,
    pub quota: Option<u64>,
    /// The longest ban waited out.
    pub max_ban_wait: Duration,
    /// Waits between the tries of a transient failure.
    pub backoff: Vec<Duration>,
    /// Calls made (every try counts: the platform counts them).
    pub made: u64,
    /// Time spent waiting for the platform's answers (the rest is the client's own).
    pub waited: Duration,
    last: Option<tokio::time::Instant>,
}

impl<'a> Gateway<'a> {
    pub fn new(client: &'a TopClient) -> Self {
        Gateway {
            client,
            spacing: None,
            used_before: 0,
            quota: None,
            max_ban_wait: Duration::from_secs(60),
            backoff: vec![
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(5),
            ],
            made: 0,
            waited: Duration::ZERO,
            last: None,
        }
    }

    async fn pace(&mut self) {
        if let (Some(spacing), Some(last)) = (self.spacing, self.last) {
            tokio::time::sleep_until(last + spacing).await;
        }
        self.last = Some(tokio::time::Instant::now());
    }
}

impl Pages for Gateway<'_> {
    type Stop = Stop;

    async fn page(&mut self, query: &PageQuery) -> Result<Page, Stop> {
        let mut tries = 0;
        loop {
            if let Some(quota) = self.quota
                && self.used_before + self.made >= quota
            {
                return Err(Stop::Quota {
                    used: self.used_before + self.made,
                    quota,
                });
            }
            self.pace().await;
            self.made += 1;
            let params = query.params();
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let asked = std::time::Instant::now();
            let answer = self.client.call_api(trades::METHOD, &pairs).await;
            self.waited += asked.elapsed();
            let reply = match answer.map(|body| trades::parse_page(&body)) {
                Ok(Ok(page)) => return Ok(page),
                Ok(Err(error)) => self.client.unreadable(&error.to_string()),
                Err(reply) => reply,
            };
            let stop = |kind: HaltKind| Stop::Platform {
                reply: reply.clone(),
                kind,
            };
            match reply.verdict {
                Verdict::RateLimited { ban: Some(ban) } if ban <= self.max_ban_wait => {
                    tracing::warn!(
                        seconds = ban.as_secs(),
                        "the platform bans the app for a while: waiting it out"
                    );
                    tokio::time::sleep(ban.max(Duration::from_secs(1))).await;
                }
                Verdict::Transient if tries < self.backoff.len() => {
                    tracing::warn!(code = %reply.error_code, "a trades page failed for now: asking again");
                    tokio::time::sleep(self.backoff[tries]).await;
                    tries += 1;
                }
                Verdict::Transient => return Err(stop(HaltKind::GatewayDown)),
                Verdict::RateLimited { .. } => {
                    return Err(stop(HaltKind::of_code("7", &reply.sub_code)));
                }
                Verdict::Rejected => return Err(stop(HaltKind::Gateway)),
                Verdict::Fatal => {
                    return Err(stop(HaltKind::of_code(&reply.error_code, &reply.sub_code)));
                }
                Verdict::Delivered => return Err(stop(HaltKind::Gateway)),
            }
        }
    }
}

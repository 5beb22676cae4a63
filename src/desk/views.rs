//! The desk's working pages: logging in, the outstanding orders, submitting a file,
//! its preview, a send's progress and end, and the error page. The frame and the
//! tables they share are in `pages`.

use std::sync::Arc;

use maud::{Markup, html};

use super::i18n::Lang;
use super::jobs::{DeskSend, Ended};
use super::outstanding::{WorkFilter, Worklist};
use super::pages::{Frame, codes_table, notice, page, rows_table, tally_table};
use super::runs::{ResultFile, Shown};
use super::state::{Preview, Submission};
use crate::status::Status;

pub fn login(frame: Frame<'_>, passwords: bool, error: Option<&str>) -> Markup {
    let t = |key| frame.lang.t(key);
    page(
        frame,
        t("login.title"),
        html! {
            @if let Some(error) = error { (notice("error", error)) }
            @if passwords {
                form.login method="post" action="/login" {
                    label { (t("login.name")) input type="text" name="name" autocomplete="username" required; }
                    label { (t("login.password")) input type="password" name="password" autocomplete="current-password" required; }
                    button.primary type="submit" { (t("action.login")) }
                }
            } @else {
                p { (t("login.hint")) }
            }
        },
    )
}

pub fn error(frame: Frame<'_>, text: &str) -> Markup {
    page(frame, frame.lang.t("title"), notice("error", text))
}

pub fn outstanding(
    frame: Frame<'_>,
    list: &Worklist,
    shown: &[Shown],
    filter: &WorkFilter,
    invalid: &[ResultFile],
) -> Markup {
    let t = |key| frame.lang.t(key);
    let selected = |on: bool| on.then_some("selected");
    let orders = &list.matching;
    let clerk = frame.role >= Some(super::auth::Role::Clerk);
    page(
        frame,
        t("outstanding.title"),
        html! {
            p { (t("outstanding.intro")) }
            form.search method="get" action="/work" {
                label { (t("col.status")) " " select name="status" {
                    option value="" { (t("outstanding.any")) }
                    option value="rejected" selected=[selected(filter.status == Some(Status::Rejected))] { (super::pages::status_name(frame.lang, Status::Rejected)) }
                    option value="failed" selected=[selected(filter.status == Some(Status::Failed))] { (super::pages::status_name(frame.lang, Status::Failed)) }
                } }
                label { (t("col.code")) " " input type="text" name="code" value=(filter.code.clone().unwrap_or_default()) maxlength="64" size="10"; }
                label { (t("outstanding.date")) " " input type="date" name="date" value=(filter.date.clone().unwrap_or_default()); }
                label { (t("outstanding.run")) " " input type="text" name="run" value=(filter.run.clone().unwrap_or_default()) maxlength="64" size="14"; }
                label { (t("col.source")) " " input type="text" name="source" value=(filter.source.clone().unwrap_or_default()) maxlength="64" size="12"; }
                label { input type="checkbox" name="due" value="1" checked[filter.due]; " " (t("outstanding.due_only")) }
                input type="search" name="q" value=(filter.q.clone().unwrap_or_default()) maxlength="64" placeholder=(t("orders.placeholder"));
                button.primary type="submit" { (t("orders.find")) }
            }
            p.meta id="matching" { (t("outstanding.matching").replace("{n}", &orders.len().to_string()).replace("{total}", &list.total.to_string())) }
            @if list.resending > 0 {
                p.meta id="resending" { (t("outstanding.resending").replace("{n}", &list.resending.to_string())) }
            }
            @if !invalid.is_empty() {
                (notice("warn", t("outstanding.invalid")))
                table.invalid {
                    thead { tr { th { (t("col.run")) } th { (t("col.when")) } th.num { (t("outstanding.invalid_rows")) } } }
                    tbody {
                        @for run in invalid {
                            tr {
                                td { a href={ "/runs/" (run.id) } { (run.name) } }
                                td { (run.when()) }
                                td.num { (run.tally.count(Status::Invalid)) }
                            }
                        }
                    }
                }
            }
            @if orders.is_empty() { p { (t("outstanding.empty")) } } @else {
                p.actions { a.button.primary href={ "/work.xlsx?" (filter.query()) } download { (t("action.download_outstanding")) " (" (orders.len()) ")" } }
                @if orders.iter().any(|o| o.deadline.is_some()) {
                    p { (t("outstanding.due")) }
                    table.due {
                        thead { tr { th { (t("col.deadline")) } th { (t("col.order_no")) } th { (t("col.req_id")) } th { (t("col.status")) } } }
                        tbody {
                            @for order in orders.iter().filter(|o| o.deadline.is_some()).take(super::outstanding::WORKLIST_SHOWN) {
                                tr {
                                    td { (order.deadline.as_deref().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) }
                                    td.number { (order.order_no) }
                                    td { a href={ "/orders/" (order.req_id) } { (order.req_id) } }
                                    td { (super::pages::status_name(frame.lang, super::outstanding::status_of(order))) }
                                }
                            }
                        }
                    }
                }
                // The ticked orders: each action acts on exactly those.
                form.selection id="selection" method="post" action="/work/selected" {
                    input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                    span.meta { (t("selection.intro")) }
                    button type="submit" name="do" value="download" formnovalidate { (t("selection.download")) }
                    @if clerk {
                        button type="submit" name="do" value="resend" formnovalidate { (t("selection.resend")) }
                        input type="text" name="reason" maxlength="500" placeholder=(t("close.reason"));
                        button type="submit" name="do" value="close" { (t("selection.close")) }
                    }
                }
                (rows_table(frame.lang, shown, Some("selection")))
                @if shown.len() < orders.len() {
                    p.meta { (t("outstanding.first").replace("{n}", &shown.len().to_string())) }
                }
                @if clerk {
                    h2 { (t("selection.all").replace("{n}", &orders.len().to_string())) }
                    form.search method="post" action="/work/selected" {
                        input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                        input type="hidden" name="filter" value=(filter.query());
                        button type="submit" name="do" value="resend" id="resend-all" { (t("selection.resend_all").replace("{n}", &orders.len().to_string())) }
                    }
                    h2 { (t("close.matching").replace("{n}", &orders.len().to_string())) }
                    p { (t("close.explain")) }
                    form.search method="post" action="/close" {
                        input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                        input type="hidden" name="filter" value=(filter.query());
                        input type="text" name="reason" required maxlength="500" placeholder=(t("close.reason"));
                        button type="submit" id="close-all" { (t("close.button")) }
                    }
                }
            }
        },
    )
}

/// What the upload page says of its limits.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_upload: u64,
    pub ttl: std::time::Duration,
    pub used: u64,
    pub budget: u64,
}

pub fn submit(frame: Frame<'_>, limits: &UploadLimits, error: Option<&str>) -> Markup {
    let t = |key| frame.lang.t(key);
    page(
        frame,
        t("submit.title"),
        html! {
            @if let Some(error) = error { (notice("error", error)) }
            p { (t("submit.intro")) }
            form.upload method="post" action="/submit" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                input type="file" name="file" accept=".xlsx,.csv,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required;
                button.primary type="submit" { (t("action.upload")) }
            }
            p.meta {
                (t("submit.limit")) ": " (limits.max_upload / (1 << 20)) " MiB · "
                (t("submit.kept").replace("{h}", &humantime::format_duration(limits.ttl).to_string())) " · "
                (t("submit.space")) ": " (limits.used.div_ceil(1 << 20)) " / " (limits.budget / (1 << 20)) " MiB"
            }
        },
    )
}

pub fn preview(
    frame: Frame<'_>,
    submission: &Submission,
    problem: Option<&str>,
    needs_approval: bool,
) -> Markup {
    let lang = frame.lang;
    let t = |key| lang.t(key);
    let preview: Arc<Preview> = submission.preview();
    html! {
        (page(frame, &format!("{} · {}", t("preview.title"), submission.label), html! {
            @if let Some(problem) = problem { (notice("error", problem)) }
            p.meta { (t("preview.by")) ": " (submission.user) " · SHA-256 " code { (&submission.stored.sha256[..16]) } }
            @match &preview.ended {
                Ended::Refused { message, .. } => {
                    (notice("error", &format!("{}: {message}", t("error.preview_failed"))))
                }
                Ended::Ran { .. } => {
                    (notice("info", t("preview.intro")))
                    dl.figures {
                        dt { (t("preview.calls")) } dd id="calls" { (preview.tally.count(Status::WouldSend)) }
                        dt { (t("preview.amount")) } dd id="amount" { (preview.tally.amount(Status::WouldSend)) }
                    }
                    @if preview.tally.count(Status::WouldSend) > 0 && needs_approval {
                        p { (t("request.explain")) }
                        form method="post" action={ "/submissions/" (submission.id) "/request" } {
                            input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                            button.primary id="request" type="submit" { (t("action.request_send")) }
                        }
                    } @else if preview.tally.count(Status::WouldSend) > 0 {
                        form method="post" action={ "/submissions/" (submission.id) "/send" } {
                            input type="hidden" name="csrf" value=(frame.csrf.unwrap_or_default());
                            button.primary id="confirm" type="submit" { (t("action.confirm_send")) }
                        }
                    } @else {
                        p { (t("preview.nothing")) }
                    }
                    h2 { (t("run.by_status")) }
                    (tally_table(lang, &preview.tally))
                    (codes_table(lang, &preview.tally))
                    (rows_table(lang, &preview.rows, None))
                    @if (preview.rows.len() as u64) < preview.tally.rows() {
                        p.meta { (t("preview.more").replace("{n}", &preview.rows.len().to_string())) }
                    }
                }
            }
        }))
    }
}

pub fn job(frame: Frame<'_>, job: &DeskSend, result: Option<&super::runs::ResultFile>) -> Markup {
    let lang = frame.lang;
    let t = |key| lang.t(key);
    let now = job.live.snapshot();
    let ended = job.ended();
    page(
        frame,
        t("job.title"),
        html! {
            @match &ended {
                None => {
                    (notice("info", t("job.running")))
                }
                Some(Ended::Refused { message, .. }) => {
                    (notice("error", &format!("{}: {message}", t("job.failed"))))
                }
                Some(Ended::Ran { exit, .. }) => {
                    @let (kind, key) = match exit.code() {
                        0 => ("info", "job.exit_0"),
                        1 => ("warn", "job.exit_1"),
                        3 => ("error", "job.exit_3"),
                        _ => ("error", "job.exit_other"),
                    };
                    (notice(kind, &format!("{}：{}", t("job.done"), t(key))))
                }
            }
            section id="progress" data-status={ "/jobs/" (job.id) "/status" } data-running=(if ended.is_none() { "1" } else { "0" }) {
                progress id="bar" max=(now.map_or(1, |n| n.total.max(1))) value=(now.map_or(0, |n| n.done)) {}
                dl.figures {
                    dt { (t("job.progress")) } dd id="done" { (now.map_or(0, |n| n.done)) " / " (now.map_or(0, |n| n.total)) }
                    dt { (t("job.rate")) } dd id="rate" { (format!("{:.0}", now.map_or(0.0, |n| n.rate))) }
                    dt { (t("job.eta")) } dd id="eta" { (now.and_then(|n| n.eta_seconds).map_or("—".to_owned(), |s| format!("{s:.0} s"))) }
                    dt { (super::pages::status_name(lang, Status::Delivered)) } dd id="delivered" { (now.map_or(0, |n| n.delivered)) }
                    dt { (super::pages::status_name(lang, Status::Rejected)) } dd id="rejected" { (now.map_or(0, |n| n.rejected)) }
                    dt { (super::pages::status_name(lang, Status::Failed)) } dd id="failed" { (now.map_or(0, |n| n.failed)) }
                }
            }
            p.meta { a href={ "/submissions/" (job.submission) } { (t("preview.title")) } }
            @if let Some(run) = result {
                p.actions {
                    a.button href={ "/runs/" (run.id) } { (run.name) }
                    a.button href={ "/runs/" (run.id) "/results.xlsx" } download { (t("action.download_results")) }
                    @if run.tally.attention_total() > 0 {
                        a.button.primary href={ "/runs/" (run.id) "/attention.xlsx" } download { (t("action.download_attention")) }
                    }
                }
                (tally_table(lang, &run.tally))
                (codes_table(lang, &run.tally))
            }
        },
    )
}

/// `Lang` for pages rendered before anyone is known.
pub fn anonymous(lang: Lang) -> Frame<'static> {
    Frame {
        lang,
        csrf: None,
        user: None,
        role: None,
    }
}

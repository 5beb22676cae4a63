//! The desk's pages, rendered on the server (maud: checked at compile time, escaped by
//! default). Every page has the same frame: the navigation, the language switch, the
//! logout button; no script but `/assets/desk.js`, which only polls a send's progress.

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, html};

use super::i18n::Lang;
use super::runs::{ResultFile, Shown};
use crate::ledger::runs::RunRow;
use crate::results::tally::Tally;
use crate::status::Status;

/// Who is looking, for the frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub lang: Lang,
    /// The session's CSRF token, when logged in.
    pub csrf: Option<&'a str>,
    pub user: Option<&'a str>,
    /// What the visitor may do (the links shown).
    pub role: Option<super::auth::Role>,
}

/// A status as the page's language names it.
pub fn status_name(lang: Lang, status: Status) -> String {
    match lang {
        Lang::Zh => status.chinese().to_owned(),
        Lang::En => {
            let words = status.as_str().replace('_', " ");
            let mut chars = words.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
    }
}

pub fn page(frame: Frame<'_>, title: &str, body: Markup) -> Markup {
    let t = |key| frame.lang.t(key);
    html! {
        (DOCTYPE)
        html lang=(frame.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t("title")) }
                link rel="stylesheet" href="/assets/desk.css";
                script src="/assets/desk.js" defer {}
            }
            body {
                header {
                    strong.brand { (t("title")) }
                    @if let Some(csrf) = frame.csrf {
                        nav {
                            a href="/" { (t("nav.runs")) }
                            a href="/work" { (t("nav.outstanding")) }
                            a href="/orders" { (t("nav.orders")) }
                            a href="/requests" { (t("nav.requests")) }
                            a href="/audit" { (t("nav.audit")) }
                            @if frame.role >= Some(super::auth::Role::Clerk) {
                                a href="/submit" { (t("nav.submit")) }
                            }
                            @if frame.role == Some(super::auth::Role::Admin) {
                                a href="/users" { (t("nav.users")) }
                            }
                        }
                        span.spacer {}
                        @if let Some(user) = frame.user {
                            span.user { (user) @if let Some(role) = frame.role { " · " (frame.lang.t(&format!("role.{}", role.as_str()))) } }
                        }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button.link type="submit" { (t("action.logout")) }
                        }
                    } @else {
                        span.spacer {}
                    }
                    a.lang href={ "/lang/" (frame.lang.other().param()) } { (t("lang.switch")) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// Plain-word advice for a row's codes, in the page's language.
fn advice(lang: Lang, error_code: &str, sub_code: &str) -> &'static str {
    crate::advice::advice(error_code, sub_code).map_or("", |pair| lang.pick(pair))
}

/// A message box: `kind` is `error`, `warn` or `info`.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={ "notice " (kind) } role="alert" { (text) } }
}

/// Rows and amounts by status, with the total (each row once).
pub fn tally_table(lang: Lang, tally: &Tally) -> Markup {
    let t = |key| lang.t(key);
    html! {
        table.counts {
            thead { tr { th { (t("col.status")) } th.num { (t("col.count")) } th.num { (t("col.amount")) } } }
            tbody {
                @for (status, count, amount) in tally.by_status() {
                    tr class=[status.needs_attention().then_some("attention")] {
                        td { (status_name(lang, status)) }
                        td.num { (count) }
                        td.num { (amount) }
                    }
                }
            }
            // Each order once: a repeated row is not another order (nor more money).
            tfoot { tr {
                th { (t("total")) }
                th.num { (tally.rows() - tally.count(Status::DuplicateInInput)) }
                th.num { (tally.by_status().filter(|(s, _, _)| *s != Status::DuplicateInInput).map(|(_, _, cents)| cents).sum::<crate::money::Cents>()) }
            } }
        }
    }
}

/// Rows needing attention grouped by code, with the first message and the advice.
pub fn codes_table(lang: Lang, tally: &Tally) -> Markup {
    let t = |key| lang.t(key);
    let groups = tally.errors();
    html! {
        @if !groups.is_empty() {
            h2 { (t("run.by_code")) }
            table.codes {
                thead { tr { th { (t("col.code")) } th.num { (t("col.count")) } th { (t("col.reason")) } th { (t("col.advice")) } } }
                tbody {
                    @for group in groups {
                        tr {
                            td { code { (group.code()) } }
                            td.num { (group.count) }
                            td {
                                @match crate::reason::chinese(&group.error_code, &group.message).filter(|_| lang == Lang::Zh) {
                                    Some(zh) => { (zh) br; small.muted { (group.message) } }
                                    None => { (group.message) }
                                }
                            }
                            td { (advice(lang, &group.error_code, &group.sub_code)) }
                        }
                    }
                }
            }
        }
    }
}

/// The last part of a source's path: where the file sits on the server is no
/// business of the page's.
fn file_name(source: &str) -> &str {
    source.rsplit('/').next().unwrap_or(source)
}

/// Result rows: where they are (the row Excel shows), what they are, why, what to do.
/// The rows as a table; with `pick` (a form's id), each row a box to tick that names its
/// req_id in that form.
pub fn rows_table(lang: Lang, rows: &[Shown], pick: Option<&str>) -> Markup {
    let t = |key| lang.t(key);
    html! {
        table.rows {
            thead {
                tr {
                    @if let Some(form) = pick {
                        th { input #pick-all type="checkbox" data-form=(form) aria-label=(t("col.pick")) title=(t("col.pick")); }
                    }
                    th { (t("col.source")) } th.num { (t("col.row")) } th { (t("col.req_id")) }
                    th { (t("col.order_no")) } th.num { (t("col.amount")) } th { (t("col.status")) }
                    th { (t("col.code")) } th { (t("col.reason")) } th { (t("col.advice")) }
                }
            }
            tbody {
                @for shown in rows {
                    @let row = &shown.row;
                    tr class=[row.status.needs_attention().then_some("attention")] {
                        @if let Some(form) = pick {
                            td { input type="checkbox" name="orders" value=(row.fields.req_id) form=(form) aria-label=(row.fields.req_id); }
                        }
                        td { (file_name(&shown.source)) }
                        td.num { @if row.line > 0 { (row.line) } }
                        td { code { (row.fields.req_id) } }
                        td { code { (row.fields.order_no) } }
                        td.num { (crate::money::Cents::first_charge(&row.fields.ext).map(|c| c.to_string()).unwrap_or_default()) }
                        td {
                            (status_name(lang, row.status))
                            @if let Some(now) = shown.now {
                                br; small.muted { (lang.t("run.now")) ": " (lang.t(&format!("state.{}", now.as_str()))) }
                            }
                        }
                        td { code { (row.error_code) } @if !row.sub_code.is_empty() { " " code { (row.sub_code) } } }
                        td {
                            @let english = crate::results::tally::message(&row.error_msg, &row.sub_msg);
                            @match crate::reason::chinese(&row.error_code, &row.error_msg).filter(|_| lang == Lang::Zh) {
                                Some(zh) => { (zh) br; small.muted { (english) } }
                                None => { (english) }
                            }
                        }
                        td {
                            (crate::advice::for_row(row.status, &row.error_code, &row.sub_code).map_or("", |pair| lang.pick(pair)))
                            @if !shown.changed.is_empty() {
                                div.changed {
                                    strong { (t("preview.changed")) }
                                    @for (field, before, now) in &shown.changed {
                                        br; (lang.t(&format!("field.{field}"))) ": " del { (before) } " → " ins { (now) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The runs list.
pub fn runs(
    frame: Frame<'_>,
    runs: &[ResultFile],
    recorded: &HashMap<String, RunRow>,
    lock: Option<&str>,
) -> Markup {
    let lang = frame.lang;
    let t = |key| lang.t(key);
    page(
        frame,
        t("runs.title"),
        html! {
            @if let Some(holder) = lock { (notice("warn", &format!("{} ({holder})", t("error.locked")))) }
            @if runs.is_empty() {
                p { (t("runs.empty")) }
            } @else {
                table.runs {
                    thead { tr {
                        th { (t("col.when")) } th { (t("col.file")) } th { (t("col.started_by")) } th.num { (t("col.rows")) }
                        th.num { (status_name(lang, Status::Delivered)) } th.num { (t("col.amount_delivered")) }
                        th.num { (t("col.attention")) }
                    } }
                    tbody {
                        @for run in runs {
                            tr {
                                td { (run.when()) }
                                td { a href={ "/runs/" (run.id) } { (run.name) } }
                                td { (recorded.get(&run.name).map(|r| r.started_by.as_str()).unwrap_or_default()) }
                                td.num { (run.tally.rows()) }
                                td.num { (run.tally.count(Status::Delivered)) }
                                td.num { (run.tally.amount(Status::Delivered)) }
                                td class={ "num" @if run.tally.attention_total() > 0 { " attention" } } { (run.tally.attention_total()) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// One run: what `report` shows, the rows needing attention, the downloads.
pub fn run(
    frame: Frame<'_>,
    run: &ResultFile,
    recorded: Option<&RunRow>,
    rows: &[Shown],
) -> Markup {
    let lang = frame.lang;
    let t = |key| lang.t(key);
    page(
        frame,
        &run.name,
        html! {
            p.meta { (run.when()) }
            // What the ledger recorded of the run: who or what started it, and the
            // exports it read, each by its SHA-256 (the file as it was).
            @if let Some(recorded) = recorded {
                dl.figures id="recorded" {
                    dt { (t("col.run")) } dd { code { (recorded.id) } }
                    dt { (t("col.started_by")) } dd { (recorded.started_by) }
                    @if let Some(exit) = recorded.exit_code {
                        dt { (t("run.exit")) } dd { (exit) }
                    }
                }
                @if !recorded.inputs.is_empty() {
                    table.inputs {
                        thead { tr { th { (t("run.input")) } th { "SHA-256" } th.num { (t("run.bytes")) } } }
                        tbody {
                            @for (name, sha256, bytes) in &recorded.inputs {
                                tr {
                                    td { (super::runs::label_of(name)) }
                                    td { code { (sha256.as_deref().unwrap_or_default()) } }
                                    td.num { (bytes.map(|b| b.to_string()).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
            p.actions {
                a.button href={ "/runs/" (run.id) "/results.xlsx" } download { (t("action.download_results")) }
                @if run.tally.attention_total() > 0 {
                    a.button.primary href={ "/runs/" (run.id) "/attention.xlsx" } download { (t("action.download_attention")) }
                }
            }
            h2 { (t("run.by_status")) }
            (tally_table(lang, &run.tally))
            (codes_table(lang, &run.tally))
            h2 { (t("run.attention")) }
            @if rows.is_empty() { p { (t("run.none")) } } @else {
                (rows_table(lang, rows, None))
                @if (rows.len() as u64) < run.tally.attention_total() {
                    p.meta { (t("preview.more").replace("{n}", &rows.len().to_string())) }
                }
            }
        },
    )
}

//! The desk's pages pinned as they render from typed values: a change to a template
//! shows up here as a diff to review (`cargo insta review`), not as a substring a test
//! happened not to look for. One tag a line, so a diff reads.

use std::collections::HashMap;
use std::sync::Arc;

use super::auth::Role;
use super::i18n::Lang;
use super::outstanding::{WorkFilter, Worklist};
use super::pages::Frame;
use super::runs::{ResultFile, Shown};
use super::views;
use crate::ledger::OrderState;
use crate::ledger::orders::OrderRow;
use crate::status::Status;

/// One tag a line.
fn lines(markup: maud::Markup) -> String {
    markup.into_string().replace("><", ">\n<")
}

fn clerk(lang: Lang) -> Frame<'static> {
    Frame {
        lang,
        csrf: Some("c5rf"),
        user: Some("bo"),
        role: Some(Role::Clerk),
    }
}

fn order(req_id: &str, state: OrderState, code: &str, deadline: Option<&str>) -> OrderRow {
    let param0 = crate::order::Order {
        sub_order_no: None,
        order_no: 4_000_000_000_000_000_002,
        success: true,
        result_code: Some("0000".into()),
        result_desc: Some("充值成功".into()),
        req_id: req_id.into(),
        ext: Some(r#"{"firstChargeAmount":"50"}"#.into()),
    }
    .param0_json();
    OrderRow {
        param0: Some(param0),
        error_msg: "订单号不存在".into(),
        deadline: deadline.map(str::to_owned),
        ..OrderRow::example(req_id, state, code)
    }
}

fn worklist(lang: Lang) -> String {
    let orders = vec![
        order(
            "N2",
            OrderState::Rejected,
            "B0107",
            Some("2026-12-08T10:00:00.000+08:00"),
        ),
        order("N7", OrderState::Failed, "isp.remote-service-timeout", None),
    ];
    let list = Worklist {
        total: 3,
        matching: orders,
        resending: 4,
        sources: HashMap::from([("20261207T003000-cron".into(), "orders-1207.csv".into())]),
    };
    let shown: Vec<Shown> = super::outstanding::rows(&list.matching, &list.sources, &[])
        .iter()
        .map(Shown::from)
        .collect();
    let mut tally = crate::results::tally::Tally::default();
    let mut invalid = crate::results::ResultRow::new(Default::default(), Status::Invalid, 0, 5);
    invalid.error_code = "input.missing_req_id".into();
    tally.add(&invalid);
    let night = ResultFile {
        id: "0123456789abcdef".into(),
        name: "night-1207.xlsx".into(),
        path: "results/night-1207.xlsx".into(),
        modified: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_574_660),
        tally: Arc::new(tally),
    };
    let filter = WorkFilter {
        status: None,
        code: Some("B0107".into()),
        date: Some("2026-12-07".into()),
        ..WorkFilter::default()
    };
    lines(views::outstanding(
        clerk(lang),
        &list,
        &shown,
        &filter,
        &[night],
    ))
}

#[test]
fn the_worklist_in_chinese() {
    insta::assert_snapshot!(worklist(Lang::Zh));
}

#[test]
fn the_worklist_in_english() {
    insta::assert_snapshot!(worklist(Lang::En));
}

#[test]
fn an_error_page_for_someone_not_logged_in() {
    let lang = Lang::Zh;
    insta::assert_snapshot!(lines(views::error(
        views::anonymous(lang),
        lang.t("error.unknown_host")
    )));
}

#[test]
fn the_login_page_with_passwords() {
    insta::assert_snapshot!(lines(views::login(
        views::anonymous(Lang::En),
        true,
        Some(Lang::En.t("error.bad_login"))
    )));
}

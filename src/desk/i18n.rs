//! The desk's words in Chinese and English, from one catalogue: a page asks for a key
//! and gets the text of the visitor's language, chosen by a `lang` cookie (the switch
//! on every page) or else the browser's `Accept-Language`.

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn from_param(param: &str) -> Option<Lang> {
        match param {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header that the desk speaks, by
    /// weight; Chinese when none is (finance teams read Chinese).
    pub fn negotiate(accept: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.unwrap_or_default().split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::Zh, |(_, lang)| lang)
    }

    /// This language's text of a (Chinese, English) pair.
    pub fn pick(self, (zh, en): (&'static str, &'static str)) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// The text of `key` in this language; the key itself if the catalogue lacks it
    /// (a unit test makes sure it never does for the keys the pages use).
    pub fn t(self, key: &str) -> &'static str {
        match CATALOGUE.binary_search_by(|(k, _, _)| (*k).cmp(key)) {
            Ok(at) => match self {
                Lang::Zh => CATALOGUE[at].1,
                Lang::En => CATALOGUE[at].2,
            },
            Err(_) => "?",
        }
    }
}

/// (key, Chinese, English), sorted by key.
const CATALOGUE: &[(&str, &str, &str)] = &[
    ("action.confirm_send", "确认发送", "Confirm and send"),
    (
        "action.download_attention",
        "下载待处理行（可修改后重新提交）",
        "Download the rows needing attention (to correct and submit)",
    ),
    (
        "action.download_outstanding",
        "导出为工作簿",
        "Export as a workbook",
    ),
    (
        "action.download_results",
        "下载完整结果工作簿",
        "Download the whole result workbook",
    ),
    ("action.login", "登录", "Log in"),
    ("action.logout", "退出", "Log out"),
    ("action.upload", "上传并预检", "Upload and check"),
    ("audit.action", "操作", "Action"),
    (
        "audit.bad_filter",
        "筛选条件有误：日期写成 2026-12-07 或 2026-12-07 10:00，用户名和操作名不含控制字符。",
        "The filter is not one: dates as 2026-12-07 or 2026-12-07 10:00; a user and an action without control characters.",
    ),
    ("audit.detail", "内容", "What it touched"),
    (
        "audit.download",
        "下载 CSV（本次下载也会记入审计日志）",
        "Download as CSV (the download is logged too)",
    ),
    ("audit.empty", "没有符合条件的记录。", "No rows match."),
    ("audit.from", "从", "From"),
    ("audit.hash", "链哈希", "Chain hash"),
    (
        "audit.intro",
        "工作台的每一次操作（登录、上传、发送、下载……）都记在账本里，每一行带着上一行的 SHA-256：任何一行被改动或删除，运维用 opentrade-callback audit verify 都能发现。",
        "Every action on the desk (logins, uploads, sends, downloads…) is a row in the ledger carrying the SHA-256 of the row before it: ops finds any row changed or removed with opentrade-callback audit verify.",
    ),
    (
        "audit.more",
        "只显示最新的 500 行；下载 CSV 可得到全部符合条件的记录。",
        "Only the newest 500 rows are shown; the CSV has every row that matches.",
    ),
    ("audit.title", "审计日志", "Audit log"),
    ("audit.to", "到", "To"),
    ("audit.user", "用户", "User"),
    ("col.advice", "处理建议", "What to do"),
    ("col.amount", "金额（元）", "Amount (yuan)"),
    ("col.amount_delivered", "送达金额（元）", "Delivered (yuan)"),
    ("col.attempts", "尝试次数", "Attempts"),
    ("col.attention", "待处理", "Need attention"),
    ("col.code", "错误码", "Code"),
    ("col.count", "行数", "Rows"),
    ("col.deadline", "平台截止时间", "Platform deadline"),
    ("col.file", "文件", "File"),
    ("col.finished_at", "时间", "When"),
    ("col.order_no", "订单号", "Order no."),
    ("col.reason", "原因", "Reason"),
    ("col.req_id", "外部请求流水", "req_id"),
    ("col.row", "行（Excel）", "Row (Excel)"),
    ("col.rows", "总行数", "Rows"),
    ("col.run", "运行", "Run"),
    ("col.source", "来源", "From"),
    ("col.status", "状态", "Status"),
    ("col.sub_order_no", "子订单号", "Sub-order no."),
    ("col.top_request_id", "平台请求号", "Platform request id"),
    ("col.when", "时间", "When"),
    (
        "error.audit",
        "审计日志无法写入，所以此操作没有执行。请联系运维。",
        "The audit log cannot be written, so this was not done. Tell ops.",
    ),
    (
        "error.bad_csrf",
        "表单已过期，请刷新页面后重试。",
        "This form has expired: reload the page and try again.",
    ),
    (
        "error.bad_file",
        "无法识别此文件：请上传 Excel 工作簿（.xlsx）或 CSV 文本文件。",
        "This file is neither an Excel workbook (.xlsx) nor a CSV text file.",
    ),
    (
        "error.bad_login",
        "用户名或密码不正确。",
        "Wrong name or password.",
    ),
    (
        "error.busy",
        "同时请求太多，请稍后再试。",
        "Too many requests at once: try again in a moment.",
    ),
    (
        "error.changed_file",
        "文件在预检之后被改动过：什么也没有发送。请重新上传并预检。",
        "The file changed after it was checked: nothing was sent. Upload it and check it again.",
    ),
    ("error.empty_file", "文件为空。", "The file is empty."),
    (
        "error.locked",
        "账本正被另一个任务使用（通常是夜间任务），现在不能发送；什么也没有发送，也没有排队。请等它结束后再确认。",
        "The ledger is in use by another run (usually the nightly job), so nothing can be sent now; nothing was sent and nothing is queued. Confirm again once it has finished.",
    ),
    (
        "error.login_link",
        "登录链接无效或已使用。请让运维重新启动服务台以获取新链接。",
        "This login link is not valid or was already used. Ask ops to restart the desk for a new one.",
    ),
    (
        "error.not_found",
        "找不到该页面。",
        "There is no such page.",
    ),
    (
        "error.plan_changed",
        "自预检以来，要发送的内容已经变化（例如夜间任务已送达其中部分行）：什么也没有发送，下面是重新预检的结果。请核对后再确认。",
        "What would be sent changed since the check (the nightly run delivered some of the rows, say): nothing was sent, and it was checked again below. Look it over and confirm again.",
    ),
    ("error.preview_failed", "预检失败", "The check failed"),
    (
        "error.role",
        "你的角色不能做这件事：请找管理员。",
        "Your role may not do this: ask an admin.",
    ),
    (
        "error.send_running",
        "服务台已有一个发送任务在运行。",
        "A send from the desk is already running.",
    ),
    (
        "error.too_large",
        "文件太大：上限为",
        "The file is too large; the limit is",
    ),
    (
        "error.upload_space",
        "上传空间已满：请等较早的上传过期后再试，或联系运维。",
        "The space for uploads is full: try again once older uploads have expired, or tell ops.",
    ),
    ("field.ext", "扩展参数（首充）", "ext (first charge)"),
    ("field.order_no", "订单号", "order no."),
    ("field.result_code", "结果码", "result code"),
    ("field.result_desc", "结果描述", "result text"),
    ("field.sub_order_no", "子订单号", "sub-order no."),
    ("field.success", "是否成功", "success"),
    ("job.done", "已完成", "Finished"),
    ("job.eta", "预计剩余", "Time left"),
    (
        "job.exit_0",
        "全部送达（或此前已送达）。",
        "Every order was delivered (or had been before).",
    ),
    (
        "job.exit_1",
        "部分行需要处理：下载待处理行，修改后重新提交。",
        "Some rows need attention: download them, correct them and submit again.",
    ),
    (
        "job.exit_3",
        "发送中途停止（平台拒绝、限流或失败过多），未发送的行可稍后重新提交；请联系运维。",
        "The send stopped early (the platform refused, limited or failed too often); rows not sent can be submitted again later. Tell ops.",
    ),
    (
        "job.exit_other",
        "发送被中断；已发送的结果都已记录，未发送的行可重新提交。",
        "The send was interrupted; what was sent is recorded, and rows not sent can be submitted again.",
    ),
    ("job.failed", "发送未能开始", "The send could not start"),
    ("job.progress", "进度", "Progress"),
    ("job.rate", "速度（笔/秒）", "Rate (orders/s)"),
    (
        "job.running",
        "正在发送……可以刷新或关闭此页面，发送会继续。",
        "Sending… you may reload or close this page; the send goes on.",
    ),
    ("job.title", "发送", "Send"),
    ("lang.switch", "English", "中文"),
    (
        "login.hint",
        "请打开运维提供的登录链接。链接只能使用一次；若已失效，请运维重启服务台以获取新链接。",
        "Open the login link ops gave you. It works once; if it no longer does, ops restarts the desk for a new one.",
    ),
    ("login.name", "用户名", "Name"),
    ("login.password", "密码", "Password"),
    ("login.title", "登录服务台", "Log in to the desk"),
    ("nav.audit", "审计", "Audit"),
    ("nav.orders", "订单查询", "Orders"),
    ("nav.outstanding", "未完成订单", "Outstanding"),
    ("nav.runs", "运行记录", "Runs"),
    ("nav.submit", "提交更正", "Submit corrections"),
    ("nav.users", "用户", "Users"),
    ("order.closed", "已关闭", "Closed"),
    ("order.events", "经过", "What happened"),
    (
        "order.seen",
        "在导出中出现，本次未发送（见状态）",
        "In an export, not sent (see the status)",
    ),
    ("order.state", "账本状态", "State in the ledger"),
    ("order.title", "订单", "Order"),
    (
        "orders.bad_id",
        "请输入外部请求流水或订单号（字母、数字、_ 和 -，最长 64 个字符）。",
        "Give a req_id or an order number (letters, digits, _ and -, at most 64 characters).",
    ),
    ("orders.find", "查找", "Find"),
    (
        "orders.intro",
        "按外部请求流水或订单号查找一笔订单的全部经过：每次导出、每次发送和平台的答复、关闭。",
        "Find an order's whole story by its req_id or order number: every export it came in, every attempt and answer, its closure.",
    ),
    (
        "orders.none",
        "没有找到这笔订单（外部请求流水或订单号）。",
        "No order with that req_id or order number.",
    ),
    (
        "orders.placeholder",
        "外部请求流水或订单号",
        "req_id or order number",
    ),
    ("orders.title", "订单查询", "Find an order"),
    (
        "outstanding.due",
        "平台截止时间（由对账 reconcile 得出），最早的在前：过了截止时间，平台会自动关闭订单。",
        "The platform's deadlines (found by reconcile), soonest first: past its deadline the platform closes the order itself.",
    ),
    (
        "outstanding.empty",
        "没有未完成的订单。",
        "No outstanding orders.",
    ),
    (
        "outstanding.intro",
        "账本中最新状态为“被拒绝”或“失败”、此后未再送达的订单，无论来自哪一晚。",
        "Orders whose latest state in the ledger is rejected or failed and that were not delivered since, whatever night they came from.",
    ),
    ("outstanding.title", "未完成订单", "Outstanding orders"),
    (
        "preview.amount",
        "将发送的首充金额（元）",
        "First-charge amount to send (yuan)",
    ),
    ("preview.by", "上传者", "Uploaded by"),
    ("preview.calls", "将发送的回调数", "Callbacks to send"),
    (
        "preview.changed",
        "与上次发送的内容相比改动了：",
        "Changed since it was last sent:",
    ),
    (
        "preview.intro",
        "这是预检结果：还没有发送任何内容。确认后才会发送。",
        "This is a check: nothing has been sent. Nothing is sent until you confirm.",
    ),
    (
        "preview.more",
        "仅显示前 {n} 行。",
        "Only the first {n} rows are shown.",
    ),
    (
        "preview.nothing",
        "没有需要发送的行。",
        "There is nothing to send.",
    ),
    ("preview.title", "预检", "Check"),
    ("role.admin", "管理员", "admin"),
    ("role.approver", "审批人", "approver"),
    ("role.clerk", "经办人", "clerk"),
    ("role.viewer", "查看者", "viewer"),
    ("run.attention", "需要处理的行", "Rows needing attention"),
    ("run.by_code", "按错误码", "By error code"),
    ("run.by_status", "按状态", "By status"),
    ("run.none", "没有需要处理的行。", "No rows need attention."),
    (
        "runs.empty",
        "结果目录中还没有结果文件。",
        "No result files in the results directory yet.",
    ),
    ("runs.title", "运行记录", "Runs"),
    ("state.closed", "已关闭", "closed"),
    ("state.delivered", "已送达", "delivered"),
    ("state.failed", "失败", "failed"),
    ("state.pending", "待答复", "pending"),
    ("state.rejected", "被拒绝", "rejected"),
    (
        "submit.intro",
        "上传修改后的工作簿（.xlsx）或 CSV。上传后会立即对照账本预检，确认前不会发送任何内容。",
        "Upload a corrected workbook (.xlsx) or CSV. It is checked against the ledger at once; nothing is sent until you confirm.",
    ),
    (
        "submit.kept",
        "上传的文件和预检结果保留 {h}",
        "uploads and their checks are kept {h}",
    ),
    ("submit.limit", "文件大小上限", "Largest file"),
    ("submit.space", "已用上传空间", "upload space used"),
    ("submit.title", "提交更正", "Submit corrections"),
    ("title", "回调服务台", "Callback desk"),
    (
        "total",
        "合计（订单，重复行只计一次）",
        "Total (orders; a repeated row counts once)",
    ),
    ("users.active", "可登录", "active"),
    (
        "users.add",
        "添加用户或修改角色、密码",
        "Add a user, or set a role and password",
    ),
    ("users.bad_role", "请选择一个角色。", "Choose a role."),
    ("users.created", "创建", "Created"),
    ("users.disable", "停用", "Disable"),
    ("users.disabled", "已停用", "disabled"),
    (
        "users.first",
        "还没有用户：先为自己创建一个管理员账号，之后用名字和密码登录（一次性链接只用于创建第一个管理员）。",
        "No users yet: make an admin for yourself first, then log in with the name and password (the one-time link only makes the first admin).",
    ),
    (
        "users.from_file",
        "这个工作台的用户来自 --users 文件（每人都是管理员）：请运维用 users add --users 修改；要在这里管理用户，请改用账本里的用户（users add --ledger）。",
        "This desk's users come from a --users file (each an admin): ops changes them with users add --users; to manage users here, use the ledger's (users add --ledger).",
    ),
    (
        "users.hash_failed",
        "密码无法保存，请重试。",
        "The password could not be stored: try again.",
    ),
    (
        "users.intro",
        "工作台的用户保存在账本里：查看者只能看；经办人可以上传更正并发送；审批人审批他人的申请；管理员管理用户。停用后，该用户的所有会话立即结束。",
        "The desk's users live in the ledger: a viewer sees; a clerk uploads corrections and sends; an approver approves others' requests; an admin manages users. Disabling a user ends all their sessions at once.",
    ),
    ("users.name", "用户名", "Name"),
    (
        "users.not_yourself",
        "不能停用你自己的账号。",
        "You cannot disable your own account.",
    ),
    (
        "users.password",
        "密码（至少 10 个字符）",
        "Password (at least 10 characters)",
    ),
    ("users.role", "角色", "Role"),
    ("users.save", "保存", "Save"),
    ("users.state", "状态", "State"),
    ("users.title", "用户", "Users"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_and_whole() {
        for pair in CATALOGUE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (key, zh, en) in CATALOGUE {
            assert!(!zh.is_empty() && !en.is_empty(), "{key}");
        }
        assert_eq!(Lang::En.t("nav.runs"), "Runs");
        assert_eq!(Lang::Zh.t("nav.runs"), "运行记录");
        assert_eq!(Lang::Zh.t("no.such.key"), "?");
    }

    #[test]
    fn the_browser_chooses_by_weight() {
        assert_eq!(
            Lang::negotiate(Some("en-US,en;q=0.9,zh-CN;q=0.8")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("fr;q=1, en;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(Some("de")), Lang::Zh);
        assert_eq!(Lang::negotiate(None), Lang::Zh);
    }
}

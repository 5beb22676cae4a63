//! A reconcile's summary document as a group robot's text (the notification of
//! `--notify-url` with a robot's format): made from the JSON alone, so the hooks need
//! nothing else of reconcile.

/// A reconcile's summary as a robot's text: the buckets that need us, the orders
/// falling due (soonest first), why it stopped.
pub fn robot_text(exit: u8, doc: &serde_json::Value, label: &str) -> String {
    use crate::reconcile::bucket::Bucket;
    let verdict = match exit {
        0 => "对账完成，无即将到期的订单 nothing falls due",
        1 => "有订单即将到期 orders fall due",
        2 => "未运行 did not run (usage or configuration)",
        3 => "中途停止 halted early",
        4 => "账本被占用 another run holds the ledger",
        _ => "被中断 interrupted",
    };
    let mut text = format!("opentrade-callback reconcile [{label}]: exit {exit} — {verdict}");
    for bucket in Bucket::ALL {
        let count = doc["buckets"][bucket.as_str()].as_u64().unwrap_or(0);
        if count > 0 && bucket != Bucket::Done {
            text.push_str(&format!(
                "\n{} {}: {count}",
                bucket.chinese(),
                bucket.as_str()
            ));
            if let Some(due) = doc["due"][bucket.as_str()].as_u64().filter(|d| *d > 0) {
                text.push_str(&format!("（{due} 笔即将到期 due）"));
            }
        }
    }
    let due = doc["due_orders"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for order in due.iter().take(10) {
        text.push_str(&format!(
            "\n到期 due {} {} {}",
            order["deadline"].as_str().unwrap_or("?"),
            order["order_no"].as_str().unwrap_or(""),
            order["bucket"].as_str().unwrap_or("")
        ));
    }
    let total = doc["due_total"].as_u64().unwrap_or(0);
    if total > 10 {
        text.push_str(&format!("\n… {} more 另有 {} 笔", total - 10, total - 10));
    }
    if let Some(reason) = doc["halt_reason"].as_str() {
        text.push_str(&format!("\nhalt_reason: {reason}"));
    }
    if let Some(error) = doc["error"].as_str() {
        text.push_str(&format!("\n{}", crate::text::shorten(error, 300)));
    }
    text
}

//! Contradictory rows in the input: one req_id, different payloads. None of them is sent
//! (nothing tells which is right), and each row's message names the other rows and
//! the fields that differ. Rare by nature, so the rows are collected only when pass one
//! found such a req_id, by one more pass over the input.

use crate::input::{InputError, InputSet, parallel};
use crate::ledger::ReqKey;
use crate::ledger::key::KeyMap;
use crate::order::Order;

/// One row of a contradictory req_id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub source: u32,
    pub line: u64,
    pub order: Order,
}

/// Every row of each contradictory req_id, in input order.
#[derive(Debug, Default)]
pub struct Conflicts(KeyMap<Vec<Member>>);

impl Conflicts {
    /// Reads `inputs` once more and keeps the valid rows whose req_id `conflicted` says.
    pub fn collect(
        inputs: &InputSet,
        conflicted: impl Fn(&ReqKey) -> bool + Sync,
    ) -> Result<Conflicts, InputError> {
        let mut groups: KeyMap<Vec<Member>> = KeyMap::default();
        parallel::map_in_order(
            inputs,
            512,
            |_| {},
            |record| {
                let row = inputs.finish(record)?;
                let order = row.order.ok()?;
                let key = ReqKey::of(&order.req_id);
                conflicted(&key).then_some((
                    key,
                    Member {
                        source: row.source,
                        line: row.line,
                        order,
                    },
                ))
            },
            |batch| {
                for (key, member) in batch.into_iter().flatten() {
                    groups.entry(key).or_default().push(member);
                }
                true
            },
        )?;
        Ok(Conflicts(groups))
    }

    /// The same from rows at hand (tests).
    #[cfg(test)]
    pub fn of_rows<'a>(
        rows: impl IntoIterator<Item = &'a crate::input::InputRow>,
        conflicted: impl Fn(&ReqKey) -> bool,
    ) -> Conflicts {
        let mut groups: KeyMap<Vec<Member>> = KeyMap::default();
        for row in rows {
            if let Ok(order) = &row.order
                && conflicted(&ReqKey::of(&order.req_id))
            {
                groups
                    .entry(ReqKey::of(&order.req_id))
                    .or_default()
                    .push(Member {
                        source: row.source,
                        line: row.line,
                        order: order.clone(),
                    });
            }
        }
        Conflicts(groups)
    }

    /// The message for the row at `source`/`line` of `req_id`: the other rows of its
    /// req_id, each with the fields in which it differs from this one.
    pub fn message(&self, req_id: &str, source: u32, line: u64, names: &[String]) -> String {
        let Some(group) = self.0.get(&ReqKey::of(req_id)) else {
            return "req_id also appears elsewhere in the input with different content".into();
        };
        let this = group.iter().find(|m| (m.source, m.line) == (source, line));
        let others: Vec<String> = group
            .iter()
            .filter(|m| (m.source, m.line) != (source, line))
            .map(|other| {
                let place = format!(
                    "{} row {}",
                    names.get(other.source as usize).map_or("?", String::as_str),
                    other.line
                );
                match this.map(|this| differing(&this.order, &other.order)) {
                    Some(fields) if fields.is_empty() => format!("{place} (same content)"),
                    Some(fields) if fields.len() == 1 => format!("{place} ({} differs)", fields[0]),
                    Some(fields) => format!("{place} ({} differ)", fields.join(", ")),
                    None => place,
                }
            })
            .collect();
        format!(
            "the rows of this req_id disagree — also at {}; none of them is sent, as nothing tells which is right: correct them so they agree",
            others.join(", ")
        )
    }
}

/// The fields of `param0` in which two orders of one req_id differ.
pub fn differing(a: &Order, b: &Order) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut check = |name, same: bool| {
        if !same {
            fields.push(name);
        }
    };
    check("order_no", a.order_no == b.order_no);
    check("sub_order_no", a.sub_order_no == b.sub_order_no);
    check("success", a.success == b.success);
    check("result_code", a.result_code == b.result_code);
    check("result_desc", a.result_desc == b.result_desc);
    check("ext", a.ext == b.ext);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(success: bool, ext: Option<&str>) -> Order {
        Order {
            sub_order_no: None,
            order_no: 1,
            success,
            result_code: None,
            result_desc: None,
            req_id: "A".into(),
            ext: ext.map(str::to_owned),
        }
    }

    #[test]
    fn differing_fields_are_named() {
        assert_eq!(
            differing(&order(true, None), &order(false, Some("{}"))),
            ["success", "ext"]
        );
        assert!(differing(&order(true, None), &order(true, None)).is_empty());
    }

    #[test]
    fn a_message_names_every_other_row_and_how_it_differs() {
        let member = |line, success| Member {
            source: 0,
            line,
            order: order(success, None),
        };
        let mut groups = KeyMap::default();
        groups.insert(
            ReqKey::of("A"),
            vec![member(1, true), member(4, true), member(9, false)],
        );
        let conflicts = Conflicts(groups);
        let names = ["in.csv".to_owned()];
        let message = conflicts.message("A", 0, 1, &names);
        assert!(
            message.contains("in.csv row 4 (same content), in.csv row 9 (success differs)"),
            "{message}"
        );
        assert!(
            conflicts
                .message("A", 0, 9, &names)
                .contains("in.csv row 1 (success differs), in.csv row 4 (success differs)")
        );
    }
}

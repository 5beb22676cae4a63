//! What pass one read, kept small enough to check pass two against: every record's
//! content and place hashed (xxh3), and the hashes of each group of `GROUP` records
//! combined into one — 8 bytes per 256 records. Pass two hashes its records the same
//! way and compares each group before any of its rows is handed on, so a file that
//! changed under the run is caught before a row pass one did not read is sent, without
//! encoding any order twice.

use xxhash_rust::xxh3::Xxh3;

use super::cursor::Record;
use super::source::RecordData;
use crate::xlsx::read::Cell;

/// Records per group: pass two's batches hold exactly this many (but the last).
pub const GROUP: usize = 256;

/// One record's hash: its file, row and content.
pub fn of_record(record: &Record) -> u64 {
    let mut hash = Xxh3::new();
    hash.update(&record.source.to_le_bytes());
    hash.update(&record.line.to_le_bytes());
    match &record.data {
        RecordData::Csv { raw, .. } => {
            hash.update(b"c");
            for field in raw.iter() {
                hash.update(&(field.len() as u64).to_le_bytes());
                hash.update(field);
            }
            hash.update(&[u8::from(raw.oversize.is_some())]);
        }
        RecordData::Sheet { row, .. } => {
            hash.update(b"s");
            for cell in &row.cells {
                match cell {
                    Cell::Empty => hash.update(b"e"),
                    Cell::Text(text) => {
                        hash.update(&(text.len() as u64).to_le_bytes());
                        hash.update(text.as_bytes());
                    }
                    Cell::Error(code) => {
                        hash.update(b"!");
                        hash.update(code.as_bytes());
                    }
                    Cell::Number(n) => hash.update(&n.to_bits().to_le_bytes()),
                    Cell::Bool(b) => hash.update(&[2, u8::from(*b)]),
                    Cell::DateTime(parts) => {
                        for part in parts {
                            hash.update(&part.to_le_bytes());
                        }
                    }
                }
            }
            hash.update(&[u8::from(row.too_wide)]);
        }
    }
    hash.digest()
}

/// Combines record hashes into group hashes, in order.
#[derive(Default)]
pub struct Groups {
    current: Option<Xxh3>,
    in_group: usize,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups")
            .field("in_group", &self.in_group)
            .finish_non_exhaustive()
    }
}

impl Groups {
    /// Adds the next record's hash; the group's hash when this record completes one.
    pub fn add(&mut self, record: u64) -> Option<u64> {
        self.current
            .get_or_insert_with(Xxh3::new)
            .update(&record.to_le_bytes());
        self.in_group += 1;
        if self.in_group < GROUP {
            return None;
        }
        self.in_group = 0;
        self.current.take().map(|group| group.digest())
    }

    /// The hash of the last, incomplete group, if records are left in one.
    pub fn finish(&mut self) -> Option<u64> {
        self.in_group = 0;
        self.current.take().map(|group| group.digest())
    }
}

/// The group hashes of a whole pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fingerprints(pub Vec<u64>);

#[cfg(test)]
mod tests {
    use super::*;

    fn groups_of(records: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut groups = Groups::default();
        let mut out: Vec<u64> = records.into_iter().filter_map(|r| groups.add(r)).collect();
        out.extend(groups.finish());
        out
    }

    #[test]
    fn a_change_anywhere_changes_its_group_only() {
        let base: Vec<u64> = (0..600).collect();
        let mut changed = base.clone();
        changed[300] = 9999;
        let (a, b) = (groups_of(base.clone()), groups_of(changed));
        assert_eq!(a.len(), 3, "256 + 256 + 88");
        assert_eq!((a[0], a[2]), (b[0], b[2]));
        assert_ne!(a[1], b[1]);
        let mut shorter = base;
        shorter.pop();
        assert_ne!(groups_of(shorter)[2], a[2]);
    }
}

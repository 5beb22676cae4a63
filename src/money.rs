//! Money, to the cent and never through floating point: first-charge amounts read
//! from text (`99.5`, `1000.00`) or from an `ext` JSON text, added up in whole cents,
//! and shown in yuan (`149.90`). Pure; the one place amounts are parsed and printed
//! (a workbook cell is the one float, converted at its edge).

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// An amount in whole cents (分).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub u128);

impl Cents {
    /// An amount written as digits with at most two decimals (`99.5`, `1000.00`).
    pub fn parse(amount: &str) -> Option<Cents> {
        let (integer, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        if fraction.len() > 2
            || integer.is_empty()
            || !integer.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole: u128 = integer.parse().ok()?;
        // `5` is 50 cents, `05` five: the fraction's digits, padded to two.
        let cents = fraction
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(2)
            .fold(0, |cents, digit| cents * 10 + u128::from(digit - b'0'));
        whole.checked_mul(100)?.checked_add(cents).map(Cents)
    }

    /// `firstChargeAmount` of an `ext` JSON text, when it has a readable one.
    pub fn first_charge(ext: &str) -> Option<Cents> {
        const KEY: &str = "\"firstChargeAmount\":\"";
        // Built once: this runs for every row of every run.
        static NAME: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("firstChargeAmount"));
        // Most rows' ext has none, or no ext at all: no JSON parse for those.
        let at = NAME.find(ext.as_bytes())?;
        // The canonical form (`"firstChargeAmount":"99.50"`, as a valid row's ext is
        // sent, the name once) is read in place.
        if at > 0
            && ext[at - 1..].starts_with(KEY)
            && NAME.find(&ext.as_bytes()[at + 1..]).is_none()
            && let Some(rest) = ext.get(at - 1 + KEY.len()..)
            && let Some(end) = rest.find('"')
            && !rest[..end].contains('\\')
        {
            return Cents::parse(rest[..end].trim());
        }
        let value: serde_json::Value = serde_json::from_str(ext).ok()?;
        match value.get("firstChargeAmount")? {
            serde_json::Value::String(s) => Cents::parse(s.trim()),
            serde_json::Value::Number(n) => Cents::parse(&n.to_string()),
            _ => None,
        }
    }

    /// In yuan, for a workbook cell (the one place an amount becomes a float).
    pub fn as_yuan_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;

    fn add(self, other: Cents) -> Cents {
        Cents(self.0.saturating_add(other.0))
    }
}

impl std::ops::AddAssign for Cents {
    fn add_assign(&mut self, other: Cents) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents::default(), |a, b| a + b)
    }
}

/// In yuan with both decimals: `149.90`.
impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = format!("{}.{:02}", self.0 / 100, self.0 % 100);
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_to_the_cent_and_shown_in_yuan() {
        assert_eq!(Cents::parse("99.5"), Some(Cents(9950)));
        assert_eq!(Cents::parse("1000.00"), Some(Cents(100_000)));
        assert_eq!(Cents::parse("0.07"), Some(Cents(7)));
        assert_eq!(Cents::parse("12.5"), Some(Cents(1250)));
        assert_eq!(Cents::parse("12.05"), Some(Cents(1205)));
        assert_eq!(Cents::parse("12"), Some(Cents(1200)));
        for bad in ["1.234", "", ".5", "1,000", "-1", "a"] {
            assert_eq!(Cents::parse(bad), None, "{bad}");
        }
        assert_eq!((Cents(4990) + Cents(10000)).to_string(), "149.90");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(format!("{:>8}", Cents(5)), "    0.05");
    }

    #[test]
    fn the_first_charge_is_read_from_ext() {
        let of = Cents::first_charge;
        assert_eq!(of(r#"{"firstChargeAmount":"49.90"}"#), Some(Cents(4990)));
        assert_eq!(of(r#"{"firstChargeAmount":100}"#), Some(Cents(10000)));
        assert_eq!(of(r#"{"other":1}"#), None);
        assert_eq!(of(""), None);
        // In place and through JSON, the same answers.
        assert_eq!(
            of(r#"{"a":"1","firstChargeAmount":"0.07","b":"x"}"#),
            Some(Cents(7))
        );
        assert_eq!(of(r#"{"firstChargeAmount" : " 12.5 "}"#), Some(Cents(1250)));
        assert_eq!(of(r#"{"firstChargeAmount":"1,000"}"#), None);
        assert_eq!(
            of(r#"{"x":"\"firstChargeAmount\":\"5\"","firstChargeAmount":"6"}"#),
            Some(Cents(600))
        );
        // Named twice: not read in place, but as JSON reads it (the last one).
        assert_eq!(
            of(r#"{"firstChargeAmount":"5","firstChargeAmount":"6"}"#),
            Some(Cents(600))
        );
    }
}

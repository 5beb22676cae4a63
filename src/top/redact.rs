//! The secret and the session kept out of everything the tool writes, in every form a
//! gateway (or a proxy in front of it) may echo them back: as sent (form-encoded, `+`
//! or `%20` for a space, either case of hex), raw, URL-decoded, JSON-escaped (`\"`,
//! `\/`, `\u00e9` in either case), HTML-escaped, and the mixed forms of a gateway that
//! decodes only part of what it was sent (`%xx` decoded, `+` kept). One automaton finds
//! them all in one pass. Then, whatever the secret, the value of any `session`, `sign`,
//! `app_secret` or `access_token` parameter in the text is masked by its place
//! (`crate::mask::parameters`), so a form nobody listed leaks nothing either. A text
//! without any is left as it is, without a copy. Pure.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

/// What replaces a secret.
pub const MASK: &str = "***";

/// Finds and masks the forms of some secret values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    forms: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor of every form of each of `secrets` (empty ones are skipped).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut all: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .flat_map(forms)
            .collect();
        all.sort();
        all.dedup();
        if all.is_empty() {
            return Redactor::default();
        }
        let forms = AhoCorasick::builder()
            // The longest form at a place wins, so a form that contains another is
            // masked whole.
            .match_kind(MatchKind::LeftmostLongest)
            .build(&all)
            .ok();
        Redactor { forms }
    }

    /// `bytes` with every form and every secret parameter masked; borrowed when none
    /// is there.
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let known: Cow<'a, [u8]> = match &self.forms {
            Some(forms) if forms.is_match(bytes) => {
                let masks = vec![MASK.as_bytes(); forms.patterns_len()];
                Cow::Owned(forms.replace_all_bytes(bytes, &masks))
            }
            _ => Cow::Borrowed(bytes),
        };
        // The parameters' pass reads text: bytes that are not UTF-8 are masked in the
        // longest UTF-8 prefix's terms, the rest kept as bytes.
        let valid = match std::str::from_utf8(&known) {
            Ok(text) => text,
            Err(error) => {
                std::str::from_utf8(&known[..error.valid_up_to()]).expect("valid up to here")
            }
        };
        match crate::mask::parameters(valid) {
            Cow::Borrowed(_) => known,
            Cow::Owned(masked) => {
                let mut out = masked.into_bytes();
                out.extend_from_slice(&known[valid.len()..]);
                Cow::Owned(out)
            }
        }
    }

    /// Masks every form and every secret parameter in `text`, in place.
    pub fn text(&self, text: &mut String) {
        if let Some(forms) = &self.forms
            && forms.is_match(text.as_str())
        {
            let masks = vec![MASK; forms.patterns_len()];
            *text = forms.replace_all(text, &masks);
        }
        if let Cow::Owned(masked) = crate::mask::parameters(text) {
            *text = masked;
        }
    }
}

/// Every form of `secret` an answer may carry.
fn forms(secret: &str) -> Vec<String> {
    let mut bases = vec![secret.to_owned()];
    for decoded in [url_decode(secret, true), url_decode(secret, false)]
        .into_iter()
        .flatten()
    {
        if !decoded.is_empty() && !bases.contains(&decoded) {
            bases.push(decoded);
        }
    }
    let mut forms = Vec::new();
    for base in &bases {
        let form: String = form_urlencoded::byte_serialize(base.as_bytes()).collect();
        // A `+` in form encoding is always a space (a plus sign is `%2B`).
        let percent = form.replace('+', "%20");
        // A gateway that decodes the `%xx` escapes of what it was sent but keeps `+`
        // as it came: `Sess+i0n+/QWE=é%88` for `Sess i0n+/QWE=é%88`.
        if let Some(half) = url_decode(&form, false) {
            forms.push(half);
        }
        for encoded in [form, percent] {
            forms.push(lower_hex(&encoded));
            forms.push(encoded);
        }
        let json = serde_json::to_string(base).unwrap_or_default();
        let json = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or_default()
            .to_owned();
        let slashed = json.replace('/', "\\/");
        for json in [json, slashed] {
            forms.push(ascii_json(&json, false));
            forms.push(ascii_json(&json, true));
            forms.push(json);
        }
        forms.push(html(base));
        forms.push(base.clone());
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// Percent-decoding (and `+` as a space when `plus` says so); `None` when nothing
/// changes. Bytes that are not UTF-8 become U+FFFD, as a gateway decoding lossily
/// would show them (`%88` alone).
fn url_decode(text: &str, plus: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    let decoded = String::from_utf8_lossy(&out).into_owned();
    (decoded != text).then_some(decoded)
}

/// `%xx` escapes with lower-case hex digits.
fn lower_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escape = 0;
    for c in text.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// JSON string content with every non-ASCII character as `\uXXXX` (as Python's
/// `json.dumps` writes it).
fn ascii_json(json: &str, upper: bool) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// HTML-escaped, as an error page would show it.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "6100a b+c=d%41é/\"x";

    fn masked(text: &str) -> String {
        let mut text = text.to_owned();
        Redactor::new([SESSION]).text(&mut text);
        text
    }

    #[test]
    fn every_echoed_form_of_a_session_is_masked() {
        for echoed in [
            SESSION.to_owned(),
            form_urlencoded::byte_serialize(SESSION.as_bytes()).collect(),
            "6100a%20b%2Bc%3Dd%2541%C3%A9%2F%22x".to_owned(),
            "6100a%20b%2bc%3dd%2541%c3%a9%2f%22x".to_owned(),
            // URL-decoded by the gateway: %41 became A.
            "6100a b+c=dAé/\"x".to_owned(),
            "6100a b c=dAé/\"x".to_owned(),
            r#"6100a b+c=d%41\u00e9/\"x"#.to_owned(),
            r#"6100a b+c=d%41\u00E9\/\"x"#.to_owned(),
            "6100a b+c=d%41é/&quot;x".to_owned(),
        ] {
            let text = format!("isv.invalid-parameter: session={echoed}; rest");
            assert_eq!(
                masked(&text),
                "isv.invalid-parameter: session=***; rest",
                "{echoed}"
            );
        }
    }

    #[test]
    fn a_half_decoded_echo_is_masked() {
        let session = "Sess i0n+/QWE=é%88";
        let redactor = Redactor::new([session]);
        // As the issue found it: %xx decoded, `+` kept, under a name nobody lists.
        let mut text = "isv.invalid-parameter: got Sess+i0n+/QWE=é%88 back".to_owned();
        redactor.text(&mut text);
        assert_eq!(text, "isv.invalid-parameter: got *** back");
        let mut named = "echo: session=Sess+i0n+/QWE=é%88&v=2.0".to_owned();
        Redactor::default().text(&mut named);
        assert_eq!(
            named, "echo: session=***&v=2.0",
            "masked by its place alone"
        );
        assert_eq!(
            &*Redactor::default().bytes(b"x sign=ABCDEF \xff"),
            b"x sign=*** \xff"
        );
    }

    #[test]
    fn bytes_without_a_secret_are_not_copied() {
        let redactor = Redactor::new(["TOPSECRET", ""]);
        assert!(matches!(redactor.bytes(b"clean"), Cow::Borrowed(_)));
        assert_eq!(&*redactor.bytes(b"a TOPSECRET b"), b"a *** b");
        let mut untouched = "nothing here".to_owned();
        Redactor::default().text(&mut untouched);
        assert_eq!(untouched, "nothing here");
    }
}

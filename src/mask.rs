//! What may be shown of a URL or of text someone echoed back: the secret parts masked
//! by their place, not by knowing the secret. A URL's credentials (`user:password@`)
//! and query values are never shown; a robot's or a ping's URL also hides the path
//! segments that carry its token (`/hook/<uuid>`, the healthchecks ping key). In
//! echoed text, the value of any `session`, `sign`, `app_secret`, `secret` or
//! `access_token` parameter is masked, whatever its quoting or encoding. Pure.

use std::borrow::Cow;

/// What replaces a masked part.
pub const MASK: &str = "***";

/// Parameter names whose values are secrets wherever they appear.
const SECRET_NAMES: [&str; 7] = [
    "session",
    "session_key",
    "sessionkey",
    "sign",
    "app_secret",
    "secret",
    "access_token",
];

/// A URL as any message may show it: credentials and query values masked, the path
/// kept (a gateway's `/router/rest`). Text that is not a URL has its secret
/// parameters masked.
pub fn url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(parsed) => shown(&parsed, false),
        Err(_) => parameters(&userinfo(text)).into_owned(),
    }
}

/// A robot's or a ping's URL as a log or `check` shows it: `url`, and also every path
/// segment that may be a token (one with a digit, or a long one) masked:
/// `https://hc-ping.com/***`, `https://open.feishu.cn/open-apis/bot/***/hook/***`.
pub fn hook_url(parsed: &url::Url) -> String {
    shown(parsed, true)
}

fn shown(parsed: &url::Url, mask_path: bool) -> String {
    let mut text = format!("{}://", parsed.scheme());
    if !parsed.username().is_empty() || parsed.password().is_some() {
        text.push_str(MASK);
        text.push('@');
    }
    if let Some(host) = parsed.host_str() {
        text.push_str(host);
    }
    if let Some(port) = parsed.port() {
        text.push_str(&format!(":{port}"));
    }
    match parsed.path_segments() {
        Some(segments) if mask_path => {
            for segment in segments {
                text.push('/');
                text.push_str(if secret_looking(segment) {
                    MASK
                } else {
                    segment
                });
            }
        }
        _ => text.push_str(parsed.path()),
    }
    if parsed.query().is_some() {
        let names: Vec<String> = parsed
            .query_pairs()
            .map(|(name, _)| format!("{}={MASK}", crate::text::visible(&name)))
            .collect();
        text.push('?');
        text.push_str(&names.join("&"));
    }
    text
}

/// A path segment that may carry a token: any digit (a UUID, a key), or longer than a
/// word; an exit code (`/3`) and words (`robot`, `send`, `start`) are kept.
fn secret_looking(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let all_digits = digits == segment.len();
    if all_digits {
        return segment.len() > 3;
    }
    digits > 0 || segment.len() > 24
}

/// `scheme://user:password@host` with the credentials masked, for text no URL parser
/// accepts.
fn userinfo(text: &str) -> Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!("{}{MASK}{}", &text[..scheme_end + 3], &rest[at..])),
        None => Cow::Borrowed(text),
    }
}

/// `text` with the value of every secret parameter masked: `session=…`, `sign=…`,
/// `"session":"…"`, `\"session\":\"…\"`, `session%3D…`, `session=&quot;…&quot;`, in
/// any case; borrowed when there is none.
pub fn parameters(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some((name_end, value)) = secret_at(&lower, at) else {
            at += 1;
            continue;
        };
        let (start, end) = value;
        if end > start && &text[start..end] != MASK {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        at = end.max(name_end);
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

/// Quotes that may open or close a name or a value, longest first.
const QUOTES: [&str; 6] = ["&quot;", "\\\"", "%22", "\"", "'", "&#39;"];
/// What joins a name to its value.
const JOINS: [&str; 5] = ["%3d", "%3a", "=", ":", "&#61;"];

/// When a secret parameter's name starts at `at` in `lower`: where the name ends and
/// the span of its value.
fn secret_at(lower: &str, at: usize) -> Option<(usize, (usize, usize))> {
    let bytes = lower.as_bytes();
    // A name starts a word: after a non-alphanumeric, or after an escape (`%26sign`).
    let escaped = at >= 3 && bytes[at - 3] == b'%' && bytes[at - 2].is_ascii_hexdigit();
    if at > 0 && bytes[at - 1].is_ascii_alphanumeric() && !escaped {
        return None;
    }
    let starts = |i: usize, what: &str| bytes[i..].starts_with(what.as_bytes());
    let name = SECRET_NAMES
        .iter()
        .filter(|name| starts(at, name))
        .max_by_key(|name| name.len())?;
    let name_end = at + name.len();
    let mut i = name_end;
    // The name's own closing quote (`"session":`).
    if let Some(q) = QUOTES.iter().find(|q| starts(i, q)) {
        i += q.len();
    }
    i = skip_spaces(bytes, i);
    let join = JOINS.iter().find(|j| starts(i, j))?;
    i = skip_spaces(bytes, i + join.len());
    let opening = QUOTES.iter().find(|q| starts(i, q));
    let start = i + opening.map_or(0, |q| q.len());
    let end = match opening {
        Some(quote) => find_closing(lower, start, quote),
        None => find_unquoted_end(lower, start),
    };
    Some((name_end, (start, end)))
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    i
}

/// Where a quoted value ends: its closing quote (a `\"` inside `"…"` is escaped), or
/// the end of the text.
fn find_closing(lower: &str, start: usize, quote: &str) -> usize {
    let bytes = lower.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        if *quote == *"\"" && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i..].starts_with(quote.as_bytes()) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// Where an unquoted value ends: a separator of parameters, fields or markup.
fn find_unquoted_end(lower: &str, start: usize) -> usize {
    let bytes = lower.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(
            b,
            b'&' | b' '
                | b'\t'
                | b'\r'
                | b'\n'
                | b'"'
                | b'\''
                | b','
                | b';'
                | b'<'
                | b'>'
                | b')'
                | b']'
                | b'}'
        ) || ["%26", "%22", "\\\"", "\\u0026"]
            .iter()
            .any(|end| bytes[i..].starts_with(end.as_bytes()))
        {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_values_never_show() {
        assert_eq!(
            url("http://user:password@gw.example.com:8080/router/rest?x=1"),
            "http://***@gw.example.com:8080/router/rest?x=***"
        );
        assert_eq!(
            url("https://eco.taobao.com/router/rest"),
            "https://eco.taobao.com/router/rest"
        );
        // Not a URL a parser takes: the credentials are still masked.
        assert_eq!(url("http://ana:pw@[bad/x"), "http://***@[bad/x");
    }

    #[test]
    fn hook_tokens_in_the_path_are_masked_and_words_kept() {
        let shown = |text: &str| hook_url(&url::Url::parse(text).expect("url"));
        assert_eq!(
            shown("https://hc-ping.com/5f3c2a1e-8b7d-4c3e-9a1f-2b3c4d5e6f70/start"),
            "https://hc-ping.com/***/start"
        );
        assert_eq!(
            shown("https://hc-ping.com/5f3c2a1e-8b7d-4c3e-9a1f-2b3c4d5e6f70/3"),
            "https://hc-ping.com/***/3"
        );
        assert_eq!(
            shown("https://oapi.dingtalk.com/robot/send?access_token=abc123"),
            "https://oapi.dingtalk.com/robot/send?access_token=***"
        );
        assert_eq!(
            shown("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-4e5f"),
            "https://open.feishu.cn/open-apis/bot/***/hook/***"
        );
        assert_eq!(
            shown("https://u:p@example.com/abcdefghijklmnopqrstuvwxyzABCD"),
            "https://***@example.com/***"
        );
    }

    #[test]
    fn secret_parameters_are_masked_in_every_quoting() {
        for (echo, masked) in [
            ("session=Sess+i0n+/QWE=é%88", "session=***"),
            (
                "a=1&session=x%20y&sign=ABC&v=2.0",
                "a=1&session=***&sign=***&v=2.0",
            ),
            (
                r#"{"session":"x\"y","v":"2.0"}"#,
                r#"{"session":"***","v":"2.0"}"#,
            ),
            (
                r#"{"sub_msg":"{\"session\":\"abc\",\"x\":1}"}"#,
                r#"{"sub_msg":"{\"session\":\"***\",\"x\":1}"}"#,
            ),
            ("SESSION%3Dabc%26sign%3Ddef", "SESSION%3D***%26sign%3D***"),
            ("session=&quot;abc&quot;", "session=&quot;***&quot;"),
            ("access_token : 'tok'", "access_token : '***'"),
            ("top_session=abc", "top_session=***"),
            ("app_secret=s3cr3t rest", "app_secret=*** rest"),
        ] {
            assert_eq!(parameters(echo), masked, "{echo}");
        }
    }

    #[test]
    fn names_inside_other_words_and_clean_text_are_left() {
        for clean in [
            "sign_method=hmac&sessions=3",
            "design=x",
            "the session expired",
            "session=",
            "订单状态不允许回调",
        ] {
            assert!(matches!(parameters(clean), Cow::Borrowed(_)), "{clean}");
        }
        assert_eq!(parameters("session=***"), "session=***");
    }
}

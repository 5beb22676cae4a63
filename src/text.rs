//! Text from the gateway or an input, made safe to show on a terminal: control
//! characters (escape sequences, carriage returns, line breaks) and the invisible
//! direction overrides are shown as escapes, so no answer or cell can clear the
//! screen, move the cursor, or print a line that looks like the tool's own.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control and direction-override character written as an escape
/// (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`); borrowed when there is none.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if (c as u32) < 0x100 && hidden(c) => {
                let _ = write!(shown, "\\x{:02x}", c as u32);
            }
            c if hidden(c) => {
                let _ = write!(shown, "\\u{{{:x}}}", c as u32);
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

/// Controls (C0, DEL, C1) and the characters that reorder or hide text.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` cut to `max` characters, with `…` when something was cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_breaks_are_shown_not_obeyed() {
        assert_eq!(
            visible("ok\u{1b}[2J\r\nexit 0\u{7f}\u{9b}"),
            "ok\\x1b[2J\\r\\nexit 0\\x7f\\x9b"
        );
        assert_eq!(visible("订单\u{202e}txt.exe"), "订单\\u{202e}txt.exe");
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            visible("订单状态不允许回调: B0107"),
            Cow::Borrowed(_)
        ));
    }
}

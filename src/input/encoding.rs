//! Text encodings of exports: UTF-8 (with or without BOM) and GBK/GB18030 (Excel on
//! Chinese Windows). Decoding is per cell, so one bad cell spoils one row, not the
//! file; CSV structure bytes (`,` `;` tab quote CR LF) never occur inside a GB18030
//! multi-byte character, which is what makes splitting before decoding safe.
//!
//! Both encodings accept many of each other's byte strings, so validity alone says
//! little: GBK 停 (CD A3) is valid UTF-8 for U+0363, a combining mark. `classify`
//! judges what bytes would *mean* instead, and serves both detection (a vote over the
//! non-ASCII runs of the file's start) and a per-cell guard that refuses a cell which
//! is plainly in the other encoding, rather than sending nonsense.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::str::FromStr;

/// An encoding a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// GB18030, a superset of GBK and GB2312.
    Gb18030,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Gb18030 => "GB18030",
        })
    }
}

/// `--encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingChoice {
    #[default]
    Auto,
    Forced(Encoding),
}

impl FromStr for EncodingChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(EncodingChoice::Auto),
            "utf-8" | "utf8" | "utf-8-sig" => Ok(EncodingChoice::Forced(Encoding::Utf8)),
            "gbk" | "gb2312" | "gb18030" | "cp936" => Ok(EncodingChoice::Forced(Encoding::Gb18030)),
            other => Err(format!(
                "unknown encoding '{other}': expected auto, utf-8, gbk or gb18030"
            )),
        }
    }
}

/// How a file is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub encoding: Encoding,
    /// BOM bytes to skip.
    pub bom_len: usize,
    /// Set by `--encoding`: cells are decoded as told, without the guard.
    pub forced: bool,
}

/// A file in an encoding this tool does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the file is UTF-16 (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" or \"CSV\" instead"
)]
pub struct Utf16;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How much text past the ASCII start is judged.
const SAMPLE_BYTES: u64 = 256 * 1024;

/// What a run of non-ASCII bytes most likely is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Looks {
    /// Valid UTF-8 with a character of three or more bytes (hanzi, “”, —, €), or
    /// only Latin-1 (¥ · × °): what UTF-8 Chinese exports contain.
    Utf8 { wide: bool },
    /// Invalid UTF-8, or valid only as two-byte Greek, Cyrillic, combining marks and
    /// the like — what GBK text looks like when read as UTF-8.
    Gbk,
}

fn classify(bytes: &[u8]) -> Looks {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Looks::Gbk;
    };
    let wide = text.chars().any(|c| u32::from(c) >= 0x800);
    if wide || text.chars().all(|c| u32::from(c) <= 0xFF) {
        Looks::Utf8 { wide }
    } else {
        Looks::Gbk
    }
}

/// Reads as much of `reader` as needed to decide its encoding.
pub fn detect(
    reader: &mut impl Read,
    choice: EncodingChoice,
) -> std::io::Result<Result<Detected, Utf16>> {
    let mut head = [0u8; 4];
    let got = read_up_to(reader, &mut head)?;
    let head = &head[..got];
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Ok(Err(Utf16));
    }
    let bom_len = if head.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    if let EncodingChoice::Forced(encoding) = choice {
        let bom_len = if encoding == Encoding::Utf8 {
            bom_len
        } else {
            0
        };
        return Ok(Ok(Detected {
            encoding,
            bom_len,
            forced: true,
        }));
    }
    if bom_len > 0 {
        return Ok(Ok(Detected {
            encoding: Encoding::Utf8,
            bom_len,
            forced: false,
        }));
    }
    let mut sample = head.to_vec();
    let mut chunk = vec![0u8; 64 * 1024];
    // Skip a pure-ASCII start (English headers, numbers) to where the text begins.
    while sample.is_ascii() {
        sample.clear();
        match reader.read(&mut chunk)? {
            0 => {
                return Ok(Ok(Detected {
                    encoding: Encoding::Utf8,
                    bom_len: 0,
                    forced: false,
                }));
            }
            n => sample.extend_from_slice(&chunk[..n]),
        }
    }
    let added = reader
        .by_ref()
        .take(SAMPLE_BYTES)
        .read_to_end(&mut sample)?;
    // A full sample may end inside a character.
    let encoding = vote(&sample, added as u64 == SAMPLE_BYTES);
    Ok(Ok(Detected {
        encoding,
        bom_len: 0,
        forced: false,
    }))
}

/// The majority of the non-ASCII runs; a tie goes to UTF-8. A run cut off by the end
/// of a truncated sample does not vote.
fn vote(sample: &[u8], cut: bool) -> Encoding {
    let (mut utf8, mut gbk) = (0usize, 0usize);
    let mut rest = sample;
    while let Some(start) = rest.iter().position(|b| !b.is_ascii()) {
        let len = rest[start..]
            .iter()
            .position(u8::is_ascii)
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + len];
        rest = &rest[start + len..];
        if cut && rest.is_empty() {
            break;
        }
        match classify(run) {
            Looks::Utf8 { .. } => utf8 += 1,
            Looks::Gbk => gbk += 1,
        }
    }
    if gbk > utf8 {
        Encoding::Gb18030
    } else {
        Encoding::Utf8
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Decodes one cell; `None` when it is not text in the file's encoding: invalid
/// bytes, or — unless the encoding was forced — a cell plainly in the other encoding.
///
/// Measured on random text, a genuine GBK cell passes for UTF-8 with wide characters
/// about once in 10,000 (three common characters) to once in 400 (two rare extension
/// characters): such a row is refused with advice, which beats sending 锟斤拷.
pub fn decode(detected: Detected, bytes: &[u8]) -> Option<Cow<'_, str>> {
    if bytes.is_ascii() {
        return std::str::from_utf8(bytes).ok().map(Cow::Borrowed);
    }
    match detected.encoding {
        Encoding::Utf8 => {
            let text = std::str::from_utf8(bytes).ok()?;
            if !detected.forced && classify(bytes) == Looks::Gbk {
                return None;
            }
            Some(Cow::Borrowed(text))
        }
        Encoding::Gb18030 => {
            if !detected.forced && classify(bytes) == (Looks::Utf8 { wide: true }) {
                return None;
            }
            encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes)
        }
    }
}

/// A best-effort reading of a cell `decode` refused, for the result file: as the
/// other encoding reads it, or with replacement characters.
pub fn decode_for_display(encoding: Encoding, bytes: &[u8]) -> Cow<'_, str> {
    match encoding {
        Encoding::Utf8 => encoding_rs::GB18030.decode_without_bom_handling(bytes).0,
        Encoding::Gb18030 => String::from_utf8_lossy(bytes),
    }
}

/// What `text` said before it was mangled, if it is UTF-8 text read as Windows-1252
/// (or Latin-1) and saved again — `å……å€¼æˆåŠŸ` for 充值成功, what a spreadsheet makes of
/// a UTF-8 CSV opened as "ANSI": every character maps back to one byte, and those
/// bytes read as UTF-8 hold at least two characters of three bytes or more (hanzi).
/// A byte the mangling lost (0x90 has no Windows-1252 character) is a replacement
/// character in the answer. Genuine Latin text (`Crème brûlée`) never reads so.
pub fn misread_utf8(text: &str) -> Option<String> {
    if text.is_ascii() {
        return None;
    }
    // Each character back to its byte: Latin-1's (U+0000–U+00FF, the C1 controls
    // included), or one of Windows-1252's 0x80–0x9F.
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        let byte = match u8::try_from(u32::from(c)) {
            Ok(byte) => byte,
            Err(_) => (0x80..=0x9F_u8).find(|&b| {
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(&[b])
                    .0
                    .starts_with(c)
            })?,
        };
        bytes.push(byte);
    }
    let was = String::from_utf8_lossy(&bytes);
    let wide = was
        .chars()
        .filter(|&c| u32::from(c) >= 0x800 && c != char::REPLACEMENT_CHARACTER)
        .count();
    (wide >= 2).then(|| was.into_owned())
}

/// Encodes text for writing a GB18030 file (tests and samples).
pub fn encode_gb18030(text: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(text).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_bytes(bytes: &[u8]) -> Result<Detected, Utf16> {
        detect(&mut &bytes[..], EncodingChoice::Auto).expect("in-memory read")
    }

    fn encoding_of(bytes: &[u8]) -> Encoding {
        detect_bytes(bytes).expect("not UTF-16").encoding
    }

    const AUTO_UTF8: Detected = Detected {
        encoding: Encoding::Utf8,
        bom_len: 0,
        forced: false,
    };
    const AUTO_GB: Detected = Detected {
        encoding: Encoding::Gb18030,
        bom_len: 0,
        forced: false,
    };

    #[test]
    fn bom_means_utf8() {
        assert_eq!(
            detect_bytes(b"\xEF\xBB\xBForder_no\n"),
            Ok(Detected {
                encoding: Encoding::Utf8,
                bom_len: 3,
                forced: false
            })
        );
    }

    #[test]
    fn chinese_utf8_is_recognised() {
        assert_eq!(encoding_of("天猫交易订单号,x\n".as_bytes()), Encoding::Utf8);
    }

    #[test]
    fn latin1_utf8_is_recognised() {
        assert_eq!(encoding_of("amount\n¥100\n".as_bytes()), Encoding::Utf8);
    }

    #[test]
    fn gbk_that_is_also_valid_utf8_is_recognised() {
        // 停 in GBK is CD A3, which UTF-8 reads as U+0363.
        assert_eq!(
            encoding_of(&encode_gb18030("desc\n停\n")),
            Encoding::Gb18030
        );
    }

    #[test]
    fn gbk_is_recognised_even_after_a_long_ascii_prefix() {
        let mut bytes = "order_no,req_id\n".repeat(20_000).into_bytes();
        bytes.extend(encode_gb18030("订购成功,是\n"));
        assert_eq!(encoding_of(&bytes), Encoding::Gb18030);
    }

    #[test]
    fn a_utf8_file_with_one_gbk_row_stays_utf8() {
        let mut bytes = "h\n充值成功,订购成功\n".as_bytes().to_vec();
        bytes.extend(encode_gb18030("号码已停机\n"));
        bytes.extend("话费已到账\n".as_bytes());
        assert_eq!(encoding_of(&bytes), Encoding::Utf8);
    }

    #[test]
    fn a_gbk_file_with_one_utf8_row_is_gbk_and_refuses_that_row() {
        let mut bytes = encode_gb18030("h\n充值成功,订购成功,号码已停机\n");
        bytes.extend("话费已到账\n".as_bytes());
        assert_eq!(encoding_of(&bytes), Encoding::Gb18030);
        // Odd and even byte counts: GB18030 would pair the bytes of either into nonsense.
        for utf8 in ["话费已到账", "话费到账", "充值成功"] {
            assert_eq!(decode(AUTO_GB, utf8.as_bytes()), None, "{utf8}");
        }
        assert_eq!(
            decode(AUTO_GB, &encode_gb18030("录")).as_deref(),
            Some("录"),
            "C2 BC reads as ¼, not as wide text"
        );
    }

    #[test]
    fn a_gbk_cell_in_a_utf8_file_is_refused_even_when_valid_utf8() {
        assert_eq!(decode(AUTO_UTF8, &encode_gb18030("停")), None);
        assert_eq!(
            decode(AUTO_UTF8, "¥100 · 停".as_bytes()).as_deref(),
            Some("¥100 · 停")
        );
    }

    #[test]
    fn a_forced_encoding_turns_the_guard_off() {
        let forced = Detected {
            forced: true,
            ..AUTO_UTF8
        };
        assert_eq!(
            decode(forced, &encode_gb18030("停")).as_deref(),
            Some("\u{363}")
        );
        let forced = detect(
            &mut &"订单".as_bytes()[..],
            EncodingChoice::Forced(Encoding::Gb18030),
        )
        .expect("read");
        assert_eq!(
            forced.map(|d| (d.encoding, d.forced)),
            Ok((Encoding::Gb18030, true))
        );
    }

    #[test]
    fn utf16_is_refused_with_advice() {
        assert_eq!(detect_bytes(b"\xFF\xFEo\0r\0"), Err(Utf16));
    }

    #[test]
    fn cells_decode_or_report_invalid_bytes() {
        let gbk = encode_gb18030("订购成功");
        assert_eq!(decode(AUTO_GB, &gbk).as_deref(), Some("订购成功"));
        assert_eq!(decode(AUTO_UTF8, &gbk), None);
        assert_eq!(
            decode(AUTO_UTF8, "订购".as_bytes()).as_deref(),
            Some("订购")
        );
        assert_eq!(decode(AUTO_GB, b"\x81"), None);
        assert_eq!(decode_for_display(Encoding::Utf8, &gbk), "订购成功");
    }

    #[test]
    fn encoding_names_parse() {
        assert_eq!("GBK".parse(), Ok(EncodingChoice::Forced(Encoding::Gb18030)));
        assert_eq!("utf-8".parse(), Ok(EncodingChoice::Forced(Encoding::Utf8)));
        assert_eq!("auto".parse(), Ok(EncodingChoice::Auto));
        assert!("latin1".parse::<EncodingChoice>().is_err());
    }

    #[test]
    fn utf8_read_as_windows_1252_is_seen_for_what_it_was() {
        // Every byte kept (Latin-1's view), or 0x90 lost (Windows-1252 has no character).
        let kept: String = "充值成功".bytes().map(char::from).collect();
        assert_eq!(misread_utf8(&kept).as_deref(), Some("充值成功"));
        let shown = "å……å€¼æˆåŠŸ";
        let was = misread_utf8(shown).expect("mangled");
        assert!(was.starts_with("充值") && was.ends_with('功'), "{was}");
        for fine in [
            "充值成功",
            "Crème brûlée",
            "¥50.00",
            "São Paulo — 3×",
            "plain",
        ] {
            assert_eq!(misread_utf8(fine), None, "{fine}");
        }
    }
}

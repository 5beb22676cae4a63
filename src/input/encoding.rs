//! Text encodings of exports: UTF-8 (with or without BOM) and GBK/GB18030 (Excel on
//! Chinese Windows). Detection looks at the first non-ASCII bytes; decoding is per
//! cell, so one bad byte spoils one row, not the file. CSV structure bytes (`,` `;`
//! tab quote CR LF) never occur inside a GB18030 multi-byte character, which is what
//! makes splitting before decoding safe.

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

/// How a file starts: its encoding and how many BOM bytes to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub encoding: Encoding,
    pub bom_len: usize,
}

/// A file in an encoding this tool does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the file is UTF-16 (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" or \"CSV\" instead"
)]
pub struct Utf16;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

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
        return Ok(Ok(Detected {
            encoding,
            bom_len: if encoding == Encoding::Utf8 {
                bom_len
            } else {
                0
            },
        }));
    }
    if bom_len > 0 {
        return Ok(Ok(Detected {
            encoding: Encoding::Utf8,
            bom_len,
        }));
    }
    // Find the first non-ASCII byte and judge a window from there.
    let mut window = head.to_vec();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(start) = window.iter().position(|b| !b.is_ascii()) {
            while window.len() < start + 4096 {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                window.extend_from_slice(&buf[..n]);
            }
            let end = window.len().min(start + 4096);
            let encoding = match std::str::from_utf8(&window[start..end]) {
                Ok(_) => Encoding::Utf8,
                // Cut in the middle of a character at the window's end: still UTF-8.
                Err(e) if e.error_len().is_none() => Encoding::Utf8,
                Err(_) => Encoding::Gb18030,
            };
            return Ok(Ok(Detected {
                encoding,
                bom_len: 0,
            }));
        }
        window.clear();
        let n = reader.read(&mut buf)?;
        if n == 0 {
            // Pure ASCII: any choice reads it the same.
            return Ok(Ok(Detected {
                encoding: Encoding::Utf8,
                bom_len: 0,
            }));
        }
        window.extend_from_slice(&buf[..n]);
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

/// Decodes one cell; `None` when it holds bytes invalid in `encoding`.
pub fn decode(encoding: Encoding, bytes: &[u8]) -> Option<Cow<'_, str>> {
    if bytes.is_ascii() {
        return std::str::from_utf8(bytes).ok().map(Cow::Borrowed);
    }
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Encoding::Gb18030 => {
            encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes)
        }
    }
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

    #[test]
    fn bom_means_utf8() {
        assert_eq!(
            detect_bytes(b"\xEF\xBB\xBForder_no\n"),
            Ok(Detected {
                encoding: Encoding::Utf8,
                bom_len: 3
            })
        );
    }

    #[test]
    fn chinese_utf8_is_recognised() {
        assert_eq!(
            detect_bytes("天猫交易订单号,x\n".as_bytes()).map(|d| d.encoding),
            Ok(Encoding::Utf8)
        );
    }

    #[test]
    fn gbk_is_recognised_even_after_a_long_ascii_prefix() {
        let mut bytes = "order_no,req_id\n".repeat(10_000).into_bytes();
        bytes.extend(encode_gb18030("订购成功,是\n"));
        assert_eq!(
            detect_bytes(&bytes).map(|d| d.encoding),
            Ok(Encoding::Gb18030)
        );
    }

    #[test]
    fn utf16_is_refused_with_advice() {
        assert_eq!(detect_bytes(b"\xFF\xFEo\0r\0"), Err(Utf16));
    }

    #[test]
    fn forced_encoding_wins() {
        let forced = detect(
            &mut &"订单".as_bytes()[..],
            EncodingChoice::Forced(Encoding::Gb18030),
        )
        .expect("read");
        assert_eq!(forced.map(|d| d.encoding), Ok(Encoding::Gb18030));
    }

    #[test]
    fn cells_decode_or_report_invalid_bytes() {
        let gbk = encode_gb18030("订购成功");
        assert_eq!(decode(Encoding::Gb18030, &gbk).as_deref(), Some("订购成功"));
        assert_eq!(decode(Encoding::Utf8, &gbk), None);
        assert_eq!(
            decode(Encoding::Utf8, "订购".as_bytes()).as_deref(),
            Some("订购")
        );
        assert_eq!(decode(Encoding::Gb18030, b"\x81"), None);
    }

    #[test]
    fn encoding_names_parse() {
        assert_eq!("GBK".parse(), Ok(EncodingChoice::Forced(Encoding::Gb18030)));
        assert_eq!("utf-8".parse(), Ok(EncodingChoice::Forced(Encoding::Utf8)));
        assert_eq!("auto".parse(), Ok(EncodingChoice::Auto));
        assert!("latin1".parse::<EncodingChoice>().is_err());
    }
}

//! Properties of input reading: any order written in any supported encoding,
//! delimiter, line ending and header style parses back equal; and no bytes at all —
//! random, or a valid export mangled — make the reader or the binary panic.

mod common;

use std::io::Write as _;

use opentrade_callback::input::encoding::encode_gb18030;
use opentrade_callback::input::{InputOptions, InputSet};
use opentrade_callback::order::Order;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Level-1 GB2312 hanzi (lead bytes B0–D7): in GB18030 these can never form a UTF-8
/// CJK sequence, so the reader's mis-encoding guard cannot misfire on them.
const HANZI: &str =
    "充值成功订购话费已到账流量包生效宽带续费号码停机运营商系统维护中用户取消订单关闭退款备注吉祥";

#[test]
fn the_test_alphabet_is_level_1_hanzi() {
    for c in HANZI.chars() {
        let bytes = encode_gb18030(&c.to_string());
        assert!(
            (0xB0..=0xD7).contains(&bytes[0]),
            "{c} has lead byte {:X}",
            bytes[0]
        );
    }
}

fn text() -> impl Strategy<Value = String> {
    let hanzi: Vec<char> = HANZI.chars().collect();
    let pieces = prop_oneof![
        4 => proptest::sample::select(hanzi).prop_map(|c| c.to_string()),
        3 => "[a-zA-Z0-9]{1,3}",
        1 => proptest::sample::select(vec![",", ";", "\t", "\"", "'", "\n", " ", "“”", "{}", "€", "𠮷"]).prop_map(str::to_owned),
    ];
    proptest::collection::vec(pieces, 1..8)
        .prop_map(|parts| parts.concat())
        // What the reader trims or unguards by design is not generated.
        .prop_filter("no surrounding white space, no leading apostrophe", |t| {
            t.trim() == t && !t.starts_with('\'')
        })
}

fn order() -> impl Strategy<Value = Order> {
    let ext = proptest::option::of(
        proptest::collection::vec(("[a-zA-Z]{1,8}", text()), 1..3).prop_map(|pairs| {
            let map: serde_json::Map<String, serde_json::Value> = pairs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            serde_json::Value::Object(map).to_string()
        }),
    );
    (
        1..=u64::MAX,
        proptest::option::of(1..=u64::MAX),
        any::<bool>(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        "[A-Za-z0-9_-]{1,20}",
        ext,
    )
        .prop_map(
            |(order_no, sub_order_no, success, result_code, result_desc, req_id, ext)| Order {
                sub_order_no,
                order_no,
                success,
                result_code,
                result_desc,
                req_id,
                ext,
            },
        )
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Utf8,
    Utf8Bom,
    Gb18030,
}

const NAMES: [[&str; 4]; 7] = [
    ["order_no", "orderNo", "天猫交易订单号", "ORDER NO"],
    ["sub_order_no", "subOrderNo", "子订单号", "Sub_Order_No"],
    ["success", "success", "商家处理结果是否成功标志", "SUCCESS"],
    ["result_code", "resultCode", "结果码", "Result Code"],
    ["result_desc", "resultDesc", "结果描述", "RESULT_DESC"],
    ["req_id", "reqId", "外部请求流水", "Req-Id"],
    ["ext", "ext", "扩展参数", "EXT"],
];

fn write_file(
    orders: &[Order],
    encoding: Encoding,
    delimiter: u8,
    crlf: bool,
    style: usize,
) -> tempfile::NamedTempFile {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(if crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .from_writer(Vec::new());
    writer
        .write_record(NAMES.iter().map(|n| n[style]))
        .expect("header");
    for o in orders {
        writer
            .write_record([
                o.order_no.to_string(),
                o.sub_order_no.map(|n| n.to_string()).unwrap_or_default(),
                o.success.to_string(),
                o.result_code.clone().unwrap_or_default(),
                o.result_desc.clone().unwrap_or_default(),
                o.req_id.clone(),
                o.ext.clone().unwrap_or_default(),
            ])
            .expect("row");
    }
    let text = String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8");
    let bytes = match encoding {
        Encoding::Utf8 => text.into_bytes(),
        Encoding::Utf8Bom => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        Encoding::Gb18030 => encode_gb18030(&text),
    };
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&bytes).expect("write");
    file
}

fn read_back(file: &tempfile::NamedTempFile) -> Vec<Order> {
    let set = InputSet::open(&[file.path().to_owned()], &InputOptions::default()).expect("opens");
    set.rows()
        .map(|row| {
            let row = row.expect("reads");
            row.order.unwrap_or_else(|e| {
                panic!(
                    "row {} invalid: {} {}",
                    row.line, e.error.code, e.error.message
                )
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(Config { cases: 200, rng_seed: RngSeed::Fixed(20261125), failure_persistence: None, ..Config::default() })]

    #[test]
    fn orders_parse_back_equal_in_every_encoding_delimiter_and_header_style(
        orders in proptest::collection::vec(order(), 1..12),
        encoding in prop_oneof![Just(Encoding::Utf8), Just(Encoding::Utf8Bom), Just(Encoding::Gb18030)],
        delimiter in prop_oneof![Just(b','), Just(b'\t'), Just(b';')],
        crlf in any::<bool>(),
        style in 0usize..4,
    ) {
        let file = write_file(&orders, encoding, delimiter, crlf, style);
        prop_assert_eq!(read_back(&file), orders);
    }
}

/// A valid export to mangle.
fn sample_export() -> Vec<u8> {
    std::fs::read(common::fixture("excel-damage.csv")).expect("fixture")
}

fn random_input(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    match rng.random_range(0..4) {
        // Pure noise.
        0 => (0..rng.random_range(0..2048))
            .map(|_| rng.random::<u8>())
            .collect(),
        // A valid export with bytes flipped, inserted and removed.
        1 | 2 => {
            let mut bytes = base.to_vec();
            for _ in 0..rng.random_range(1..40) {
                let at = rng.random_range(0..=bytes.len());
                match rng.random_range(0..4) {
                    0 if at < bytes.len() => bytes[at] = rng.random(),
                    1 => bytes.insert(
                        at,
                        *b"\",;\t\n\r\0\xFF\xEF'="
                            .get(rng.random_range(0..12))
                            .unwrap_or(&b'x'),
                    ),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.truncate(at),
                }
            }
            bytes
        }
        // A header that parses, then noise.
        _ => {
            let mut bytes = b"order_no,success,req_id,ext\n".to_vec();
            bytes.extend((0..rng.random_range(0..1024)).map(|_| {
                *b"0123456789,\"\n{}:.E+-' a\xE4\xB8\xAD\xD6"
                    .get(rng.random_range(0..30))
                    .unwrap_or(&b'1')
            }));
            bytes
        }
    }
}

#[test]
fn no_input_makes_the_reader_panic() {
    let base = sample_export();
    let mut rng = StdRng::seed_from_u64(7);
    let dir = tempfile::tempdir().expect("dir");
    for i in 0..3000 {
        let path = dir.path().join(format!("f{i}.csv"));
        std::fs::write(&path, random_input(&mut rng, &base)).expect("write");
        // Either a file-level error or rows, each valid or invalid: never a panic.
        if let Ok(set) = InputSet::open(std::slice::from_ref(&path), &InputOptions::default()) {
            for row in set.rows() {
                if row.is_err() {
                    break;
                }
            }
        }
        std::fs::remove_file(&path).expect("remove");
    }
}

#[test]
fn no_input_makes_the_binary_panic() {
    let base = sample_export();
    let mut rng = StdRng::seed_from_u64(11);
    let ws = common::Workspace::new();
    for i in 0..60 {
        let input = ws.write(&format!("f{i}.csv"), random_input(&mut rng, &base));
        let output = common::dry_run(&ws, &[&input]).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            matches!(output.status.code(), Some(0..=2)),
            "input {i}: {:?}\n{stderr}",
            output.status
        );
        assert!(!stderr.contains("panicked"), "input {i}: {stderr}");
    }
}

//! Micro-benchmarks of the per-call work: signing plus request encoding (the
//! precomputed encoder against the reference one), and classifying answers.
//! `cargo bench --bench top`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opentrade_callback::order::Order;
use opentrade_callback::top::SignMethod;
use opentrade_callback::top::request::{RequestEncoder, encode_form};
use opentrade_callback::top::response::{Overrides, classify_answer};
use opentrade_callback::top::{Credentials, Secret};

fn order() -> Order {
    Order {
        sub_order_no: Some(4_100_000_000_000_000_123),
        order_no: 4_012_345_678_901_234_567,
        success: true,
        result_code: Some("0000".into()),
        result_desc: Some("充值成功".into()),
        req_id: "CZ20261124000001".into(),
        ext: Some(r#"{"firstChargeAmount":"100","firstChargeTime":"1704038400000"}"#.into()),
    }
}

fn credentials() -> Credentials {
    Credentials {
        app_key: "12345678".into(),
        secret: Secret::new("helloworld"),
        session: Secret::new("6100e23657fb0b2d0c78e9c4ad38fbd6abcdef12345"),
    }
}

fn encoding(c: &mut Criterion) {
    let payload = order().payload();
    let credentials = credentials();
    for method in [SignMethod::Md5, SignMethod::Hmac, SignMethod::HmacSha256] {
        let encoder = RequestEncoder::new(&credentials, method);
        c.bench_function(&format!("encode+sign {method} (precomputed)"), |b| {
            b.iter(|| {
                encoder.encode(
                    black_box("2026-11-25 21:39:27"),
                    black_box(&payload.json),
                    black_box(&payload.form),
                )
            })
        });
        c.bench_function(&format!("encode+sign {method} (reference)"), |b| {
            b.iter(|| {
                encode_form(
                    &credentials,
                    method,
                    black_box("2026-11-25 21:39:27"),
                    black_box(&payload.json),
                )
            })
        });
    }
    c.bench_function("order payload (param0 JSON, MD5, form)", |b| {
        b.iter(|| black_box(order()).payload())
    });
}

fn parsing(c: &mut Criterion) {
    let overrides = Overrides::default();
    let delivered = r#"{"wt_trade_opentrade_resultcallback_response":{"result":{"success":true,"req_id":"CZ20261124000001","error_code":"0000","error_msg":"消息处理成功"},"request_id":"zt1a2b3c4d5e"}}"#.as_bytes();
    let error = r#"{"error_response":{"code":50,"msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"非法参数","request_id":"zt1a2b3c4d5e"}}"#.as_bytes();
    let html = b"<html><head><title>502 Bad Gateway</title></head><body>Tengine</body></html>";
    c.bench_function("classify delivered", |b| {
        b.iter(|| classify_answer(200, black_box(delivered), &overrides))
    });
    c.bench_function("classify error_response", |b| {
        b.iter(|| classify_answer(200, black_box(error), &overrides))
    });
    c.bench_function("classify HTML 502", |b| {
        b.iter(|| classify_answer(502, black_box(html), &overrides))
    });
}

criterion_group!(benches, encoding, parsing);
criterion_main!(benches);

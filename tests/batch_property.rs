//! Property: the simulator answers a batch exactly as it answers the same calls sent
//! one by one — the same verdict, code and words for every call, the same counts —
//! under any mix of business faults, repeated req_ids and sign methods (but for the
//! client's own rule that a batch part must name its req_id to be an outcome).

mod common;

use common::{Fault, Matcher, Scenario};

use common::{block_on, client, order, settings, simulator};
use opentrade_callback::top::{Payload, SignMethod, Verdict};
use proptest::prelude::*;

/// Rules a call-by-call and a batched gateway treat alike (faults of the whole HTTP
/// answer — a 502 page, a dropped connection — are the whole batch's by design).
fn rules() -> Vec<(Matcher, Fault)> {
    vec![
        (
            Matcher::req_id("r0"),
            Fault::reject("B0107", "订单状态不允许回调"),
        ),
        (Matcher::req_id("r1"), Fault::transient(2)),
        (Matcher::req_id("r2"), Fault::invalid("isv.bad", "非法参数")),
        (
            Matcher::req_id("r3"),
            Fault::Error {
                code: 27,
                msg: "Invalid session".into(),
                sub_code: String::new(),
                sub_msg: String::new(),
                times: Some(1),
            },
        ),
        (Matcher::req_id("r4"), Fault::WrongReqId),
        (Matcher::req_id("r5"), Fault::ban(60)),
    ]
}

fn payload(req_id: usize, success: bool) -> Payload {
    let mut order = order(&format!("r{req_id}"));
    order.success = success;
    order.payload()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_batch_and_the_same_calls_one_by_one_get_the_same_answers(
        rules in proptest::sample::subsequence((0..6usize).collect::<Vec<_>>(), 0..=6),
        calls in proptest::collection::vec((0..8usize, any::<bool>()), 1..=20),
        method in prop_oneof![Just(SignMethod::Md5), Just(SignMethod::Hmac), Just(SignMethod::HmacSha256)],
    ) {
        let all = self::rules();
        let scenario = rules.iter().fold(Scenario::default(), |scenario, &i| {
            let (matcher, fault) = all[i].clone();
            scenario.on(matcher, fault)
        });
        let payloads: Vec<Payload> = calls.iter().map(|&(r, s)| payload(r, s)).collect();
        let (one_by_one, batched) = (simulator(scenario.clone()), simulator(scenario));

        let mut single = settings(&one_by_one.url());
        single.sign_method = method;
        let single = client(single);
        let each = block_on(async {
            let mut replies = Vec::new();
            for payload in &payloads {
                replies.push(single.call(payload).await);
            }
            replies
        });

        let mut batch = settings(&batched.url());
        batch.sign_method = method;
        let refs: Vec<&Payload> = payloads.iter().collect();
        let together = block_on(client(batch).call_batch(&refs));

        prop_assert_eq!(each.len(), together.len());
        for (i, (a, b)) in each.iter().zip(&together).enumerate() {
            // A rejection that names no req_id (an error part) is no outcome in a batch,
            // where only position ties it to its call: the client asks again alone.
            if b.error_code == "net.unnamed_answer" {
                prop_assert_eq!(a.verdict, Verdict::Rejected, "call {} ({:?})", i, calls[i]);
                prop_assert_eq!(b.verdict, Verdict::Transient);
                prop_assert!(b.error_msg.contains(a.sub_code.as_str()), "{}", b.error_msg);
                continue;
            }
            prop_assert_eq!(
                (a.verdict, &a.error_code, &a.error_msg, &a.sub_code, &a.sub_msg),
                (b.verdict, &b.error_code, &b.error_msg, &b.sub_code, &b.sub_msg),
                "call {} ({:?})", i, calls[i]
            );
        }
        let (a, b) = (one_by_one.stats(), batched.stats());
        prop_assert_eq!(
            (a.requests, a.accepted, a.rejected, a.duplicates, a.conflicts, a.bans_started),
            (b.requests, b.accepted, b.rejected, b.duplicates, b.conflicts, b.bans_started)
        );
        prop_assert_eq!((b.batches, b.batch_calls), (1, payloads.len() as u64));
    }
}

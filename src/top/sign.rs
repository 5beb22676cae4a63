//! TOP request signing (SPEC.md "TOP protocol essentials"): sort every parameter but
//! `sign` by name, concatenate name+value, digest, upper-case hex. Pure; no I/O.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The three `sign_method` values the gateway accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignMethod {
    /// MD5(secret + text + secret).
    Md5,
    /// HMAC-MD5(key = secret, text).
    #[default]
    Hmac,
    /// HMAC-SHA256(key = secret, text).
    HmacSha256,
}

impl SignMethod {
    /// The wire value of `sign_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignMethod::Md5 => "md5",
            SignMethod::Hmac => "hmac",
            SignMethod::HmacSha256 => "hmac-sha256",
        }
    }
}

impl fmt::Display for SignMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md5" => Ok(SignMethod::Md5),
            "hmac" | "hmac-md5" => Ok(SignMethod::Hmac),
            "hmac-sha256" | "hmac_sha256" => Ok(SignMethod::HmacSha256),
            other => Err(format!(
                "unknown sign method '{other}': expected md5, hmac or hmac-sha256"
            )),
        }
    }
}

/// Signs `params` (name, value pairs in any order; a `sign` pair, if present, is left
/// out) and returns the upper-case hex digest the gateway expects in `sign`.
pub fn sign_params(method: SignMethod, secret: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "sign").collect();
    // Byte order of the names, as every TOP SDK does (all names are ASCII).
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let parts = sorted
        .iter()
        .flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]);
    match method {
        SignMethod::Md5 => {
            let mut digest = Md5::new();
            digest.update(secret.as_bytes());
            parts.for_each(|p| digest.update(p));
            digest.update(secret.as_bytes());
            faster_hex::hex_string_upper(&digest.finalize())
        }
        SignMethod::Hmac => mac_hex::<Hmac<Md5>>(secret, parts),
        SignMethod::HmacSha256 => mac_hex::<Hmac<Sha256>>(secret, parts),
    }
}

/// A signer whose digest has already taken in the constant beginning of the sorted
/// text (the system parameters before `param0`), so each call hashes only the rest —
/// and HMAC's key pads are not recomputed per call.
#[derive(Clone)]
pub struct PrefixSigner {
    state: PrefixState,
    /// MD5 signing ends with the secret again.
    secret: super::credentials::Secret,
}

#[derive(Clone)]
enum PrefixState {
    Md5(Md5),
    HmacMd5(Hmac<Md5>),
    HmacSha256(Hmac<Sha256>),
}

impl fmt::Debug for PrefixSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrefixSigner(***)")
    }
}

impl PrefixSigner {
    /// `prefix` is the start of the sorted name+value text.
    pub fn new(method: SignMethod, secret: &super::credentials::Secret, prefix: &[u8]) -> Self {
        let key = secret.expose().as_bytes();
        let state = match method {
            SignMethod::Md5 => {
                let mut digest = Md5::new();
                digest.update(key);
                digest.update(prefix);
                PrefixState::Md5(digest)
            }
            SignMethod::Hmac => {
                let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                Mac::update(&mut mac, prefix);
                PrefixState::HmacMd5(mac)
            }
            SignMethod::HmacSha256 => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                Mac::update(&mut mac, prefix);
                PrefixState::HmacSha256(mac)
            }
        };
        PrefixSigner {
            state,
            secret: secret.clone(),
        }
    }

    /// The sign of the prefix followed by `rest`, upper-case hex.
    pub fn sign(&self, rest: &[&[u8]]) -> String {
        match self.state.clone() {
            PrefixState::Md5(mut digest) => {
                rest.iter().for_each(|p| digest.update(p));
                digest.update(self.secret.expose().as_bytes());
                faster_hex::hex_string_upper(&digest.finalize())
            }
            PrefixState::HmacMd5(mut mac) => {
                rest.iter().for_each(|p| Mac::update(&mut mac, p));
                faster_hex::hex_string_upper(&mac.finalize().into_bytes())
            }
            PrefixState::HmacSha256(mut mac) => {
                rest.iter().for_each(|p| Mac::update(&mut mac, p));
                faster_hex::hex_string_upper(&mac.finalize().into_bytes())
            }
        }
    }
}

fn mac_hex<'a, M: Mac + KeyInit>(secret: &str, parts: impl Iterator<Item = &'a [u8]>) -> String {
    let mut mac =
        <M as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    parts.for_each(|p| mac.update(p));
    faster_hex::hex_string_upper(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The published check of SPEC.md.
    const VECTOR: [(&str, &str); 9] = [
        ("app_key", "12345678"),
        ("fields", "num_iid,title,nick,price,num"),
        ("format", "json"),
        ("method", "taobao.item.seller.get"),
        ("num_iid", "11223344"),
        ("session", "test"),
        ("sign_method", "md5"),
        ("timestamp", "2016-01-01 12:00:00"),
        ("v", "2.0"),
    ];

    #[test]
    fn md5_matches_published_vector() {
        assert_eq!(
            sign_params(SignMethod::Md5, "helloworld", &VECTOR),
            "66987CB115214E59E6EC978214934FB8"
        );
    }

    #[test]
    fn hmac_matches_published_vector() {
        let mut params = VECTOR.to_vec();
        params[6] = ("sign_method", "hmac");
        assert_eq!(
            sign_params(SignMethod::Hmac, "helloworld", &params),
            "D56D7858309C31B6251083A874D48273"
        );
    }

    #[test]
    fn hmac_sha256_is_upper_hex_of_64_chars() {
        let mut params = VECTOR.to_vec();
        params[6] = ("sign_method", "hmac-sha256");
        let sign = sign_params(SignMethod::HmacSha256, "helloworld", &params);
        assert_eq!(sign.len(), 64);
        assert!(
            sign.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        // Independently computed: HMAC-SHA256("helloworld", concatenated text).
        let text: String = params.iter().map(|(k, v)| format!("{k}{v}")).collect();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"helloworld").expect("any key");
        mac.update(text.as_bytes());
        assert_eq!(
            sign,
            faster_hex::hex_string_upper(&mac.finalize().into_bytes())
        );
    }

    #[test]
    fn sign_parameter_is_never_signed() {
        let mut with_sign = VECTOR.to_vec();
        with_sign.push(("sign", "ANYTHING"));
        assert_eq!(
            sign_params(SignMethod::Md5, "helloworld", &with_sign),
            "66987CB115214E59E6EC978214934FB8"
        );
    }

    #[test]
    fn chinese_values_are_signed_as_utf8_bytes() {
        let params = [("result_desc", "订购成功"), ("app_key", "1")];
        let mut digest = Md5::new();
        digest.update("sapp_key1result_desc订购成功s".as_bytes());
        assert_eq!(
            sign_params(SignMethod::Md5, "s", &params),
            faster_hex::hex_string_upper(&digest.finalize())
        );
    }

    #[test]
    fn sign_method_parses_wire_names() {
        assert_eq!("md5".parse(), Ok(SignMethod::Md5));
        assert_eq!("HMAC".parse(), Ok(SignMethod::Hmac));
        assert_eq!("hmac-sha256".parse(), Ok(SignMethod::HmacSha256));
        assert!("sha1".parse::<SignMethod>().is_err());
    }

    proptest! {
        #[test]
        fn parameter_order_never_changes_the_sign(
            params in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,20}", 1..12),
            seed in any::<u64>(),
            method in prop_oneof![Just(SignMethod::Md5), Just(SignMethod::Hmac), Just(SignMethod::HmacSha256)],
        ) {
            let ordered: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut shuffled = ordered.clone();
            // A deterministic shuffle driven by the generated seed.
            let len = shuffled.len();
            let mut state = seed;
            for i in (1..len).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (state >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(
                sign_params(method, "secret", &ordered),
                sign_params(method, "secret", &shuffled)
            );
        }
    }
}

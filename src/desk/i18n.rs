//! The desk's words in Chinese and English, from one catalogue: a page asks for a key
//! and gets the text of the visitor's language, chosen by a `lang` cookie (the switch
//! on every page) or else the browser's `Accept-Language`.

use super::words::CATALOGUE;

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn from_param(param: &str) -> Option<Lang> {
        match param {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header that the desk speaks, by
    /// weight; Chinese when none is (finance teams read Chinese).
    pub fn negotiate(accept: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.unwrap_or_default().split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::Zh, |(_, lang)| lang)
    }

    /// This language's text of a (Chinese, English) pair.
    pub fn pick(self, (zh, en): (&'static str, &'static str)) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// The text of `key` in this language; the key itself if the catalogue lacks it
    /// (a unit test makes sure it never does for the keys the pages use).
    pub fn t(self, key: &str) -> &'static str {
        match CATALOGUE.binary_search_by(|(k, _, _)| (*k).cmp(key)) {
            Ok(at) => match self {
                Lang::Zh => CATALOGUE[at].1,
                Lang::En => CATALOGUE[at].2,
            },
            Err(_) => "?",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_and_whole() {
        for pair in CATALOGUE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (key, zh, en) in CATALOGUE {
            assert!(!zh.is_empty() && !en.is_empty(), "{key}");
        }
        assert_eq!(Lang::En.t("nav.runs"), "Runs");
        assert_eq!(Lang::Zh.t("nav.runs"), "运行记录");
        assert_eq!(Lang::Zh.t("no.such.key"), "?");
    }

    #[test]
    fn the_browser_chooses_by_weight() {
        assert_eq!(
            Lang::negotiate(Some("en-US,en;q=0.9,zh-CN;q=0.8")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::negotiate(Some("fr;q=1, en;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(Some("de")), Lang::Zh);
        assert_eq!(Lang::negotiate(None), Lang::Zh);
    }
}

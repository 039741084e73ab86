//! Code-aware words: what BM25 indexes and what similar-code compares.

use std::cell::RefCell;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use rustc_hash::{FxHashMap, FxHashSet};

/// English words that carry no meaning in a query or a comment.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "be", "been", "it",
    "its", "this", "that", "these", "with", "as", "by", "at", "from", "into", "if", "we", "our",
    "you", "your", "which", "where", "what", "how", "when", "do", "does", "there", "here", "any",
    "all", "some", "can", "will", "should", "would", "given", "using", "via", "so", "such", "than",
];

/// Asked for every word of every chunk: a set, not a scan of the list.
fn is_stop_word(word: &str) -> bool {
    static SET: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP_WORDS.iter().copied().collect())
        .contains(word)
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

/// Words stemmed per thread before the cache starts over: code repeats its words, and the
/// stemmer was a tenth of indexing time.
const STEM_CACHE_WORDS: usize = 50_000;

thread_local! {
    static STEMS: RefCell<FxHashMap<String, String>> = RefCell::default();
}

/// Calls `f` with the stem of `word` (lower-case).
fn with_stem(word: &str, f: &mut impl FnMut(&str)) {
    STEMS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(stem) = cache.get(word) {
            f(stem);
            return;
        }
        let stem = stemmer().stem(word).into_owned();
        f(&stem);
        if cache.len() >= STEM_CACHE_WORDS {
            cache.clear();
        }
        cache.insert(word.to_string(), stem);
    });
}

/// Splits an identifier at underscores, case changes and digits:
/// `parseHTTPResponse_v2` → `parse`, `HTTP`, `Response`, `v2`.
pub fn split_identifier(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in word.split(['_', '$']).filter(|p| !p.is_empty()) {
        let mut start = 0;
        let mut prev: Option<char> = None;
        let mut chars = piece.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if let Some(prev) = prev {
                let next_lower = chars.peek().is_some_and(|&(_, n)| n.is_lowercase());
                let boundary = (prev.is_lowercase() && c.is_uppercase())
                    || (prev.is_uppercase() && c.is_uppercase() && next_lower);
                if boundary {
                    parts.push(&piece[start..i]);
                    start = i;
                }
            }
            prev = Some(c);
        }
        parts.push(&piece[start..]);
    }
    parts
}

/// The words of `text` for BM25: each identifier whole (lower-cased) when it has several
/// parts, and each part lower-cased and stemmed, so `retryFailedUploads`, `retry_failed_upload`
/// and "retries failed uploads" meet.
pub fn terms(text: &str, out: &mut Vec<String>) {
    for_each_term(text, &mut |term| out.push(term.to_string()));
}

/// [`terms`] without a `String` per occurrence: indexing counts millions of them.
fn for_each_term(text: &str, f: &mut impl FnMut(&str)) {
    let mut lower = String::new();
    for word in words(text) {
        if word.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let parts = split_identifier(word);
        if parts.len() > 1 {
            lowercase_into(word, &mut lower);
            f(&lower);
        }
        for part in parts {
            lowercase_into(part, &mut lower);
            if lower.len() < 2 || lower.bytes().all(|b| b.is_ascii_digit()) || is_stop_word(&lower)
            {
                continue;
            }
            with_stem(&lower, f);
        }
    }
}

fn lowercase_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
    } else {
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
}

/// BM25 term frequencies of a chunk: its text, its name twice (a name says what the code is
/// about), its scope, and the words of its path.
pub fn term_freqs(
    path: &str,
    symbol: Option<&str>,
    scope: Option<&str>,
    text: &str,
) -> Vec<(String, u32)> {
    let mut counts: FxHashMap<String, u32> = FxHashMap::default();
    let mut count = |term: &str| match counts.get_mut(term) {
        Some(n) => *n += 1,
        None => {
            counts.insert(term.to_string(), 1);
        }
    };
    for part in [
        text,
        symbol.unwrap_or(""),
        symbol.unwrap_or(""),
        scope.unwrap_or(""),
        path,
    ] {
        for_each_term(part, &mut count);
    }
    let mut freqs: Vec<(String, u32)> = counts.into_iter().collect();
    freqs.sort_unstable();
    freqs
}

/// Runs of letters, digits and underscores.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// What similar-code compares: the code's shape with names blanked, and its vocabulary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hashes of 4-grams of tokens where identifiers that are not keywords read `$`, numbers
    /// `0` and strings `"`: survives renaming.
    pub shape: FxHashSet<u64>,
    /// Hashes of identifiers, string contents and numbers: survives reordering.
    pub vocabulary: FxHashSet<u64>,
}

const SHAPE_GRAM: usize = 4;

pub fn fingerprint(text: &str, keywords: &[&str]) -> Fingerprint {
    let mut shape_tokens: Vec<u64> = Vec::new();
    let mut print = Fingerprint::default();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            let word = &text[start..i];
            if keywords.contains(&word) {
                shape_tokens.push(hash(word.as_bytes()));
            } else {
                shape_tokens.push(hash(b"$"));
                print.vocabulary.insert(hash(word.as_bytes()));
            }
        } else if b.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            shape_tokens.push(hash(b"0"));
            print.vocabulary.insert(hash(&bytes[start..i]));
        } else if b == b'"' || b == b'\'' || b == b'`' {
            let start = i + 1;
            i += 1;
            while i < bytes.len() && bytes[i] != b && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            let end = i.min(bytes.len());
            i = (i + 1).min(bytes.len());
            shape_tokens.push(hash(b"\""));
            if end > start {
                print
                    .vocabulary
                    .insert(hash(&bytes[start..end]) ^ 0x5354_5249_4e47);
            }
        } else {
            shape_tokens.push(hash(&bytes[i..i + 1]));
            i += 1;
        }
    }
    for gram in shape_tokens.windows(SHAPE_GRAM) {
        print
            .shape
            .insert(gram.iter().fold(0xcbf2_9ce4_8422_2325, |h, &t| mix(h ^ t)));
    }
    print
}

/// Jaccard similarity of two sets.
pub fn jaccard(a: &FxHashSet<u64>, b: &FxHashSet<u64>) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let common = small.iter().filter(|x| large.contains(x)).count();
    common as f32 / (a.len() + b.len() - common) as f32
}

/// Signature length of [`minhash`]: the Jaccard estimate is within ~0.1 of the truth.
pub const MINHASH_LEN: usize = 32;

/// A MinHash signature: the share of equal slots of two signatures estimates the Jaccard
/// similarity of their sets, at a fixed size per chunk. Each slot keeps only the low 8 bits of
/// its minimum (b-bit MinHash): 32 bytes instead of 128 a chunk, which a searcher holds for
/// every chunk, at the cost of a chance agreement 1 time in 256 that
/// [`minhash_similarity`] takes back out. `None` for an empty set.
pub type Signature = Option<[u8; MINHASH_LEN]>;

pub fn minhash(set: &FxHashSet<u64>) -> Signature {
    if set.is_empty() {
        return None;
    }
    let mut mins = [u32::MAX; MINHASH_LEN];
    for &x in set {
        for (k, slot) in mins.iter_mut().enumerate() {
            let h = (mix(x ^ SEEDS[k]) >> 32) as u32;
            if h < *slot {
                *slot = h;
            }
        }
    }
    Some(mins.map(|h| h as u8))
}

pub fn minhash_similarity(a: &Signature, b: &Signature) -> f32 {
    const CHANCE: f32 = 1.0 / 256.0;
    let (Some(a), Some(b)) = (a, b) else {
        return 0.0;
    };
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count() as f32 / MINHASH_LEN as f32;
    ((equal - CHANCE) / (1.0 - CHANCE)).max(0.0)
}

const SEEDS: [u64; MINHASH_LEN] = {
    let mut seeds = [0u64; MINHASH_LEN];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut k = 0;
    while k < MINHASH_LEN {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        seeds[k] = z ^ (z >> 31);
        k += 1;
    }
    seeds
};

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_identifiers() {
        assert_eq!(
            split_identifier("parseHTTPResponse_v2"),
            ["parse", "HTTP", "Response", "v2"]
        );
        assert_eq!(
            split_identifier("retry_failed_upload"),
            ["retry", "failed", "upload"]
        );
        assert_eq!(
            split_identifier("XMLHttpRequest"),
            ["XML", "Http", "Request"]
        );
        assert_eq!(split_identifier("__init__"), ["init"]);
    }

    #[test]
    fn queries_meet_code() {
        let mut code = Vec::new();
        terms("fn retryFailedUploads(queue: &Queue)", &mut code);
        let mut query = Vec::new();
        terms("where do we retry a failed upload?", &mut query);
        for t in &query {
            assert!(code.contains(t), "{t} not in {code:?}");
        }
        assert!(code.contains(&"retryfaileduploads".to_string()));
    }

    #[test]
    fn fingerprints_survive_renaming() {
        let kw = crate::lang::by_name("python").unwrap().keywords;
        let a = fingerprint(
            "def f(items):\n    total = 0\n    for x in items:\n        total += x\n    return total\n",
            kw,
        );
        let b = fingerprint(
            "def g(values):\n    acc = 0\n    for v in values:\n        acc += v\n    return acc\n",
            kw,
        );
        let c = fingerprint(
            "class Point:\n    def __init__(self, x, y):\n        self.x = x\n",
            kw,
        );
        assert_eq!(jaccard(&a.shape, &b.shape), 1.0);
        assert!(jaccard(&a.shape, &c.shape) < 0.3);
        let (sa, sb) = (minhash(&a.shape), minhash(&b.shape));
        assert_eq!(minhash_similarity(&sa, &sb), 1.0);
    }
}

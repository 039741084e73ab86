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
    for_each_part(word, |part| parts.push(part));
    parts
}

/// [`split_identifier`] without a list: called for every word indexed.
pub(crate) fn for_each_part<'w>(word: &'w str, mut f: impl FnMut(&'w str)) {
    for piece in word.split(['_', '$']).filter(|p| !p.is_empty()) {
        if piece.is_ascii() {
            ascii_parts(piece, &mut f);
            continue;
        }
        let mut start = 0;
        let mut prev: Option<char> = None;
        let mut chars = piece.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if let Some(prev) = prev {
                let next_lower = chars.peek().is_some_and(|&(_, n)| n.is_lowercase());
                let boundary = (prev.is_lowercase() && c.is_uppercase())
                    || (prev.is_uppercase() && c.is_uppercase() && next_lower);
                if boundary {
                    f(&piece[start..i]);
                    start = i;
                }
            }
            prev = Some(c);
        }
        f(&piece[start..]);
    }
}

/// The same cuts as the general loop of [`for_each_part`], on bytes.
fn ascii_parts<'w>(piece: &'w str, f: &mut impl FnMut(&'w str)) {
    let bytes = piece.as_bytes();
    let mut start = 0;
    for i in 1..bytes.len() {
        let (prev, c) = (bytes[i - 1], bytes[i]);
        let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
            || (prev.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower);
        if boundary {
            f(&piece[start..i]);
            start = i;
        }
    }
    f(&piece[start..]);
}

/// The words of `text` for BM25: each identifier whole (lower-cased) when it has several
/// parts, and each part lower-cased and stemmed, so `retryFailedUploads`, `retry_failed_upload`
/// and "retries failed uploads" meet.
pub fn terms(text: &str, out: &mut Vec<String>) {
    for_each_term(text, &mut |term| out.push(term.to_string()));
}

/// Calls `f` with each BM25 term of `text`, in order: [`TermCache`] remembers each word's.
fn for_each_term(text: &str, f: &mut impl FnMut(&str)) {
    TERMS.with_borrow_mut(|cache| {
        cache.start();
        for word in words(text) {
            let (start, end) = cache.word(word);
            for &id in &cache.seq[start as usize..end as usize] {
                f(&cache.terms[id as usize]);
            }
        }
    });
}

/// The BM25 terms of one word, in order (see [`terms`]).
fn word_terms(word: &str, f: &mut impl FnMut(&str)) {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let mut lower = String::new();
    let parts = split_identifier(word);
    if parts.len() > 1 {
        lowercase_into(word, &mut lower);
        f(&lower);
    }
    for part in parts {
        lowercase_into(part, &mut lower);
        if lower.len() < 2 || lower.bytes().all(|b| b.is_ascii_digit()) || is_stop_word(&lower) {
            continue;
        }
        with_stem(&lower, f);
    }
}

/// Words remembered per thread before the cache starts over.
const WORD_CACHE_WORDS: usize = 200_000;

thread_local! {
    static TERMS: RefCell<TermCache> = RefCell::default();
}

/// Each word's terms, per thread. Code repeats its words (a chunk of the kernel has ~150 words
/// and ~50 distinct ones), and splitting, lower-casing and stemming every occurrence was most
/// of the tokeniser's time; terms are numbered, so counting them needs no `String`s.
#[derive(Default)]
struct TermCache {
    /// A word as written → its terms' numbers, a range of `seq`.
    words: FxHashMap<Box<str>, (u32, u32)>,
    seq: Vec<u32>,
    numbers: FxHashMap<Box<str>, u32>,
    terms: Vec<Box<str>>,
}

impl TermCache {
    /// Forgets everything once the cache is full; called where no range is held.
    fn start(&mut self) {
        if self.words.len() >= WORD_CACHE_WORDS {
            *self = TermCache::default();
        }
    }

    fn word(&mut self, word: &str) -> (u32, u32) {
        if let Some(&range) = self.words.get(word) {
            return range;
        }
        let start = self.seq.len() as u32;
        let TermCache {
            seq,
            numbers,
            terms,
            ..
        } = self;
        word_terms(word, &mut |term| {
            let number = match numbers.get(term) {
                Some(&n) => n,
                None => {
                    let n = terms.len() as u32;
                    terms.push(term.into());
                    numbers.insert(term.into(), n);
                    n
                }
            };
            seq.push(number);
        });
        let range = (start, self.seq.len() as u32);
        self.words.insert(word.into(), range);
        range
    }
}

pub(crate) fn lowercase_into(word: &str, out: &mut String) {
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
    TERMS.with_borrow_mut(|cache| {
        cache.start();
        let mut numbers: Vec<u32> = Vec::new();
        for part in [
            text,
            symbol.unwrap_or(""),
            symbol.unwrap_or(""),
            scope.unwrap_or(""),
            path,
        ] {
            for word in words(part) {
                let (start, end) = cache.word(word);
                numbers.extend_from_slice(&cache.seq[start as usize..end as usize]);
            }
        }
        numbers.sort_unstable();
        let mut freqs: Vec<(String, u32)> = numbers
            .chunk_by(|a, b| a == b)
            .map(|run| (cache.terms[run[0] as usize].to_string(), run.len() as u32))
            .collect();
        freqs.sort_unstable();
        freqs
    })
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
    // Every identifier is asked whether it is a keyword: by its hash, which it needs anyway,
    // among the keywords' sorted hashes, then by its text.
    let mut keyword_hashes: Vec<(u64, &str)> =
        keywords.iter().map(|k| (hash(k.as_bytes()), *k)).collect();
    keyword_hashes.sort_unstable();
    let is_keyword = |word: &str, h: u64| {
        keyword_hashes
            .binary_search_by_key(&h, |&(kh, _)| kh)
            .is_ok_and(|i| keyword_hashes[i].1 == word)
    };
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
            let h = hash(word.as_bytes());
            if is_keyword(word, h) {
                shape_tokens.push(h);
            } else {
                shape_tokens.push(hash(b"$"));
                print.vocabulary.insert(h);
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
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512dq") {
        // SAFETY: the CPU has just been seen to support AVX-512DQ.
        return Some(unsafe { minima_avx512(set) });
    }
    Some(minima(set))
}

/// [`minima`] compiled for CPUs that multiply 64-bit lanes in one instruction, as the 32
/// slots' hashes of an element then are (same arithmetic, same result).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn minima_avx512(set: &FxHashSet<u64>) -> [u8; MINHASH_LEN] {
    minima(set)
}

#[inline(always)]
fn minima(set: &FxHashSet<u64>) -> [u8; MINHASH_LEN] {
    let mut mins = [u32::MAX; MINHASH_LEN];
    for &x in set {
        for (k, slot) in mins.iter_mut().enumerate() {
            let h = (mix(x ^ SEEDS[k]) >> 32) as u32;
            *slot = (*slot).min(h);
        }
    }
    mins.map(|h| h as u8)
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

#[inline(always)]
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
        // The byte loop for ASCII cuts where the general loop over chars does.
        let general = |word: &str| {
            let mut parts = Vec::new();
            // A non-ASCII piece after `_` sends the word's pieces down the general loop.
            for_each_part(&format!("{word}_é"), |p| parts.push(p.to_string()));
            parts.pop();
            parts
        };
        for word in [
            "getHTTP2Response",
            "ABC",
            "aB",
            "a",
            "Ab_cD",
            "x86_64",
            "HTTPServer",
            "aBCd",
        ] {
            assert_eq!(split_identifier(word), general(word), "{word}");
        }
    }

    #[test]
    fn remembered_terms_are_each_words_own() {
        let text = "fn retryFailedUploads(q: &Queue) { retry_count += 1; retryFailedUploads(q) } 42 0x1f HTTPServer";
        let mut direct = Vec::new();
        for word in words(text) {
            word_terms(word, &mut |t| direct.push(t.to_string()));
        }
        for _ in 0..2 {
            let mut remembered = Vec::new();
            terms(text, &mut remembered);
            assert_eq!(remembered, direct);
        }
        let freqs = term_freqs("src/up.rs", Some("retryFailedUploads"), None, text);
        let count = |t: &str| freqs.iter().find(|(term, _)| term == t).map(|(_, n)| *n);
        assert_eq!(count("retryfaileduploads"), Some(4));
        assert_eq!(count("retri"), Some(5));
        assert_eq!(count("up"), Some(1));
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

//! The records the tables hold and their bytes: files, chunks, postings runs, vectors (int8
//! with a scale), file texts (LZ4); postcard for structs. Decoding damage is
//! [`Error::Damaged`].

use serde::{Deserialize, Serialize};

use super::*;
use crate::walk::SkipReason;

/// A file the walk lists but the index skipped on reading it, with the stat it had then.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SkippedFile {
    pub size: u64,
    pub mtime_ns: u64,
    pub reason: SkipReason,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub size: u64,
    pub mtime_ns: u64,
    pub hash: [u8; 16],
    pub chunk_ids: Vec<u64>,
}

/// A stored chunk (its text is a range of its file's, see [`Reader::chunk_text`]). Its strings
/// are `String`s where it is made, or `&str`s into the stored bytes where a whole table is
/// read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ChunkRecord<S = String> {
    pub path: S,
    pub language: S,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    pub symbol: Option<S>,
    pub kind: ChunkKind,
    pub scope: Option<S>,
    /// Hash of the text that gets embedded: the key of its vector.
    pub content_hash: [u8; 16],
    /// BM25 document length.
    pub n_terms: u32,
    pub shape_sig: tokens::Signature,
    pub vocab_sig: tokens::Signature,
}

/// A file to store: its stat, content hash, text and chunks.
pub(crate) struct NewFile {
    pub path: String,
    pub size: u64,
    pub mtime_ns: u64,
    pub hash: [u8; 16],
    pub text: String,
    pub chunks: Vec<NewChunk>,
}

/// A chunk to store, with its BM25 term frequencies.
pub(crate) struct NewChunk {
    pub record: ChunkRecord,
    pub term_freqs: Vec<(String, u32)>,
}

/// One BM25 posting packed in a u64: chunk id (40 bits), term frequency (8), document length
/// (16), so scoring a term reads its postings and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Posting {
    pub chunk_id: u64,
    pub tf: u32,
    pub doc_len: u32,
}

impl Posting {
    pub(super) fn pack(self) -> u64 {
        (self.chunk_id << 24) | ((self.tf.min(255) as u64) << 16) | self.doc_len.min(65_535) as u64
    }

    pub(super) fn unpack(v: u64) -> Self {
        Posting {
            chunk_id: v >> 24,
            tf: ((v >> 16) & 0xff) as u32,
            doc_len: (v & 0xffff) as u32,
        }
    }
}

/// The packed postings of a run, in chunk id order.
pub(super) fn packed_postings(run: &[u8]) -> impl Iterator<Item = u64> + '_ {
    run.chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

pub(crate) fn model_tag(model_id: &str) -> [u8; 8] {
    blake3::hash(model_id.as_bytes()).as_bytes()[..8]
        .try_into()
        .expect("8 bytes")
}

pub(super) fn embedding_key(tag: &[u8; 8], content_hash: &[u8; 16]) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(tag);
    key[8..].copy_from_slice(content_hash);
    key
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("records always serialise")
}

/// A vector's scale and int8 codes (see [`crate::embed::quantize`]).
pub(crate) type Codes = (f32, Vec<i8>);

/// A vector as stored: its `f32` scale, then int8 codes (see [`crate::embed::quantize`]).
pub(super) fn encode_vector(vector: &[f32]) -> Vec<u8> {
    let (scale, codes) = crate::embed::quantize(vector);
    encode_codes(scale, &codes)
}

pub(super) fn encode_codes(scale: f32, codes: &[i8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + codes.len());
    bytes.extend_from_slice(&scale.to_le_bytes());
    bytes.extend(codes.iter().map(|&c| c as u8));
    bytes
}

pub(super) fn split_vector(bytes: &[u8]) -> Result<(f32, &[u8])> {
    let (scale, codes) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| Error::Storage("a stored vector is truncated".into()))?;
    Ok((f32::from_le_bytes(*scale), codes))
}

pub(super) fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>> {
    let (scale, codes) = split_vector(bytes)?;
    Ok(codes.iter().map(|&c| c as i8 as f32 * scale).collect())
}

/// The range of a file's `text` that is `record`'s chunk; `None` when it lies outside.
pub(crate) fn chunk_text<'t, S>(text: &'t str, record: &ChunkRecord<S>) -> Option<&'t str> {
    text.get(record.start_byte as usize..record.end_byte as usize)
}

pub(super) fn compress(text: &str) -> Vec<u8> {
    lz4_flex::compress_prepend_size(text.as_bytes())
}

pub(super) fn decompress(bytes: &[u8]) -> Result<String> {
    let damaged = |what: &str| Error::Damaged(format!("a stored file text is damaged ({what})"));
    // The length comes first: a damaged one must not size an allocation.
    let len = bytes
        .first_chunk::<4>()
        .map_or(u32::MAX, |b| u32::from_le_bytes(*b));
    if u64::from(len) > 4 * crate::walk::MAX_FILE_BYTES {
        return Err(damaged("implausible length"));
    }
    let raw = lz4_flex::decompress_size_prepended(bytes).map_err(|e| damaged(&e.to_string()))?;
    String::from_utf8(raw).map_err(|_| damaged("not UTF-8"))
}

pub(super) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::Storage(format!("undecodable record: {e}")))
}

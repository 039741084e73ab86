//! What a file becomes before it is stored: its chunks, each with its BM25 terms, similar-code
//! signatures and content hash, and the text the model embeds for a chunk. The index writes
//! these records and the live searcher makes them for editor buffers; neither depends on the
//! other for it.

use crate::chunk::chunk;
use crate::lang::{ChunkKind, Language};
use crate::snapshot::SnapshotFile;
use crate::store::{ChunkRecord, NewChunk, chunk_text};
use crate::{tokens, walk};

/// Cuts a file's text into chunks with their BM25 terms, similar-code signatures and content
/// hashes: what a file on disk and an editor's buffer both become.
pub(crate) fn chunk_file(rel_path: &str, text: &walk::FileText) -> Vec<NewChunk> {
    chunk(&text.text, text.language)
        .into_iter()
        .map(|c| {
            let place = Place {
                start_line: c.start_line,
                end_line: c.end_line,
                start_byte: c.start_byte,
                end_byte: c.end_byte,
                symbol: c.symbol,
                kind: c.kind,
                scope: c.scope,
            };
            record(rel_path, text.language, place, &c.text)
        })
        .collect()
}

/// The records of a file's chunks as another copy of the workspace cut them (`offered`, from
/// a synced snapshot of a file with the same bytes): the chunker and the model are spared,
/// and BM25 terms and signatures are made from the local text. `None` when a chunk does not
/// fit the text, its lines are not those its bytes lie on, or its content hash differs from
/// what the text gives: then the file is chunked here, as nothing offered is taken on trust.
pub(crate) fn offered_records(
    rel_path: &str,
    text: &walk::FileText,
    offered: &SnapshotFile,
) -> Option<Vec<NewChunk>> {
    if offered.language != text.language.name {
        return None;
    }
    // Line `n` (from 1) holds the bytes after the `n - 1`th newline.
    let newlines: Vec<usize> = (text.text.bytes().enumerate())
        .filter_map(|(i, b)| (b == b'\n').then_some(i))
        .collect();
    let line_at = |byte: u32| newlines.partition_point(|&n| n < byte as usize) as u32 + 1;
    offered
        .chunks
        .iter()
        .map(|c| {
            let chunk_text = text.text.get(c.start_byte as usize..c.end_byte as usize)?;
            // A chunk ends at its last line's newline, or with the text (past a final one).
            let len = text.text.len() as u32;
            let last_byte = match c.end_byte < len {
                true => c.end_byte,
                false => len.saturating_sub(1).max(c.start_byte),
            };
            if (c.start_line, c.end_line) != (line_at(c.start_byte), line_at(last_byte)) {
                return None;
            }
            let place = Place {
                start_line: c.start_line,
                end_line: c.end_line,
                start_byte: c.start_byte,
                end_byte: c.end_byte,
                symbol: c.symbol.clone(),
                kind: c.kind,
                scope: c.scope.clone(),
            };
            let new = record(rel_path, text.language, place, chunk_text);
            (new.record.content_hash == c.content_hash).then_some(new)
        })
        .collect()
}

/// Where a chunk lies in its file and what it defines.
struct Place {
    start_line: u32,
    end_line: u32,
    start_byte: u32,
    end_byte: u32,
    symbol: Option<String>,
    kind: ChunkKind,
    scope: Option<String>,
}

/// A chunk's record and BM25 terms, from its place and text.
fn record(rel_path: &str, language: &Language, place: Place, text: &str) -> NewChunk {
    let term_freqs = tokens::term_freqs(
        rel_path,
        place.symbol.as_deref(),
        place.scope.as_deref(),
        text,
    );
    let print = tokens::fingerprint(text, language.keywords);
    let embedded = embedding_input(place.scope.as_deref(), text);
    let record = ChunkRecord {
        path: rel_path.to_string(),
        language: language.name.to_string(),
        start_line: place.start_line,
        end_line: place.end_line,
        start_byte: place.start_byte,
        end_byte: place.end_byte,
        symbol: place.symbol,
        kind: place.kind,
        scope: place.scope,
        content_hash: blake3::hash(embedded.as_bytes()).as_bytes()[..16]
            .try_into()
            .expect("16 bytes"),
        n_terms: term_freqs.iter().map(|(_, n)| n).sum(),
        shape_sig: tokens::minhash(&print.shape),
        vocab_sig: tokens::minhash(&print.vocabulary),
    };
    NewChunk { record, term_freqs }
}

/// What the model reads of a chunk: its code, after the names of what encloses it. The path
/// stays out, so a moved file keeps its vectors.
pub(crate) fn embedding_text<S: AsRef<str>>(record: &ChunkRecord<S>, file_text: &str) -> String {
    embedding_input(
        record.scope.as_ref().map(AsRef::as_ref),
        chunk_text(file_text, record).unwrap_or(""),
    )
}

pub(crate) fn embedding_input(scope: Option<&str>, text: &str) -> String {
    match scope {
        Some(scope) => format!("{scope}\n{text}"),
        None => text.to_string(),
    }
}

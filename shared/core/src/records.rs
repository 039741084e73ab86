//! What a file becomes before it is stored: its chunks, each with its BM25 terms, similar-code
//! signatures and content hash, and the text the model embeds for a chunk. The index writes
//! these records and the live searcher makes them for editor buffers; neither depends on the
//! other for it.

use crate::chunk::chunk;
use crate::store::{ChunkRecord, NewChunk, chunk_text};
use crate::{tokens, walk};

/// Cuts a file's text into chunks with their BM25 terms, similar-code signatures and content
/// hashes: what a file on disk and an editor's buffer both become.
pub(crate) fn chunk_file(rel_path: &str, text: &walk::FileText) -> Vec<NewChunk> {
    chunk(&text.text, text.language)
        .into_iter()
        .map(|c| {
            let term_freqs =
                tokens::term_freqs(rel_path, c.symbol.as_deref(), c.scope.as_deref(), &c.text);
            let print = tokens::fingerprint(&c.text, text.language.keywords);
            let mut record = ChunkRecord {
                path: rel_path.to_string(),
                language: text.language.name.to_string(),
                start_line: c.start_line,
                end_line: c.end_line,
                start_byte: c.start_byte,
                end_byte: c.end_byte,
                symbol: c.symbol,
                kind: c.kind,
                scope: c.scope,
                content_hash: [0; 16],
                n_terms: term_freqs.iter().map(|(_, n)| n).sum(),
                shape_sig: tokens::minhash(&print.shape),
                vocab_sig: tokens::minhash(&print.vocabulary),
            };
            let embedded = embedding_input(record.scope.as_deref(), &c.text);
            record.content_hash = blake3::hash(embedded.as_bytes()).as_bytes()[..16]
                .try_into()
                .expect("16 bytes");
            NewChunk { record, term_freqs }
        })
        .collect()
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

//! The searcher's 4-bit rows kept beside the index (`rows.bin`), so that loading a large index
//! copies them instead of scanning every stored vector and quantising it again: on the kernel
//! that scan is most of a one-shot search.
//!
//! Rows are keyed by the content hash of their chunk, like the vectors they come from, so a
//! row is right for any chunk with that hash whatever the index did since (edits, deletes, a
//! rebuild): a chunk the file has no row for is read from the index as before. The file holds
//! the statistics the rows were quantised with; rows read from the index for the same load are
//! quantised with them too, and kept with them when the file is written again. It is derived
//! data: written whole (a temporary file renamed over it) after a load that found it missing
//! or behind, and ignored when it is of another model, another size, or unreadable.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::dense::Vectors;

const MAGIC: &[u8; 8] = b"SCRYROW1";
/// Indexes smaller than this load fast enough from the index alone.
const MIN_ROWS: usize = if cfg!(test) { 1 } else { 20_000 };
/// The file is used when it lacks at most one row in this many (each lacking row costs a
/// lookup in the index: for many, one scan of the vectors is faster), and written again when
/// it lacks more than one in `REWRITE_SHARE`.
const USE_SHARE: usize = 16;
const REWRITE_SHARE: usize = 64;

/// Where the rows of the index file `db_path` are kept.
pub(super) fn path(db_path: &Path) -> PathBuf {
    db_path.with_file_name("rows.bin")
}

/// Rows for a load: the chunks' (content hash, position) pairs sorted by hash.
pub(super) struct Loaded {
    pub vectors: Vectors,
    /// Indexes into the pairs whose hash the file has no row for.
    pub lacking: Vec<usize>,
}

/// The rows of `order` (sorted by hash) that the file at `path` holds for `model_id`, in
/// [`Vectors`] of `n` positions; `None` when it cannot be used, or lacks too many.
pub(super) fn load(
    path: &Path,
    model_id: &str,
    dim: usize,
    n: usize,
    order: &[([u8; 16], u32)],
) -> Option<Loaded> {
    if n < MIN_ROWS {
        return None;
    }
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0; 8];
    input.read_exact(&mut magic).ok()?;
    let stored_model = read_bytes(&mut input)?;
    if magic != *MAGIC || stored_model != model_id.as_bytes() || read_u64(&mut input)? != dim as u64
    {
        return None;
    }
    let mean = read_floats(&mut input, dim)?;
    let step = read_floats(&mut input, dim)?;
    let count = read_u64(&mut input)?;
    let half = dim.div_ceil(2);
    let header = 8 + 8 + model_id.len() as u64 + 8 + 8 * dim as u64 + 8;
    if len != header + count.checked_mul(16 + half as u64)? {
        return None;
    }
    let mut vectors = Vectors::with_stats(dim, n, mean, step);
    let mut lacking = Vec::new();
    let mut i = 0;
    let mut entry = vec![0; 16 + half];
    for _ in 0..count {
        if i == order.len() {
            break;
        }
        input.read_exact(&mut entry).ok()?;
        let (hash, row) = entry.split_at(16);
        while i < order.len() && order[i].0[..] < *hash {
            lacking.push(i);
            i += 1;
        }
        while i < order.len() && order[i].0[..] == *hash {
            vectors.set_codes(order[i].1 as usize, row);
            i += 1;
        }
    }
    lacking.extend(i..order.len());
    (lacking.len() * USE_SHARE <= order.len()).then_some(Loaded { vectors, lacking })
}

/// Whether a load that lacked `lacking` of `rows` rows should write the file again.
pub(super) fn stale(lacking: usize, rows: usize) -> bool {
    rows >= MIN_ROWS && lacking * REWRITE_SHARE > rows
}

/// Writes the rows of `order` (sorted by hash) to `path`: one per hash, those present.
pub(super) fn write(
    path: &Path,
    model_id: &str,
    vectors: &Vectors,
    order: &[([u8; 16], u32)],
) -> std::io::Result<()> {
    let (mean, step) = vectors.stats();
    let mut rows: Vec<(&[u8; 16], &[u8])> = Vec::with_capacity(order.len());
    for (hash, pos) in order {
        if rows.last().is_some_and(|(h, _)| *h == hash) {
            continue;
        }
        if let Some(row) = vectors.row(*pos as usize) {
            rows.push((hash, row));
        }
    }
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temporary)?);
        out.write_all(MAGIC)?;
        out.write_all(&(model_id.len() as u64).to_le_bytes())?;
        out.write_all(model_id.as_bytes())?;
        out.write_all(&(mean.len() as u64).to_le_bytes())?;
        for x in mean.iter().chain(step) {
            out.write_all(&x.to_le_bytes())?;
        }
        out.write_all(&(rows.len() as u64).to_le_bytes())?;
        for (hash, row) in rows {
            out.write_all(hash)?;
            out.write_all(row)?;
        }
        // Not synced: a row is used only where the hash stored beside it matches, and pages
        // lost to a crash do not hold a chunk's hash beside a wrong row.
        out.flush()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn read_u64(input: &mut impl Read) -> Option<u64> {
    let mut bytes = [0; 8];
    input.read_exact(&mut bytes).ok()?;
    Some(u64::from_le_bytes(bytes))
}

fn read_bytes(input: &mut impl Read) -> Option<Vec<u8>> {
    let len = read_u64(input)?;
    // A model id is short; anything longer is not this file's.
    if len > 4096 {
        return None;
    }
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes).ok()?;
    Some(bytes)
}

fn read_floats(input: &mut impl Read, n: usize) -> Option<Vec<f32>> {
    let mut bytes = vec![0; n * 4];
    input.read_exact(&mut bytes).ok()?;
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    floats.iter().all(|x| x.is_finite()).then_some(floats)
}

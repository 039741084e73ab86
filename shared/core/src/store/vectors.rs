//! Vectors by content hash and model, as a searcher loads them.

use super::*;

pub(crate) struct EmbeddingLookup {
    pub(super) table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl EmbeddingLookup {
    pub fn get(&self, tag: &[u8; 8], content_hash: &[u8; 16]) -> Result<Option<Vec<f32>>> {
        let key = embedding_key(tag, content_hash);
        self.table
            .get(key.as_slice())?
            .map(|v| decode_vector(v.value()))
            .transpose()
    }

    /// Calls `f(i, scale, codes)` for each of `items` (ascending by their `hash`) that has a
    /// vector of `tag`, reading the model's vectors in one pass in key order: for most of the
    /// table's vectors (loading a searcher, building the inverted file), a scan beside the
    /// sorted hashes instead of a descent of the tree per vector.
    pub fn for_each_codes<T>(
        &self,
        tag: &[u8; 8],
        items: &[T],
        hash_of: impl Fn(&T) -> &[u8; 16],
        mut f: impl FnMut(usize, f32, &[i8]),
    ) -> Result<()> {
        let (first, last) = (
            embedding_key(tag, &[0; 16]),
            embedding_key(tag, &[0xff; 16]),
        );
        let mut codes = Vec::new();
        let mut i = 0;
        let hashes = |i: usize| items.get(i).map(&hash_of);
        for entry in self.table.range(first.as_slice()..=last.as_slice())? {
            if i == items.len() {
                break;
            }
            let (key, value) = entry?;
            let Some(hash) = key.value().get(8..24) else {
                continue;
            };
            while hashes(i).is_some_and(|h| h[..] < *hash) {
                i += 1;
            }
            if hashes(i).is_some_and(|h| h[..] == *hash) {
                let (scale, stored) = split_vector(value.value())?;
                codes.clear();
                codes.extend(stored.iter().map(|&c| c as i8));
                // Identical chunks share a vector.
                while hashes(i).is_some_and(|h| h[..] == *hash) {
                    f(i, scale, &codes);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    pub fn contains(&self, tag: &[u8; 8], content_hash: &[u8; 16]) -> Result<bool> {
        Ok(self
            .table
            .get(embedding_key(tag, content_hash).as_slice())?
            .is_some())
    }
}

//! How alike a workspace and a synced generation are, without the service learning anything:
//! each generation's root carries a bottom-k MinHash sketch of its files — the [`LEN`] smallest
//! of the org's keyed hashes of (path, bytes) — sealed like the rest. A fresh copy of a
//! workspace makes the same sketch of its own files and starts from the closest generation.

use crate::sealing::OrgKey;

/// Values a sketch keeps: the estimate's error is about 1/√LEN.
pub const LEN: usize = 128;

/// A file's value: the org's keyed hash of its path and the hash of its bytes.
pub fn value(key: &OrgKey, path: &str, hash: &[u8; 16]) -> u64 {
    let mut named = Vec::with_capacity(path.len() + 17);
    named.extend(path.as_bytes());
    named.push(0);
    named.extend(hash);
    let id = key.object_id("sketch", &named);
    u64::from_le_bytes(id[..8].try_into().expect("8 bytes"))
}

/// The sketch of a set of file values: its [`LEN`] smallest, ascending.
pub fn of(values: impl IntoIterator<Item = u64>) -> Vec<u64> {
    let mut values: Vec<u64> = values.into_iter().collect();
    values.sort_unstable();
    values.dedup();
    values.truncate(LEN);
    values
}

/// The estimated Jaccard similarity of the sets two sketches are of: of the [`LEN`] smallest
/// values of their union (all of it, for sets that small), the share both hold. Exact for sets
/// of fewer than [`LEN`] files; 0 when either sketch is empty.
pub fn similarity(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut taken, mut both) = (0, 0, 0, 0);
    while taken < LEN && (i < a.len() || j < b.len()) {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => (i, j, both) = (i + 1, j + 1, both + 1),
            (Some(x), Some(y)) if x < y => i += 1,
            (Some(_), None) => i += 1,
            _ => j += 1,
        }
        taken += 1;
    }
    match taken {
        0 => 0.0,
        n => both as f64 / n as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(key: &OrgKey, range: std::ops::Range<u32>, edited: &[u32]) -> Vec<u64> {
        range
            .map(|i| {
                let byte = u8::from(edited.contains(&i));
                value(key, &format!("src/f{i}.rs"), &[byte; 16])
            })
            .collect()
    }

    #[test]
    fn the_estimate_follows_how_many_files_two_copies_share() {
        let key = OrgKey::generate(1);
        let sketch =
            |paths: &[(&str, u8)]| of(paths.iter().map(|(p, b)| value(&key, p, &[*b; 16])));
        assert_eq!(similarity(&sketch(&[("a", 1)]), &sketch(&[("a", 1)])), 1.0);
        assert_eq!(
            similarity(&sketch(&[("a", 1)]), &sketch(&[("a", 2)])),
            0.0,
            "other bytes"
        );
        assert_eq!(similarity(&sketch(&[("a", 1)]), &[]), 0.0);
        let small = sketch(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        assert_eq!(
            similarity(&small, &sketch(&[("a", 1), ("b", 1)])),
            0.5,
            "exact"
        );
        assert_eq!(similarity(&small, &sketch(&[("a", 2), ("b", 1)])), 0.2);

        let base = of(files(&key, 0..5000, &[]));
        let near = of(files(&key, 0..5000, &(0..250).collect::<Vec<_>>()));
        let far = of(files(&key, 0..5000, &(0..2500).collect::<Vec<_>>()));
        assert_eq!(base.len(), LEN);
        let (near, far) = (similarity(&base, &near), similarity(&base, &far));
        // 4,750 of 5,250 files shared: 0.90; 2,500 of 7,500: 0.33.
        assert!((near - 0.90).abs() < 0.1, "{near}");
        assert!((far - 0.33).abs() < 0.12, "{far}");
    }
}

//! The static-model loader on arbitrary files: a model loads or is refused with an error,
//! and one that loads embeds any text into finite vectors of its dimension.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scry_core::{Embedder, StaticModel};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = StaticModel::from_bytes("fuzzed", data) else {
        return;
    };
    let texts = [
        "fn parse_config(path: &Path)",
        "",
        "the quick brown fox 42 ünïcödé",
    ];
    let vectors = model
        .embed_documents(&texts)
        .expect("a loaded model embeds");
    let query = model
        .embed_query(texts[0])
        .expect("a loaded model embeds queries");
    for v in vectors.iter().chain([&query]) {
        assert_eq!(v.len(), model.dim());
    }
});

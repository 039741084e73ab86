//! Every decoder of outside bytes in the engine, fed generated input: the chunker for every
//! grammar, the static-model loader, the config files. Each must answer (chunks, or an error)
//! and never panic; chunks must describe the text they came from.
//!
//! A short run is part of `cargo test`; a long one is
//! `PROPTEST_CASES=20000 cargo test --release -p scry-core --test fuzz` (BENCHMARKS.md).

use proptest::prelude::*;
use scry_core::chunk::chunk;
use scry_core::lang;

/// Cases per property: `PROPTEST_CASES`, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Pieces of source text that move parsers into their deeper states: brackets, strings and
/// comments left open, keywords of several languages, odd line ends and characters.
const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    "\"",
    "'",
    "`",
    "/*",
    "*/",
    "//",
    "#",
    "--",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "    ",
    "def ",
    "class ",
    "fn ",
    "function ",
    "func ",
    "impl ",
    "struct ",
    "enum ",
    "interface ",
    "module ",
    "package ",
    "namespace ",
    "public ",
    "static ",
    "async ",
    "return ",
    "if ",
    "else ",
    "end",
    "do",
    "then",
    "fi",
    "esac",
    "=>",
    "->",
    ":",
    "::",
    ";",
    ",",
    ".",
    "=",
    "@",
    "$",
    "\\",
    "x",
    "foo",
    "Bar",
    "_",
    "0x1F",
    "1.5e3",
    "é",
    "日本",
    "\u{0}",
    "\u{feff}",
    "\u{200b}",
    "<?php",
    "?>",
    "#!/bin/sh\n",
    "\"\"\"",
    "'''",
    "${",
    "#[",
    "#include <a.h>\n",
    "template<",
    "@Override\n",
    "#define X(a) a\n",
    "<<EOF\n",
    "EOF\n",
];

fn source_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(proptest::sample::select(PIECES), 0..400)
            .prop_map(|pieces| pieces.concat()),
        1 => proptest::collection::vec(any::<u8>(), 0..2000)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn chunks_describe_their_text_in_every_language(text in source_text()) {
        let lines = text.split('\n').count() as u32;
        for name in lang::names() {
            let language = lang::by_name(name).expect("a listed language");
            let mut previous_start = 0;
            for c in chunk(&text, language) {
                let (start, end) = (c.start_byte as usize, c.end_byte as usize);
                prop_assert!(start <= end && end <= text.len(), "{name}: bytes {start}..{end} of {}", text.len());
                prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end), "{name}: {start}..{end}");
                prop_assert!(1 <= c.start_line && c.start_line <= c.end_line && c.end_line <= lines.max(1),
                    "{name}: lines {}..{} of {lines}", c.start_line, c.end_line);
                prop_assert!(c.start_line >= previous_start, "{name}: chunks out of order");
                previous_start = c.start_line;
            }
        }
    }

    #[test]
    fn config_files_load_or_say_why(text in source_text()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".scry.toml"), &text).unwrap();
        if let Err(err) = scry_core::config::configs(dir.path()) {
            prop_assert!(err.to_string().contains(".scry.toml"), "{err}");
        }
    }
}

static MODEL: &[u8] = include_bytes!("../models/scry-code.bin");

proptest! {
    // Each case parses up to the whole 28 MB file.
    #![proptest_config(cases(16))]

    #[test]
    fn a_damaged_model_file_is_refused_not_trusted(
        cut in prop_oneof![Just(MODEL.len()), 0..MODEL.len()],
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..4),
        far_flip in (0..MODEL.len(), 1u8..),
    ) {
        let mut bytes = MODEL[..cut].to_vec();
        for (at, value) in flips {
            if at < bytes.len() {
                bytes[at] ^= value;
            }
        }
        if far_flip.0 < bytes.len() {
            bytes[far_flip.0] ^= far_flip.1;
        }
        // A truncated file always fails; a flipped one may still load (a vector changed), but
        // then as a model of its own, never as the built-in one.
        match scry_core::StaticModel::from_bytes("damaged", &bytes) {
            Ok(model) => {
                use scry_core::Embedder;
                prop_assert!(cut == MODEL.len(), "a truncated file loaded");
                prop_assert_ne!(model.model_id(), scry_core::StaticModel::builtin().unwrap().model_id());
            }
            Err(err) => prop_assert!(err.to_string().contains("damaged"), "{err}"),
        }
    }

    #[test]
    fn arbitrary_bytes_are_not_a_model(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut with_magic = MODEL[..8].to_vec();
        with_magic.extend_from_slice(&bytes);
        for candidate in [&bytes, &with_magic] {
            prop_assert!(scry_core::StaticModel::from_bytes("random", candidate).is_err());
        }
    }
}

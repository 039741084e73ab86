//! The chunker on arbitrary bytes, in every language Scry knows (the first byte picks one):
//! chunks lie inside the text, on character boundaries, in order, within its lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scry_core::chunk::chunk;
use scry_core::lang;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let names: Vec<&str> = lang::names().collect();
    let language = lang::by_name(names[pick as usize % names.len()]).expect("a listed language");
    // Files reach the chunker as text (a walk skips binary files and decodes the rest lossily).
    let text = String::from_utf8_lossy(rest);
    let lines = text.split('\n').count() as u32;
    let mut previous_start = 0;
    for c in chunk(&text, language) {
        let (start, end) = (c.start_byte as usize, c.end_byte as usize);
        assert!(
            start <= end && end <= text.len(),
            "bytes {start}..{end} of {}",
            text.len()
        );
        assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
        assert!(1 <= c.start_line && c.start_line <= c.end_line && c.end_line <= lines.max(1));
        assert!(c.start_line >= previous_start, "chunks out of order");
        previous_start = c.start_line;
    }
});

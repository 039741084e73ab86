//! The language server's input guard on an arbitrary byte stream from the editor: the
//! protocol library is handed only whole frames it decodes, and every other frame is answered.
#![no_main]

// The guard lives in the binary crate `scry`; it needs nothing of that crate.
#[path = "../../lsp/src/lsp/framing.rs"]
#[allow(dead_code)]
mod framing;

use libfuzzer_sys::fuzz_target;
use tower_lsp_server::jsonrpc::{Request, Response};

/// The bodies of `Content-Length` frames as the guard writes them.
fn bodies(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let text = std::str::from_utf8(&bytes[..bytes.len().min(64)]).unwrap_or_default();
        let header_end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header");
        let header = std::str::from_utf8(&bytes[..header_end]).expect("an ASCII header");
        let n: usize = (header.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a Content-Length header, not {text:?}"));
        out.push(&bytes[header_end + 4..header_end + 4 + n]);
        bytes = &bytes[header_end + 4 + n..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut to_library = Vec::new();
    // The one error is a stream that ends inside a frame's body: the editor is gone.
    if let Err(e) = runtime.block_on(framing::guard_input(data, &mut to_library, tx)) {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    for body in bodies(&to_library) {
        let value: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        assert!(
            serde_json::from_value::<Request>(value.clone()).is_ok()
                || serde_json::from_value::<Response>(value).is_ok()
        );
    }
    while let Ok(answer) = rx.try_recv() {
        let body = bodies(&answer);
        assert_eq!(body.len(), 1);
        let value: serde_json::Value = serde_json::from_slice(body[0]).expect("JSON");
        assert!(value["error"]["code"].is_i64(), "{value}");
    }
});

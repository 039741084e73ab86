//! A guard between stdio and the protocol library: tower-lsp-server stops reading for good
//! after one undecodable message, so every frame is checked here first. A malformed one gets
//! a JSON-RPC error response and the session goes on.

use std::io;

use serde_json::{Value, json};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// Frames larger than this are refused (a confused client, not an editor's message).
const MAX_FRAME: usize = 256 * 1024 * 1024;

enum Frame {
    Body(Vec<u8>),
    /// Headers that could not be read; the frame is skipped.
    Bad(String),
}

/// Longest header line taken: real headers are a few dozen bytes.
const MAX_HEADER_LINE: usize = 8 * 1024;

/// Reads one frame: headers up to a blank line, then `Content-Length` bytes. `None` at the end
/// of the stream. A header that is not UTF-8 or runs past [`MAX_HEADER_LINE`] makes the frame
/// bad; its body, when its length was readable, is skipped so the next frame starts in step.
async fn read_frame<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Frame>> {
    let mut length: Option<Result<usize, String>> = None;
    let mut bad_header: Option<String> = None;
    let mut any_header = false;
    loop {
        let line = match read_header_line(reader).await? {
            None => return Ok(None),
            Some(Ok(line)) => line,
            Some(Err(problem)) => {
                any_header = true;
                bad_header.get_or_insert(problem);
                continue;
            }
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if any_header {
                break;
            }
            continue;
        }
        any_header = true;
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = Some(
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad Content-Length `{}`", value.trim())),
            );
        }
    }
    let length = match length {
        Some(Ok(n)) if n <= MAX_FRAME => n,
        Some(Ok(n)) => return Ok(Some(Frame::Bad(format!("a {n}-byte message is too large")))),
        Some(Err(message)) => return Ok(Some(Frame::Bad(message))),
        None => return Ok(Some(Frame::Bad("a message without Content-Length".into()))),
    };
    if let Some(problem) = bad_header {
        let skipped =
            tokio::io::copy(&mut reader.take(length as u64), &mut tokio::io::sink()).await?;
        if skipped < length as u64 {
            return Ok(None);
        }
        return Ok(Some(Frame::Bad(problem)));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(Frame::Body(body)))
}

/// One header line, newline included: `Err` (the line consumed) when it is not UTF-8 or longer
/// than [`MAX_HEADER_LINE`]; `None` at the end of the stream.
async fn read_header_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<Result<String, String>>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(
                (!line.is_empty() || too_long).then(|| Err("a header line without its end".into()))
            );
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if line.len() + take <= MAX_HEADER_LINE {
            line.extend_from_slice(&available[..take]);
        } else {
            too_long = true;
            line.clear();
        }
        reader.consume(take);
        if done {
            break;
        }
    }
    if too_long {
        return Ok(Some(Err(format!(
            "a header line longer than {MAX_HEADER_LINE} bytes"
        ))));
    }
    Ok(Some(String::from_utf8(line).map_err(|_| {
        "a header line that is not UTF-8".to_string()
    })))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn error_response(id: Value, code: i64, message: String) -> Vec<u8> {
    tracing::warn!("{message}");
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    frame(body.to_string().as_bytes())
}

/// Whether the library can decode `body`; else the error response to send instead.
fn check(body: &[u8]) -> Result<(), Vec<u8>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        error_response(Value::Null, -32700, format!("unparsable JSON message: {e}"))
    })?;
    let decodes = serde_json::from_value::<Request>(value.clone()).is_ok()
        || serde_json::from_value::<Response>(value.clone()).is_ok();
    if decodes {
        return Ok(());
    }
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    Err(error_response(
        id,
        -32600,
        "not a JSON-RPC 2.0 request, notification or response".into(),
    ))
}

/// Copies checked frames from `input` to `to_library`, answering bad ones on `out`.
pub async fn guard_input<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    input: R,
    mut to_library: W,
    out: mpsc::UnboundedSender<Vec<u8>>,
) -> io::Result<()> {
    let mut reader = tokio::io::BufReader::new(input);
    while let Some(frame) = read_frame(&mut reader).await? {
        match frame {
            Frame::Body(body) => match check(&body) {
                Ok(()) => {
                    to_library.write_all(&self::frame(&body)).await?;
                    to_library.flush().await?;
                }
                Err(response) => {
                    let _ = out.send(response);
                }
            },
            Frame::Bad(message) => {
                let _ = out.send(error_response(Value::Null, -32700, message));
            }
        }
    }
    to_library.shutdown().await
}

/// Copies whole frames from the library's output to `out`, so error responses never land
/// inside one of its messages.
pub async fn frames_of<R: AsyncRead + Unpin>(
    library: R,
    out: mpsc::UnboundedSender<Vec<u8>>,
) -> io::Result<()> {
    let mut reader = tokio::io::BufReader::new(library);
    while let Some(frame) = read_frame(&mut reader).await? {
        if let Frame::Body(body) = frame
            && out.send(self::frame(&body)).is_err()
        {
            break;
        }
    }
    Ok(())
}

/// Writes frames to `output` in the order they come.
pub async fn write_frames<W: AsyncWrite + Unpin>(
    mut output: W,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
) -> io::Result<()> {
    while let Some(frame) = frames.recv().await {
        output.write_all(&frame).await?;
        output.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokio::io::AsyncReadExt;

    use super::*;

    /// Frames as `frame` writes them: the bodies, in order.
    fn bodies(mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let text = std::str::from_utf8(&bytes[..bytes.len().min(64)]).unwrap_or("");
            let header_end = text.find("\r\n\r\n").expect("a header");
            let length: usize = text["Content-Length: ".len()..header_end].parse().unwrap();
            let start = header_end + 4;
            out.push(bytes[start..start + length].to_vec());
            bytes = &bytes[start + length..];
        }
        out
    }

    /// Pieces of a stream an editor, a broken client or line noise could send.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        let request = br#"{"jsonrpc":"2.0","id":1,"method":"scry/status","params":null}"#;
        prop_oneof![
            Just(frame(request)),
            proptest::collection::vec(any::<u8>(), 0..200).prop_map(|body| frame(&body)),
            (0usize..400, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(n, body)| {
                let mut out = format!("Content-Length: {n}\r\n\r\n").into_bytes();
                out.extend(body);
                out
            }),
            proptest::collection::vec(any::<u8>(), 0..300),
            Just(b"Content-Type: x\r\n\r\n".to_vec()),
            Just(b"Content-Length: -1\r\n\r\n".to_vec()),
            Just(b"Content-Length: 99999999999999999999\r\n\r\n".to_vec()),
            Just([b"X-Long: ".as_slice(), &[b'a'; 9000], b"\r\n"].concat()),
            Just(b"Content-Length: 2\r\nX: \xff\xfe\r\n\r\n{}".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_stream_reaches_the_library_only_as_decodable_frames(
            pieces in proptest::collection::vec(piece(), 0..10)
        ) {
            let input = pieces.concat();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (forwarded, answers) = runtime.block_on(async {
                let (to_library, mut library) = tokio::io::duplex(1 << 16);
                let (out, mut answers) = mpsc::unbounded_channel();
                let reading = tokio::spawn(async move {
                    let mut forwarded = Vec::new();
                    library.read_to_end(&mut forwarded).await.unwrap();
                    forwarded
                });
                // An end mid-frame is an error of the stream, not a panic.
                let _ = guard_input(&input[..], to_library, out).await;
                let forwarded = reading.await.unwrap();
                let mut all = Vec::new();
                while let Ok(answer) = answers.try_recv() {
                    all.push(answer);
                }
                (forwarded, all)
            });
            for body in bodies(&forwarded) {
                prop_assert!(check(&body).is_ok(), "forwarded {:?}", String::from_utf8_lossy(&body));
            }
            for answer in answers {
                let bodies = bodies(&answer);
                prop_assert_eq!(bodies.len(), 1);
                let value: Value = serde_json::from_slice(&bodies[0]).unwrap();
                prop_assert!(value["error"]["code"].is_i64(), "{value}");
            }
        }
    }
}

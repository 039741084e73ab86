//! One-shot commands ask a running live index instead of loading the index themselves: the
//! process that holds a folder (a language server, `scry watch`, the desktop app) listens on
//! a Unix socket beside the index, and `scry search` or `scry similar` gets its answer in
//! milliseconds where loading a large index takes seconds.
//!
//! The protocol is one JSON line each way, one question per connection. Only the same user is served: the
//! socket is 0600 and each peer's credentials are checked, on both ends. An answer is given
//! only when the live index is up to date with the jobs sent before the question and searches
//! with the model the asker would use; otherwise the asker is told to look for itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Job, State, Status};
use crate::{Error, Filter, Hit, Result, Searcher, Span};

/// The socket's name in the index's directory.
const SOCKET: &str = "live.sock";
/// How long a question waits for the jobs before it to be applied; a worker busier than this
/// (a first index, a branch switch) leaves the asker to look for itself.
const SETTLE: Duration = Duration::from_secs(2);
/// What a peer may take to send its question or read the answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest question line read: a query, a glob and a path.
const MAX_QUESTION: u64 = 64 * 1024;

/// What a one-shot command asks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Question {
    pub ask: Ask,
    pub limit: usize,
    pub language: Option<String>,
    pub glob: Option<String>,
    /// The model the asker would search with (`None`: lexical): a live index with another
    /// model would answer differently, so it does not answer.
    pub model: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    /// [`Searcher::search_files`], or [`Searcher::search`] with `chunks`.
    Search { query: String, chunks: bool },
    /// [`Searcher::similar`]; the span's path as the command line gave it.
    Similar { span: Span },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Hits(Vec<Hit>),
    /// The question cannot be answered anywhere: a bad query or span (its message).
    Refused {
        span: bool,
        message: String,
    },
    /// This live index cannot answer now (busy, another model, a failed index): ask elsewhere.
    Unavailable(String),
}

/// Asks the live index that holds the workspace at `root` (canonical): `None` when none
/// does, or it cannot answer now, and the caller should search the index itself.
pub fn ask(root: &Path, question: &Question) -> Option<Result<Vec<Hit>>> {
    let path = socket_path(&crate::default_db_path(root))?;
    let answer = match exchange(&path, question) {
        Ok(answer) => answer,
        Err(err) => {
            tracing::debug!("no live index answered at {}: {err}", path.display());
            return None;
        }
    };
    match answer {
        Answer::Hits(hits) => Some(Ok(hits)),
        Answer::Refused {
            span: true,
            message,
        } => Some(Err(Error::InvalidSpan(message))),
        Answer::Refused {
            span: false,
            message,
        } => Some(Err(Error::InvalidQuery(message))),
        Answer::Unavailable(why) => {
            tracing::debug!("the live index at {} did not answer: {why}", path.display());
            None
        }
    }
}

fn exchange(path: &Path, question: &Question) -> std::io::Result<Answer> {
    let stream = UnixStream::connect(path)?;
    if peer_uid(&stream)? != own_uid() {
        return Err(std::io::Error::other("the socket belongs to another user"));
    }
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))?;
    let mut line = serde_json::to_vec(question)?;
    line.push(b'\n');
    (&stream).write_all(&line)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    Ok(serde_json::from_str(&reply)?)
}

/// Where the live index of the index file `db_path` listens: `None` where the path is too
/// long for a Unix socket (the asker then loads the index itself).
fn socket_path(db_path: &Path) -> Option<PathBuf> {
    let path = db_path.parent()?.join(SOCKET);
    // sockaddr_un holds 108 bytes with the terminating NUL.
    (path.as_os_str().len() < 108).then_some(path)
}

/// What the server reads of its workspace.
pub(super) struct Served {
    pub searcher: Arc<RwLock<Option<Searcher>>>,
    pub status: Arc<Mutex<Status>>,
    pub jobs: Sender<Job>,
}

/// The listening socket; dropping it stops listening and removes the socket.
pub(super) struct Server {
    path: PathBuf,
    /// The socket file's inode: another process may have bound the path since.
    inode: u64,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Listens beside the index at `db_path`, unless a live process already does (another
    /// editor on the same folder answers then). A failure is logged, never fatal: one-shot
    /// commands then load the index themselves.
    pub fn start(db_path: &Path, served: Served) -> Option<Server> {
        let path = socket_path(db_path)?;
        match Server::bind(&path, served) {
            Ok(server) => server,
            Err(err) => {
                tracing::debug!("not listening at {}: {err}", path.display());
                None
            }
        }
    }

    fn bind(path: &Path, served: Served) -> std::io::Result<Option<Server>> {
        if UnixStream::connect(path).is_ok() {
            return Ok(None);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A socket nobody listens on is left from a process that ended without removing it.
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        let inode = std::fs::metadata(path)?.ino();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let served = Arc::new(served);
        std::thread::Builder::new()
            .name("scry-live-socket".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let served = served.clone();
                    let _ = std::thread::Builder::new()
                        .name("scry-live-answer".into())
                        .spawn(move || {
                            if let Err(err) = answer(&stream, &served) {
                                tracing::debug!("a one-shot question failed: {err}");
                            }
                        });
                }
            })?;
        Ok(Some(Server {
            path: path.to_path_buf(),
            inode,
            stop,
        }))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = UnixStream::connect(&self.path);
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Answers each question line of one connection.
fn answer(stream: &UnixStream, served: &Served) -> std::io::Result<()> {
    if peer_uid(stream)? != own_uid() {
        return Ok(());
    }
    stream.set_read_timeout(Some(PEER_TIMEOUT))?;
    stream.set_write_timeout(Some(PEER_TIMEOUT))?;
    let mut lines = BufReader::new(stream.take(MAX_QUESTION));
    let mut line = String::new();
    lines.read_line(&mut line)?;
    let answer = match serde_json::from_str::<Question>(&line) {
        Ok(question) => settled(served)
            .and_then(|()| reply(served, &question))
            .unwrap_or_else(Answer::Unavailable),
        Err(err) => Answer::Unavailable(format!("not a question: {err}")),
    };
    let mut out = serde_json::to_vec(&answer)?;
    out.push(b'\n');
    (&*stream).write_all(&out)
}

/// Waits until the jobs sent before now are applied; `Err` says why the index cannot answer.
fn settled(served: &Served) -> std::result::Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    served
        .jobs
        .send(Job::Settle(tx))
        .map_err(|_| "the workspace closed".to_string())?;
    rx.recv_timeout(SETTLE)
        .map_err(|_| "the index is busy".to_string())?;
    let status = served.status.lock().expect("status lock");
    match status.state {
        State::Ready => Ok(()),
        state => Err(format!("the index is {state:?}")),
    }
}

fn reply(served: &Served, question: &Question) -> std::result::Result<Answer, String> {
    let guard = served.searcher.read().expect("searcher lock");
    let searcher = guard.as_ref().ok_or("no searcher is loaded")?;
    if searcher.model_id() != question.model.as_deref() {
        return Err("it searches with another model".into());
    }
    let hits =
        Filter::new(question.language.as_deref(), question.glob.as_deref()).and_then(|filter| {
            match &question.ask {
                Ask::Search {
                    query,
                    chunks: true,
                } => searcher.search(query, question.limit, &filter),
                Ask::Search { query, .. } => searcher.search_files(query, question.limit, &filter),
                Ask::Similar { span } => searcher.similar(span, question.limit, &filter),
            }
        });
    match hits {
        Ok(hits) => Ok(Answer::Hits(hits)),
        Err(Error::InvalidQuery(message)) => Ok(Answer::Refused {
            span: false,
            message,
        }),
        Err(Error::InvalidSpan(message)) => Ok(Answer::Refused {
            span: true,
            message,
        }),
        Err(err) => Err(err.to_string()),
    }
}

fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The user on the other end of a connected socket, as the kernel saw it connect.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    match rc {
        0 => Ok(cred.uid),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let (mut uid, mut gid) = (u32::MAX, u32::MAX);
    // SAFETY: `uid` and `gid` are valid for writes.
    match unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } {
        0 => Ok(uid),
        _ => Err(std::io::Error::last_os_error()),
    }
}

//! A damaged index file is one error, never a panic: redb meets some damaged pages with a
//! panic (an invalid page type, unreachable code in a cursor) rather than an error, and the
//! engine finds other damage itself ([`Error::Damaged`]). Storage entry points run under
//! [`guarded`], which turns both into [`Error::CorruptIndex`] naming the file.

use std::path::Path;

use crate::error::{Error, Result};

/// Runs storage work on the index at `path`, turning damage into the one corrupt-index error:
/// [`Error::Damaged`] found by the engine, and the panics with which redb meets some damaged
/// pages (an invalid page type, unreachable code in a cursor) instead of returning an error.
/// Other panics go on unwinding: they are bugs, not damage.
pub(crate) fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    watch_for_redb_panics();
    let corrupt = |message: String| Error::CorruptIndex {
        path: path.to_path_buf(),
        message,
    };
    let outcome = {
        let _active = Active::enter();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    };
    match outcome {
        Ok(Err(Error::Damaged(message))) => Err(corrupt(message)),
        Ok(result) => result,
        Err(payload) => match REDB_PANIC.lock().map(|mut p| p.take()) {
            Ok(Some(message)) => Err(corrupt(format!("the storage engine stopped: {message}"))),
            _ => std::panic::resume_unwind(payload),
        },
    }
}

/// The message of the last panic raised inside redb during a guarded call, for [`guarded`] to
/// report.
static REDB_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Guarded calls running now (on any thread: redb may panic on a rayon worker of the call).
/// Outside them the hook stays out of the way, so a redb panic elsewhere is printed as any
/// panic is, and leaves no message for a later call to misreport.
static ACTIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Active;

impl Active {
    fn enter() -> Active {
        ACTIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Chains a panic hook (once per process) that keeps redb's panics during guarded calls quiet
/// and remembers them: [`guarded`] reports them as one error line. Every other panic goes to
/// the previous hook.
fn watch_for_redb_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_redb = info.location().is_some_and(|l| {
                let file = l.file();
                file.contains("/redb-") || file.contains("\\redb-")
            });
            let guarded_now = ACTIVE.load(std::sync::atomic::Ordering::SeqCst) > 0;
            if !in_redb || !guarded_now {
                return previous(info);
            }
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            if let Ok(mut last) = REDB_PANIC.lock() {
                *last = Some(message);
            }
        }));
    });
}

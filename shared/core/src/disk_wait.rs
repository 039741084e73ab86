//! How long the workspace's disk has kept an update waiting. The calls that wait on it (the
//! walk, file reads) are marked, so that a watchdog on another thread can tell a mount that
//! stopped answering (an NFS or sshfs server gone, a disk stuck) from a long stage that does
//! no I/O: only time spent with a call in flight and no answer counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Shared by the threads of an update and whoever watches it; clones are the same clock.
#[derive(Clone, Debug)]
pub struct DiskWait(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    base: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `base` of the last answer, or of the start of a wait when none was
    /// in flight before it.
    answered_ms: AtomicU64,
}

impl Default for DiskWait {
    fn default() -> DiskWait {
        DiskWait(Arc::new(Inner {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            answered_ms: AtomicU64::new(0),
        }))
    }
}

impl DiskWait {
    /// Marks a call to the disk in flight until the guard drops, which counts as its answer.
    pub fn begin(&self) -> Waiting<'_> {
        if self.0.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.answered();
        }
        Waiting(self)
    }

    /// A call in flight heard from the disk (a walk's next entry).
    pub fn answered(&self) {
        let now = self.0.base.elapsed().as_millis() as u64;
        self.0.answered_ms.fetch_max(now, Ordering::SeqCst);
    }

    /// How long calls have been waiting with no answer from the disk; `None` while none is.
    pub fn stalled_for(&self) -> Option<Duration> {
        if self.0.in_flight.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let now = self.0.base.elapsed().as_millis() as u64;
        let since = self.0.answered_ms.load(Ordering::SeqCst);
        Some(Duration::from_millis(now.saturating_sub(since)))
    }
}

/// A call to the disk in flight (see [`DiskWait::begin`]).
pub struct Waiting<'a>(&'a DiskWait);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.answered();
        self.0.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_call_left_unanswered_counts() {
        let disk = DiskWait::default();
        assert_eq!(disk.stalled_for(), None, "nothing in flight");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(disk.stalled_for(), None, "idle time is not a stall");

        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let reader = {
            let disk = disk.clone();
            std::thread::spawn(move || {
                let _read = disk.begin();
                blocked.recv().unwrap();
            })
        };
        std::thread::sleep(Duration::from_millis(120));
        let stalled = disk.stalled_for().expect("a read in flight");
        assert!(stalled >= Duration::from_millis(100), "{stalled:?}");
        // Another call answering (a walk's entry) means the disk is there.
        disk.answered();
        assert!(disk.stalled_for().unwrap() < Duration::from_millis(100));
        release.send(()).unwrap();
        reader.join().unwrap();
        assert_eq!(disk.stalled_for(), None);
    }
}

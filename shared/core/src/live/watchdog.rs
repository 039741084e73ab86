//! Says when the workspace's disk stops answering (an NFS or sshfs server gone, a stuck
//! mount): the worker is then blocked in a call to it and cannot say so itself. Searches keep
//! answering from the last committed state meanwhile; the update goes on when the disk does.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Event, Sink, Status};
use crate::disk_wait::DiskWait;

/// How long a call to the disk may go unanswered before the user hears of it: far beyond a
/// slow network share's latency, well before someone wonders why nothing happens.
pub const DISK_PATIENCE: Duration = Duration::from_secs(20);
const TICK: Duration = Duration::from_secs(1);

pub(super) struct Watchdog {
    pub root: PathBuf,
    pub disk: DiskWait,
    pub status: Arc<Mutex<Status>>,
    pub events: Sink,
}

/// What the user is told while the disk holding `root` does not answer.
pub fn disk_stall_message(root: &Path) -> String {
    format!(
        "the disk holding {} has not answered for {} s (a stalled mount or network share?): \
         Scry goes on when it answers",
        root.display(),
        DISK_PATIENCE.as_secs()
    )
}

impl Watchdog {
    /// Watches until `stop`'s sender is dropped (with the workspace).
    pub fn run(self, stop: Receiver<()>) {
        let mut shown: Option<String> = None;
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(TICK) {
            let stalled = self.disk.stalled_for().is_some_and(|d| d >= DISK_PATIENCE);
            match (stalled, &shown) {
                (true, None) => {
                    let message = disk_stall_message(&self.root);
                    (self.events)(Event::Warning(message.clone()));
                    self.show(Some(&message), None);
                    shown = Some(message);
                }
                // The worker published a status of its own meanwhile: the stall still holds.
                (true, Some(message)) => self.show(Some(message), None),
                (false, Some(message)) => {
                    tracing::info!(root = %self.root.display(), "the disk answers again");
                    self.show(None, Some(message));
                    shown = None;
                }
                (false, None) => {}
            }
        }
    }

    /// Puts `message` into the status (or takes `replacing` out of it) and reports the
    /// change, if there is one.
    fn show(&self, message: Option<&str>, replacing: Option<&str>) {
        let changed = {
            let mut status = self.status.lock().expect("status lock");
            let now = match message {
                Some(m) => Some(m.to_owned()),
                None if status.message.as_deref() == replacing => None,
                None => return,
            };
            if status.message == now {
                return;
            }
            status.message = now;
            status.clone()
        };
        (self.events)(Event::Status(changed));
    }
}

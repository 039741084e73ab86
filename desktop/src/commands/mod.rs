//! The commands the page invokes, a few lines each over `scry-client` (the account) and
//! `scry-core`'s live index (local workspaces). Blocking work (the credential store, opening
//! an index) runs off the async runtime's threads.

pub mod account;
pub mod keys;
pub mod orgs;
pub mod settings;
pub mod sync;
pub mod usage;
pub mod workspaces;

use crate::error::{CommandError, CommandResult};

/// Runs blocking work (the OS credential store, file I/O) on a thread made for it.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> CommandResult<T> + Send + 'static,
) -> CommandResult<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::new("internal", format!("a background task failed: {e}")))?
}

//! The commands the page invokes, a few lines each over `scry-client` (the account) and
//! `scry-core`'s live index (local workspaces). Blocking work (the credential store, opening
//! an index) runs off the async runtime's threads.

pub mod account;
pub mod data_key;
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

/// A runtime and a client of `server` with its stored session, for blocking threads (a
/// client's connections belong to the runtime it is used on; the sync functions take both).
fn blocking_session(server: &str) -> CommandResult<(tokio::runtime::Runtime, scry_client::Client)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::new("internal", format!("cannot start a runtime: {e}")))?;
    let token = scry_client::credentials::token_for(server)?
        .ok_or_else(|| CommandError::not_signed_in(server))?;
    Ok((runtime, account::client(server, Some(&token))?))
}

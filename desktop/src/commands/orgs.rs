//! The signed-in person's organisations.

use scry_client::credentials;
use tauri::State;

use super::account::{OrgView, client};
use super::blocking;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// Creates an organisation owned by the signed-in person.
#[tauri::command]
pub async fn create_org(state: State<'_, AppState>, name: String) -> CommandResult<OrgView> {
    let server = state.server.clone();
    let token = {
        let server = server.clone();
        blocking(move || Ok(credentials::load(&server)?)).await?
    }
    .map(|(token, _)| token)
    .ok_or_else(|| CommandError::not_signed_in(&server))?;
    let org = client(&server, Some(&token))?.create_org(&name).await?;
    Ok(OrgView {
        id: org.id,
        name: org.name,
        tier: org.tier,
        role: "owner".into(),
    })
}

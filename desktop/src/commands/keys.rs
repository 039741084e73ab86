//! An organisation's API keys: made with a role and a name (the key shown once), listed by
//! prefix and last use, revoked.

use scry_client::display::{ago, utc};
use scry_client::sync::workspace::now;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::account::session;
use super::orgs::parse_role;
use crate::error::CommandResult;
use crate::state::AppState;

#[derive(Clone, Debug, Serialize, TS)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub role: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created: String,
    /// `never`, or how long ago.
    pub last_used: String,
}

/// A new key: `secret` is the key itself, shown this once (the service keeps only a hash).
#[derive(Clone, Debug, Serialize, TS)]
pub struct KeyCreatedView {
    pub key: KeyView,
    pub secret: String,
}

#[tauri::command]
pub async fn api_keys(state: State<'_, AppState>, org: String) -> CommandResult<Vec<KeyView>> {
    let keys = session(&state).await?.keys(&org).await?;
    Ok(keys.iter().map(view).collect())
}

#[tauri::command]
pub async fn create_api_key(
    state: State<'_, AppState>,
    org: String,
    name: String,
    role: String,
) -> CommandResult<KeyCreatedView> {
    let role = parse_role(&role)?;
    let created = session(&state).await?.create_key(&org, &name, role).await?;
    Ok(KeyCreatedView {
        key: view(&created.api_key),
        secret: created.key,
    })
}

/// Revokes a key: requests carrying it fail from now on.
#[tauri::command]
pub async fn revoke_api_key(
    state: State<'_, AppState>,
    org: String,
    key: String,
) -> CommandResult<()> {
    Ok(session(&state).await?.revoke_key(&org, &key).await?)
}

fn view(k: &scry_client::api::ApiKey) -> KeyView {
    KeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        role: k.role.as_str().into(),
        prefix: k.prefix.clone(),
        created: utc(k.created_at),
        last_used: k
            .last_used_at
            .map_or_else(|| "never".into(), |at| ago(at, now())),
    }
}

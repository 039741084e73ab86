//! The org's data key as this device sees it: its fingerprint (to compare with another
//! device's, out of band), which devices hold it, and the recovery key an owner writes down.

use scry_client::credentials;
use scry_client::sync::workspace::{issue_recovery_key, org_key};
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::account::session;
use super::{blocking, blocking_session};
use crate::error::CommandResult;
use crate::state::AppState;

#[derive(Clone, Debug, Serialize, TS)]
pub struct DataKeyView {
    /// The fingerprint of the key this device holds, if it holds the current one.
    pub fingerprint: Option<String>,
    /// The org's current key epoch.
    #[ts(type = "number")]
    pub epoch: i64,
    /// Where this device keeps it: `keyring`, or the file and why.
    pub kept: Option<String>,
    /// Whether an owner wrote down this epoch's recovery key.
    pub recovery_written: bool,
    pub devices: Vec<DeviceView>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct DeviceView {
    pub label: String,
    /// The member's email, or `API key`.
    pub owner: String,
    pub holds_key: bool,
    pub this_device: bool,
}

/// A recovery key, shown once.
#[derive(Clone, Debug, Serialize, TS)]
pub struct RecoveryKeyView {
    pub key: String,
    #[ts(type = "number")]
    pub epoch: i64,
    pub fingerprint: String,
}

/// Where the org's data key stands for this device.
#[tauri::command]
pub async fn data_key(state: State<'_, AppState>, org: String) -> CommandResult<DataKeyView> {
    let client = session(&state).await?;
    let recipients = client.recipients(&org).await?;
    let members = client.members(&org).await?;
    let server = state.server()?;
    let (held, public) = {
        let org = org.clone();
        blocking(move || {
            let held = credentials::load_org_key(&server, &org)?;
            let (device, _) = credentials::device_key(&server)?;
            Ok((held, device.public()))
        })
        .await?
    };
    let mine = scry_client::sync::hex(public.as_bytes());
    let current = held.filter(|(key, _)| i64::from(key.epoch()) == recipients.epoch);
    Ok(DataKeyView {
        fingerprint: current.as_ref().map(|(key, _)| key.fingerprint()),
        kept: current.map(|(_, place)| super::account::describe(&place)),
        epoch: recipients.epoch,
        recovery_written: recipients.recovery_epoch == Some(recipients.epoch),
        devices: recipients
            .recipients
            .into_iter()
            .map(|r| DeviceView {
                owner: members
                    .iter()
                    .find(|m| m.user_id == r.owner)
                    .map_or_else(|| "API key".into(), |m| m.email.clone()),
                this_device: r.public_key == mine,
                holds_key: r.has_key,
                label: r.label,
            })
            .collect(),
    })
}

/// Takes the org's data key on this device (making it when nobody holds one yet), as enabling
/// sync does; where it then stands.
#[tauri::command]
pub async fn take_data_key(state: State<'_, AppState>, org: String) -> CommandResult<DataKeyView> {
    let server = state.server()?;
    {
        let org = org.clone();
        blocking(move || {
            let (runtime, client) = blocking_session(&server)?;
            org_key(&runtime, &client, &server, &org)?;
            Ok(())
        })
        .await?;
    }
    data_key(state, org).await
}

/// The org's recovery key (owners), recorded by the service before it is returned: once per
/// key epoch.
#[tauri::command]
pub async fn recovery_key(
    state: State<'_, AppState>,
    org: String,
) -> CommandResult<RecoveryKeyView> {
    let server = state.server()?;
    blocking(move || {
        let (runtime, client) = blocking_session(&server)?;
        let key = issue_recovery_key(&runtime, &client, &server, &org)?;
        Ok(RecoveryKeyView {
            key: key.to_recovery().to_string(),
            epoch: i64::from(key.epoch()),
            fingerprint: key.fingerprint(),
        })
    })
    .await
}

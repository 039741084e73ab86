//! The signed-in person's organisations: creating, leaving and deleting one, its members and
//! their roles, and invitations.

use scry_client::api::Role;
use scry_client::display::utc;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::account::{OrgView, session};
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

#[derive(Clone, Debug, Serialize, TS)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    /// When they joined, as people read it.
    pub joined: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires: String,
}

/// A new invitation, and its token: shown once, for the person to paste into `scry` or the
/// app (`Join with an invitation`).
#[derive(Clone, Debug, Serialize, TS)]
pub struct InvitationSent {
    pub invitation: InvitationView,
    pub token: String,
}

/// Creates an organisation owned by the signed-in person.
#[tauri::command]
pub async fn create_org(state: State<'_, AppState>, name: String) -> CommandResult<OrgView> {
    let org = session(&state).await?.create_org(&name).await?;
    Ok(OrgView {
        id: org.id,
        name: org.name,
        tier: org.tier,
        role: "owner".into(),
    })
}

/// Deletes an organisation and everything it holds; `confirm` must be its name, typed.
#[tauri::command]
pub async fn delete_org(
    state: State<'_, AppState>,
    org: String,
    confirm: String,
) -> CommandResult<()> {
    let client = session(&state).await?;
    let name = client.org(&org).await?.name;
    if confirm.trim() != name {
        return Err(CommandError::new(
            "invalid",
            format!("type the organisation's name, {name}, to delete it"),
        ));
    }
    Ok(client.delete_org(&org).await?)
}

/// Leaves an organisation (its last owner cannot: make someone else owner first).
#[tauri::command]
pub async fn leave_org(state: State<'_, AppState>, org: String) -> CommandResult<()> {
    let client = session(&state).await?;
    let me = client.me().await?.user.id;
    Ok(client.remove_member(&org, &me).await?)
}

#[tauri::command]
pub async fn members(state: State<'_, AppState>, org: String) -> CommandResult<Vec<MemberView>> {
    let members = session(&state).await?.members(&org).await?;
    Ok(members
        .into_iter()
        .map(|m| MemberView {
            user_id: m.user_id,
            email: m.email,
            role: m.role.as_str().into(),
            joined: utc(m.created_at),
        })
        .collect())
}

#[tauri::command]
pub async fn set_member_role(
    state: State<'_, AppState>,
    org: String,
    user: String,
    role: String,
) -> CommandResult<()> {
    let role = parse_role(&role)?;
    Ok(session(&state)
        .await?
        .set_member_role(&org, &user, role)
        .await?)
}

#[tauri::command]
pub async fn remove_member(
    state: State<'_, AppState>,
    org: String,
    user: String,
) -> CommandResult<()> {
    Ok(session(&state).await?.remove_member(&org, &user).await?)
}

#[tauri::command]
pub async fn invitations(
    state: State<'_, AppState>,
    org: String,
) -> CommandResult<Vec<InvitationView>> {
    let pending = session(&state).await?.invitations(&org).await?;
    Ok(pending.iter().map(invitation_view).collect())
}

#[tauri::command]
pub async fn invite(
    state: State<'_, AppState>,
    org: String,
    email: String,
    role: String,
) -> CommandResult<InvitationSent> {
    let role = parse_role(&role)?;
    let sent = session(&state)
        .await?
        .create_invitation(&org, &email, role)
        .await?;
    Ok(InvitationSent {
        invitation: invitation_view(&sent.invitation),
        token: sent.token,
    })
}

#[tauri::command]
pub async fn revoke_invitation(
    state: State<'_, AppState>,
    org: String,
    invitation: String,
) -> CommandResult<()> {
    Ok(session(&state)
        .await?
        .revoke_invitation(&org, &invitation)
        .await?)
}

/// Joins the organisation an invitation's token is for.
#[tauri::command]
pub async fn accept_invitation(
    state: State<'_, AppState>,
    token: String,
) -> CommandResult<OrgView> {
    let client = session(&state).await?;
    let joined = client.accept_invitation(token.trim()).await?;
    let org = client.org(&joined.org_id).await?;
    Ok(OrgView {
        id: org.id,
        name: org.name,
        tier: org.tier,
        role: joined.role.as_str().into(),
    })
}

pub(super) fn parse_role(role: &str) -> CommandResult<Role> {
    Role::parse(role).ok_or_else(|| {
        CommandError::new(
            "invalid",
            format!("{role:?} is not a role: viewer, member, admin or owner"),
        )
    })
}

fn invitation_view(i: &scry_client::api::Invitation) -> InvitationView {
    InvitationView {
        id: i.id.clone(),
        email: i.email.clone(),
        role: i.role.as_str().into(),
        expires: utc(i.expires_at),
    }
}

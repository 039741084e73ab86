//! Organisations, their members and invitations.

use super::*;

pub(super) fn routes(api: OpenApiRouter<Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    api.routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org, delete_org))
        .routes(routes!(list_members))
        .routes(routes!(set_member_role, remove_member))
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(quota))
        .routes(routes!(set_sealed_snippets))
}

/// Creates an organisation on the free tier, with the caller as owner.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])), request_body = NewOrg,
    responses((status = 201, body = Org), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_org(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Json(body): Json<NewOrg>,
) -> Result<Response, ApiError> {
    let user = who.user()?;
    let name = check_name("name", &body.name)?;
    let tenant = Tenant::new(&new_id("org"), &user.id, Role::Owner);
    let org = state
        .store
        .create_org(&tenant, &name, "free", state.clock.now())
        .await?;
    Ok(created(org))
}

/// The caller's organisations.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = [OrgMembership]), (status = 401, body = ErrorBody)))]
async fn list_orgs(
    State(state): State<Arc<AppState>>,
    who: Principal,
) -> Result<axum::Json<Vec<OrgMembership>>, ApiError> {
    match &who {
        Principal::User { user, .. } => Ok(axum::Json(state.store.orgs_of(&user.id).await?)),
        Principal::Key(k) => {
            let t = state
                .authorize(&who, &k.org_id.clone(), Role::Viewer)
                .await?;
            let org = state.store.org(&t).await?;
            Ok(axum::Json(vec![OrgMembership { org, role: k.role }]))
        }
    }
}

/// One organisation.
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = Org), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn get_org(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Org>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.org(&t).await?))
}

/// Has members' syncs carry each chunk's text, sealed with the org's key, or not (admins):
/// org-wide search then shows code and matches its words for repositories not checked out.
/// The service reads none of it either way.
#[utoipa::path(put, path = "/v1/orgs/{org}/sealed-snippets", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = SealedSnippets, responses((status = 200, body = Org), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_sealed_snippets(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<SealedSnippets>,
) -> Result<axum::Json<Org>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    let now = state.clock.now();
    Ok(axum::Json(
        state
            .store
            .set_sealed_snippets(&t, body.enabled, now)
            .await?,
    ))
}

/// Deletes an organisation and every row it owns; the audit entry of the deletion stays.
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_org(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Owner).await?;
    state.store.delete_org(&t, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members and their roles.
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = [Member]), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Vec<Member>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Viewer).await?;
    Ok(axum::Json(state.store.members(&t).await?))
}

/// Changes a member's role (admins; only owners make owners).
#[utoipa::path(patch, path = "/v1/orgs/{org}/members/{user}", tag = "orgs", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)), request_body = RoleChange,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_member_role(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
    Json(body): Json<RoleChange>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("usr", &user)?;
    if body.role == Role::Owner && t.role() < Role::Owner {
        return Err(ApiError::forbidden("only an owner makes owners"));
    }
    state
        .store
        .set_member_role(&t, &user, body.role, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (admins), or the caller themselves: leaving needs no role.
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user}", tag = "orgs", security(("bearer" = [])),
    params(("org" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove_member(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let leaving = matches!(&who, Principal::User { user: me, .. } if me.id == user);
    let needed = if leaving { Role::Viewer } else { Role::Admin };
    let t = state.authorize(&who, &org, needed).await?;
    check_id("usr", &user)?;
    state
        .store
        .remove_member(&t, &user, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invites someone by email (admins).
#[utoipa::path(post, path = "/v1/orgs/{org}/invitations", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    request_body = NewInvitation, responses((status = 201, body = InvitationCreated), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_invitation(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
    Json(body): Json<NewInvitation>,
) -> Result<Response, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    let email = check_email(&body.email)?;
    if body.role == Role::Owner && t.role() < Role::Owner {
        return Err(ApiError::forbidden("only an owner invites owners"));
    }
    let token = format!("scry_inv_{}", auth::random_token(32));
    let now = state.clock.now();
    let invitation = state
        .store
        .create_invitation(
            &t,
            &email,
            body.role,
            &auth::hash_secret(&token),
            now,
            now + state.config.invitation_ttl_s,
        )
        .await?;
    Ok(created(InvitationCreated { invitation, token }))
}

/// Pending invitations.
#[utoipa::path(get, path = "/v1/orgs/{org}/invitations", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = [Invitation]), (status = 404, body = ErrorBody)))]
async fn list_invitations(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Vec<Invitation>>, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    Ok(axum::Json(state.store.invitations(&t).await?))
}

/// Withdraws a pending invitation (admins); its token stops working.
#[utoipa::path(delete, path = "/v1/orgs/{org}/invitations/{invitation}", tag = "orgs", security(("bearer" = [])),
    params(("org" = String, Path), ("invitation" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_invitation(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path((org, invitation)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = state.authorize(&who, &org, Role::Admin).await?;
    check_id("inv", &invitation)?;
    state
        .store
        .revoke_invitation(&t, &invitation, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the organisation holds against its limits (its tier's, or its own).
#[utoipa::path(get, path = "/v1/orgs/{org}/quota", tag = "orgs", security(("bearer" = [])), params(("org" = String, Path)),
    responses((status = 200, body = Quota), (status = 404, body = ErrorBody)))]
async fn quota(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<axum::Json<Quota>, ApiError> {
    let (t, org) = state.authorize_org(&who, &org, Role::Viewer).await?;
    let (repos, chunks) = state.store.holdings(&t).await?;
    Ok(axum::Json(Quota {
        limits: state.limits_of(&org),
        tier: org.tier,
        repos,
        chunks,
    }))
}

/// Accepts an invitation addressed to the caller's email.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "orgs", security(("bearer" = [])), request_body = AcceptInvitation,
    responses((status = 200, body = Joined), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn accept_invitation(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Json(body): Json<AcceptInvitation>,
) -> Result<axum::Json<Joined>, ApiError> {
    let user = who.user()?;
    if !user.email_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "email_unverified",
            "confirm your email address first (POST /v1/me/verification mails a new token)",
        ));
    }
    let (org_id, role) = state
        .store
        .accept_invitation(&auth::hash_secret(&body.token), user, state.clock.now())
        .await?;
    Ok(axum::Json(Joined { org_id, role }))
}

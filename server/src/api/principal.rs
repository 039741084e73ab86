//! Who is calling: a session or an API key from `Authorization: Bearer …`.

use super::*;

/// Who is calling, from `Authorization: Bearer …`.
pub enum Principal {
    User { user: User, token_hash: String },
    Key(KeyGrant),
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "send a session token or an API key as `Authorization: Bearer …`",
            )
        })?;
        let now = state.clock.now();
        if token.starts_with(auth::KEY_PREFIX) {
            // A key with a bad checksum never reaches the database.
            if !auth::api_key_well_formed(token) {
                return Err(ApiError::unauthorized("malformed API key"));
            }
            let grant = state
                .store
                .api_key_grant(&auth::hash_secret(token), now)
                .await?;
            return grant
                .map(Principal::Key)
                .ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"));
        }
        if token.starts_with(auth::SESSION_PREFIX) {
            let token_hash = auth::hash_secret(token);
            let user_id = state.store.session_user(&token_hash, now).await?;
            let user = match user_id {
                Some(id) => state.store.user(&id).await?,
                None => None,
            };
            return user
                .map(|user| Principal::User { user, token_hash })
                .ok_or_else(|| ApiError::unauthorized("session expired or revoked"));
        }
        Err(ApiError::unauthorized("unrecognised token"))
    }
}

pub(super) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl Principal {
    pub(super) fn user(&self) -> Result<&User, ApiError> {
        match self {
            Principal::User { user, .. } => Ok(user),
            Principal::Key(_) => Err(ApiError::forbidden(
                "this needs a user's session, not an API key",
            )),
        }
    }

    pub(super) fn actor(&self) -> String {
        match self {
            Principal::User { user, .. } => user.id.clone(),
            Principal::Key(k) => k.key_id.clone(),
        }
    }
}

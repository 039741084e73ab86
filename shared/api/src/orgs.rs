//! An organisation's resources: members, invitations, repositories, API keys, usage,
//! webhooks, and the operator's tier changes.

use serde::{Deserialize, Serialize};

use crate::{ApiKey, Invitation, Limits, Role, Webhook};

/// `POST /v1/orgs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
}

/// `PATCH /v1/orgs/{org}/members/{user}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// `POST /v1/orgs/{org}/invitations`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationCreated {
    pub invitation: Invitation,
    /// Shown once: the invitee accepts with it.
    pub token: String,
}

/// `POST /v1/invitations/accept`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Joined {
    pub org_id: String,
    pub role: Role,
}

/// `POST /v1/orgs/{org}/repos`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRepo {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
}

/// `POST /v1/orgs/{org}/keys`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// At most the creator's own role.
    pub role: Role,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyCreated {
    /// Shown once: only its hash is stored.
    pub key: String,
    pub api_key: ApiKey,
}

/// The query of a paged list (`?limit=&after=`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (50 by default).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The `next` cursor of the previous page.
    #[cfg_attr(feature = "openapi", param(pattern = "^[A-Za-z0-9_]{0,64}$"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The query of `GET /v1/orgs/{org}/usage`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// First day, `YYYY-MM-DD` (30 days ago by default).
    #[cfg_attr(feature = "openapi", param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (today by default).
    #[cfg_attr(feature = "openapi", param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `POST /v1/orgs/{org}/webhooks`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `http://` or `https://`, a public address.
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2000))]
    pub url: String,
    /// Event types (`quota.exceeded`, `member.added`, `repo.created`, …) or `*`.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 32))]
    pub events: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    pub webhook: Webhook,
    /// Shown once: `whsec_<base64>`, the HMAC-SHA256 key of the `webhook-signature` header.
    pub secret: String,
}

/// `PUT /v1/admin/orgs/{org}/tier` (the operator).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TierChange {
    /// A configured tier (`free`, `pro`) or `enterprise`.
    pub tier: String,
    /// Required for `enterprise`: the organisation's own limits.
    pub limits: Option<Limits>,
}

/// `PUT /v1/orgs/{org}/sealed-snippets`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SealedSnippets {
    pub enabled: bool,
}

//! An organisation's resources: the org, members, invitations, repositories, API keys, usage
//! and audit, webhooks, and the operator's tier change.

use reqwest::Method;
use scry_api::*;

use crate::{Body, Client, Result, query_string};

const NO_BODY: Body<'static, ()> = Body::None;

impl Client {
    /// Creates an organisation on the free tier, owned by the signed-in user.
    pub async fn create_org(&self, name: &str) -> Result<Org> {
        let body = NewOrg { name: name.into() };
        self.call(Method::POST, &["v1", "orgs"], None, Body::Json(&body))
            .await
    }

    /// The caller's organisations (an API key's one).
    pub async fn orgs(&self) -> Result<Vec<OrgMembership>> {
        self.call(Method::GET, &["v1", "orgs"], None, NO_BODY).await
    }

    pub async fn org(&self, org: &str) -> Result<Org> {
        self.call(Method::GET, &["v1", "orgs", org], None, NO_BODY)
            .await
    }

    /// Has members' syncs carry each chunk's text, sealed with the org's key, or not (admins).
    pub async fn set_sealed_snippets(&self, org: &str, enabled: bool) -> Result<Org> {
        let body = SealedSnippets { enabled };
        let path = ["v1", "orgs", org, "sealed-snippets"];
        self.call(Method::PUT, &path, None, Body::Json(&body)).await
    }

    /// Deletes the organisation and everything it holds (owners).
    pub async fn delete_org(&self, org: &str) -> Result<()> {
        self.call_empty(Method::DELETE, &["v1", "orgs", org], NO_BODY)
            .await
    }

    pub async fn members(&self, org: &str) -> Result<Vec<Member>> {
        self.call(Method::GET, &["v1", "orgs", org, "members"], None, NO_BODY)
            .await
    }

    pub async fn set_member_role(&self, org: &str, user: &str, role: Role) -> Result<()> {
        let body = RoleChange { role };
        let path = ["v1", "orgs", org, "members", user];
        self.call_empty(Method::PATCH, &path, Body::Json(&body))
            .await
    }

    pub async fn remove_member(&self, org: &str, user: &str) -> Result<()> {
        let path = ["v1", "orgs", org, "members", user];
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    pub async fn create_invitation(
        &self,
        org: &str,
        email: &str,
        role: Role,
    ) -> Result<InvitationCreated> {
        let body = NewInvitation {
            email: email.into(),
            role,
        };
        let path = ["v1", "orgs", org, "invitations"];
        self.call(Method::POST, &path, None, Body::Json(&body))
            .await
    }

    pub async fn invitations(&self, org: &str) -> Result<Vec<Invitation>> {
        let path = ["v1", "orgs", org, "invitations"];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    /// Withdraws a pending invitation (admins).
    pub async fn revoke_invitation(&self, org: &str, invitation: &str) -> Result<()> {
        let path = ["v1", "orgs", org, "invitations", invitation];
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    /// What the organisation holds against its limits.
    pub async fn quota(&self, org: &str) -> Result<Quota> {
        let path = ["v1", "orgs", org, "quota"];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    /// Joins the organisation an invitation (its token) is for.
    pub async fn accept_invitation(&self, token: &str) -> Result<Joined> {
        let body = AcceptInvitation {
            token: token.into(),
        };
        let path = ["v1", "invitations", "accept"];
        self.call(Method::POST, &path, None, Body::Json(&body))
            .await
    }

    /// Registers a repository; `quota_exceeded` over the tier's repository limit.
    pub async fn create_repo(&self, org: &str, name: &str) -> Result<Repo> {
        let body = NewRepo { name: name.into() };
        let path = ["v1", "orgs", org, "repos"];
        self.call(Method::POST, &path, None, Body::Json(&body))
            .await
    }

    pub async fn repos(&self, org: &str, page: &PageQuery) -> Result<Page<Repo>> {
        let path = ["v1", "orgs", org, "repos"];
        self.call(Method::GET, &path, query_string(page), NO_BODY)
            .await
    }

    pub async fn repo(&self, org: &str, repo: &str) -> Result<Repo> {
        let path = ["v1", "orgs", org, "repos", repo];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    pub async fn delete_repo(&self, org: &str, repo: &str) -> Result<()> {
        let path = ["v1", "orgs", org, "repos", repo];
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    /// Creates an API key (shown once, in the answer); needs a person's session.
    pub async fn create_key(&self, org: &str, name: &str, role: Role) -> Result<KeyCreated> {
        let body = NewKey {
            name: name.into(),
            role,
        };
        let path = ["v1", "orgs", org, "keys"];
        self.call(Method::POST, &path, None, Body::Json(&body))
            .await
    }

    /// The API key the client carries, and its organisation.
    pub async fn current_key(&self) -> Result<CurrentKey> {
        self.call(Method::GET, &["v1", "keys", "current"], None, NO_BODY)
            .await
    }

    pub async fn keys(&self, org: &str) -> Result<Vec<ApiKey>> {
        let path = ["v1", "orgs", org, "keys"];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    pub async fn revoke_key(&self, org: &str, key: &str) -> Result<()> {
        let path = ["v1", "orgs", org, "keys", key];
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    pub async fn usage(&self, org: &str, days: &UsageQuery) -> Result<Vec<UsageDay>> {
        let path = ["v1", "orgs", org, "usage"];
        self.call(Method::GET, &path, query_string(days), NO_BODY)
            .await
    }

    pub async fn audit(&self, org: &str, page: &PageQuery) -> Result<Page<AuditEntry>> {
        let path = ["v1", "orgs", org, "audit"];
        self.call(Method::GET, &path, query_string(page), NO_BODY)
            .await
    }

    /// Everything the organisation holds, as one JSON document (admins).
    pub async fn export(&self, org: &str) -> Result<serde_json::Value> {
        let path = ["v1", "orgs", org, "export"];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    pub async fn create_webhook(&self, org: &str, hook: &NewWebhook) -> Result<WebhookCreated> {
        let path = ["v1", "orgs", org, "webhooks"];
        self.call(Method::POST, &path, None, Body::Json(hook)).await
    }

    pub async fn webhooks(&self, org: &str) -> Result<Vec<Webhook>> {
        let path = ["v1", "orgs", org, "webhooks"];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    pub async fn delete_webhook(&self, org: &str, hook: &str) -> Result<()> {
        let path = ["v1", "orgs", org, "webhooks", hook];
        self.call_empty(Method::DELETE, &path, NO_BODY).await
    }

    pub async fn deliveries(&self, org: &str, hook: &str) -> Result<Vec<Delivery>> {
        let path = ["v1", "orgs", org, "webhooks", hook, "deliveries"];
        self.call(Method::GET, &path, None, NO_BODY).await
    }

    /// Moves an organisation to another tier (a client carrying the operator's token).
    pub async fn set_tier(&self, org: &str, change: &TierChange) -> Result<Org> {
        let path = ["v1", "admin", "orgs", org, "tier"];
        self.call(Method::PUT, &path, None, Body::Json(change))
            .await
    }
}

//! The HTTP API: the router and the OpenAPI document built from the same declarations,
//! authorisation, and what every handler shares. One module per resource; each registers its
//! routes.

mod device;
mod device_page;
mod hosted;
mod index;
mod keys;
mod operator;
mod orgs;
mod principal;
mod recipients;
mod repos;
mod usage;
mod users;
mod webhooks;

pub use principal::Principal;
use principal::bearer;
use users::start_session;

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Form, Json, Path, Query};
use crate::guard::{ClientAddr, Counted, HashSlots, Throttles};
use crate::mail::Mailer;
use crate::model::*;
use crate::search::Shards;
use crate::secrets::SecretBox;
use crate::store::{KeyGrant, RateBucket, Storage, StoreError, Tenant};
use crate::webhooks::target;
use scry_api::*;

pub struct AppState {
    pub store: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    /// Seals webhook secrets before they are stored.
    pub secrets: SecretBox,
    pub mailer: Mailer,
    pub hash_slots: HashSlots,
    /// Hosted search's indexes of the orgs searched lately.
    pub shards: Shards,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "scry-server", description = "Scry's hosted account service"),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The application: every route, with the OpenAPI document built from the same declarations.
pub fn router(state: Arc<AppState>) -> axum::Router {
    let resources = [
        operator::routes,
        users::routes,
        device::routes,
        orgs::routes,
        repos::routes,
        index::routes,
        hosted::routes,
        recipients::routes,
        keys::routes,
        usage::routes,
        webhooks::routes,
    ];
    let (router, openapi) = resources
        .into_iter()
        .fold(
            OpenApiRouter::with_openapi(ApiDoc::openapi()),
            |api, add| add(api),
        )
        .split_for_parts();
    let openapi = Arc::new(openapi);
    device_page::routes(router)
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not take that method",
            )
        })
        .with_state(state)
}

impl AppState {
    /// Resolves the caller's role in `org_id`; another organisation's id answers exactly like
    /// one that does not exist. Counts the request against the organisation's rate limit.
    async fn authorize(
        &self,
        who: &Principal,
        org_id: &str,
        at_least: Role,
    ) -> Result<Tenant, ApiError> {
        Ok(self.authorize_org(who, org_id, at_least).await?.0)
    }

    /// `authorize`, also giving the organisation as the request's transaction read it (its
    /// tier and limits, current as of this request).
    async fn authorize_org(
        &self,
        who: &Principal,
        org_id: &str,
        at_least: Role,
    ) -> Result<(Tenant, Org), ApiError> {
        self.authorize_in(RateBucket::Api, who, org_id, at_least)
            .await
    }

    /// `authorize_org`, counting the request in `bucket`'s rate window.
    async fn authorize_in(
        &self,
        bucket: RateBucket,
        who: &Principal,
        org_id: &str,
        at_least: Role,
    ) -> Result<(Tenant, Org), ApiError> {
        if !valid_id("org", org_id) {
            return Err(ApiError::not_found());
        }
        let role = match who {
            Principal::User { user, .. } => self.store.member_role(&user.id, org_id).await?,
            Principal::Key(k) => (k.org_id == org_id).then_some(k.role),
        }
        .ok_or_else(ApiError::not_found)?;
        let tenant = Tenant::new(org_id, &who.actor(), role);
        let now = self.clock.now();
        let per_minute = |org: &Org| self.limits_of(org).requests_per_minute;
        let (org, verdict) = self
            .store
            .record_request(&tenant, bucket, now, &per_minute)
            .await?;
        if let Err(retry) = verdict {
            return Err(ApiError::rate_limited(retry, per_minute(&org)));
        }
        if role < at_least {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role; you are {}",
                at_least.as_str(),
                role.as_str()
            )));
        }
        Ok((tenant, org))
    }

    /// The organisation's limits: its own (enterprise) or its tier's. Read with each request,
    /// so a tier change applies at once.
    fn limits_of(&self, org: &Org) -> Limits {
        org.custom_limits
            .unwrap_or_else(|| self.config.tier_limits(&org.tier))
    }

    fn throttles(&self) -> Throttles<'_> {
        Throttles {
            store: self.store.as_ref(),
            config: &self.config.throttle,
            now: self.clock.now(),
        }
    }

    /// Mails `user` a one-time token that proves they read the address.
    async fn send_verification(&self, user: &User) -> Result<(), ApiError> {
        let token = format!("scry_vfy_{}", auth::random_token(32));
        let expires = self.clock.now() + EMAIL_TOKEN_TTL_S;
        self.store
            .create_email_token(&auth::hash_secret(&token), &user.id, expires)
            .await?;
        let body = format!(
            "Confirm that this address is yours to use Scry invitations:\r\n\r\n    {token}\r\n\r\n\
             Send it as POST /v1/users/verify {{\"token\": \"…\"}}, or paste it where Scry asks for it.\r\n\
             It expires in 24 hours. If you did not sign up, ignore this message."
        );
        self.mailer
            .send(&user.email, "Confirm your email address for Scry", &body)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the verification email could not be sent; retry",
                )
            })
    }

    /// A refused quota is an event too (`quota.exceeded`), recorded beside the refusal.
    async fn quota_refused(&self, t: &Tenant, e: StoreError) -> ApiError {
        if let StoreError::Quota { what, limit, tier } = &e {
            let details = serde_json::json!({"limit": what, "max": limit, "tier": tier});
            if let Err(err) = self
                .store
                .record_event(t, "quota.exceeded", t.org_id(), details, self.clock.now())
                .await
            {
                tracing::warn!("could not record quota.exceeded: {err}");
            }
        }
        e.into()
    }
}

/// How long an email verification token stays valid.
const EMAIL_TOKEN_TTL_S: i64 = 86_400;

fn check_name(what: &str, name: &str) -> Result<String, ApiError> {
    crate::input::name(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{what} must be 1 to 100 visible characters, without control, bidirectional or \
             invisible ones"
        ))
    })
}

fn check_email(email: &str) -> Result<String, ApiError> {
    crate::input::email(email).ok_or_else(|| {
        ApiError::bad_request(
            "not an email address (ASCII, one @, a domain of dot-separated labels; write an \
             international domain in its xn-- form)",
        )
    })
}

fn check_id(prefix: &str, id: &str) -> Result<(), ApiError> {
    if valid_id(prefix, id) {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

/// The page size and cursor of a list request, checked.
fn page_bounds(q: &PageQuery) -> Result<(i64, &str), ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 100"));
    }
    let after = q.after.as_deref().unwrap_or("");
    if after.len() > 64
        || !after
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::bad_request(
            "after must be a cursor from a previous page",
        ));
    }
    Ok((limit, after))
}

fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

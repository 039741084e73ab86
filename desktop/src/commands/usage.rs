//! What an organisation uses against its plan, its audit log, and its data export.

use std::path::PathBuf;

use scry_client::api::{PageQuery, UsageQuery};
use scry_client::display::{bytes, utc};
use scry_client::sync::workspace::now;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use super::account::session;
use super::blocking;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// One quota: what is used of what the plan allows.
#[derive(Clone, Debug, Serialize, TS)]
pub struct QuotaBar {
    /// What is counted: `repositories`, `chunks`, `requests per minute`.
    pub what: String,
    /// `None` where the service counts it per minute only (requests).
    #[ts(type = "number | null")]
    pub used: Option<i64>,
    #[ts(type = "number")]
    pub limit: i64,
    /// What happens at the limit.
    pub at_limit: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct DayView {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    #[ts(type = "number")]
    pub requests: i64,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct PlanView {
    pub tier: String,
    pub quotas: Vec<QuotaBar>,
    /// The last 30 days, oldest first, days without requests included.
    pub days: Vec<DayView>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The entry's details, as JSON.
    pub details: String,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next: Option<String>,
}

/// The org's plan: each quota against its limit, and requests per day.
#[tauri::command]
pub async fn plan(state: State<'_, AppState>, org: String) -> CommandResult<PlanView> {
    let client = session(&state).await?;
    let quota = client.quota(&org).await?;
    let recorded = client.usage(&org, &UsageQuery::default()).await?;
    let today = now();
    let days = (0..30)
        .rev()
        .map(|back| scry_client::api::day(today - back * 86_400))
        .map(|day| DayView {
            requests: recorded
                .iter()
                .find(|d| d.day == day)
                .map_or(0, |d| d.requests),
            day,
        })
        .collect();
    let limits = quota.limits;
    Ok(PlanView {
        quotas: vec![
            QuotaBar {
                what: "repositories".into(),
                used: Some(quota.repos),
                limit: limits.max_repos,
                at_limit: "a new repository (or enabling sync for a new one) is refused".into(),
            },
            QuotaBar {
                what: "chunks".into(),
                used: Some(quota.chunks),
                limit: limits.max_chunks,
                at_limit: "a sync that would add chunks is refused before anything is sent; \
                           what is synced stays searchable"
                    .into(),
            },
            QuotaBar {
                what: "requests per minute".into(),
                used: None,
                limit: limits.requests_per_minute,
                at_limit: "requests over it wait for the next minute; syncs retry by themselves"
                    .into(),
            },
        ],
        tier: quota.tier,
        days,
    })
}

/// A page of the audit log (admins), oldest first; with `action`, only entries whose action
/// starts with it (`member`, `api_key.revoked`, …).
#[tauri::command]
pub async fn audit(
    state: State<'_, AppState>,
    org: String,
    after: Option<String>,
    action: Option<String>,
) -> CommandResult<AuditPage> {
    let page = PageQuery {
        limit: Some(100),
        after,
    };
    let found = session(&state).await?.audit(&org, &page).await?;
    let wanted = action.unwrap_or_default();
    Ok(AuditPage {
        entries: found
            .items
            .into_iter()
            .filter(|e| e.action.starts_with(wanted.trim()))
            .map(|e| AuditView {
                at: utc(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
                details: e.details.to_string(),
            })
            .collect(),
        next: found.next,
    })
}

/// Saves everything the org holds as one JSON document (admins) at `path`, or in the
/// downloads folder; returns where, and how big.
#[tauri::command]
pub async fn export_org(
    state: State<'_, AppState>,
    org: String,
    path: Option<String>,
) -> CommandResult<String> {
    let document = session(&state).await?.export(&org).await?;
    let path = match path.filter(|p| !p.trim().is_empty()) {
        Some(path) => PathBuf::from(path),
        None => dirs::download_dir()
            .or_else(dirs::home_dir)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(format!("scry-{org}-{}.json", scry_client::api::day(now()))),
    };
    blocking(move || {
        let text = serde_json::to_vec_pretty(&document).expect("JSON values serialise");
        std::fs::write(&path, &text).map_err(|e| {
            CommandError::new(
                "io",
                format!("cannot save the export to {}: {e}", path.display()),
            )
        })?;
        Ok(format!("{} ({})", path.display(), bytes(text.len() as u64)))
    })
    .await
}

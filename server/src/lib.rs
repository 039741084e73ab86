//! `scry-server`: Scry's hosted account service — organisations, members, API keys, tiers,
//! quotas, rate limits, usage, audit and webhooks — on SQLite (embedded) or PostgreSQL.
//! See `server/README.md` for the API and `ARCHITECTURE.md` for where it sits.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod guard;
pub mod input;
pub mod mail;
pub mod model;
pub mod search;
pub mod secrets;
pub mod store;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::api::AppState;
use crate::clock::{Clock, DatabaseClock, SystemClock};
use crate::config::Config;
use crate::db::{Db, PgLimits};
use crate::guard::HashSlots;
use crate::mail::Mailer;
use crate::search::Shards;
use crate::secrets::SecretBox;
use crate::store::{SqlStore, Storage, Users};

/// Opens the database the configuration names (migrating it).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqlStore>> {
    let db = match &config.database_url {
        Some(url) => {
            let migration = config.migration_database_url.as_deref();
            Db::postgres(url, migration, PgLimits::of(config)).await?
        }
        None => Db::sqlite(&config.data_dir).await?,
    };
    Ok(Arc::new(SqlStore::new(db)))
}

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the first Prometheus recorder installs")
        })
        .clone()
}

/// The HTTP application over `store`. Fails when the key that seals secrets cannot be had.
pub fn app(
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: Config,
) -> anyhow::Result<axum::Router> {
    let max_body = config.max_body_bytes;
    metrics_handle();
    let state = Arc::new(AppState {
        store,
        clock,
        secrets: SecretBox::new(&config.secrets_key()?),
        mailer: Mailer::from_config(&config),
        hash_slots: HashSlots::new(&config),
        shards: Shards::new(
            config.search_cache_dir.as_deref(),
            config.search_cache_repos,
        )?,
        config,
    });
    Ok(api::router(state)
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::trace::TraceLayer::new_for_http()))
}

/// Prometheus `/metrics`, served on its own address when `metrics_addr` is set: request
/// counts by route are for the operator, not for whoever reaches the API.
fn metrics_router() -> axum::Router {
    let handle = metrics_handle();
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    handle.render(),
                )
            }
        }),
    )
}

/// Counts requests and their latency per route (the route's pattern, not the raw path, so ids
/// do not blow up the series).
async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight and stops the webhook
/// sender.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    config.validate().context("invalid configuration")?;
    let store = open_store(&config).await?;
    let backend = store.db().backend();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clock = service_clock(&store, stop_rx.clone()).await;
    let secrets = SecretBox::new(&config.secrets_key()?);
    let sender = webhooks::Sender::new(store.clone(), clock.clone(), secrets, &config);
    let sender_task = tokio::spawn(sender.run(
        Duration::from_millis(config.webhook_poll_ms),
        stop_rx.clone(),
    ));
    let collector = tokio::spawn(collect_expired(
        store.clone(),
        clock.clone(),
        stop_rx.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
    tracing::info!(addr = %listener.local_addr()?, ?backend, "scry-server listening");
    if let Some(addr) = &config.metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
        tracing::info!(addr = %metrics.local_addr()?, "metrics listening");
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            axum::serve(metrics, metrics_router())
                .with_graceful_shutdown(async move {
                    let _ = stop.changed().await;
                })
                .await
        });
    }
    let router = app(store.clone(), clock, config)?;
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let _ = stop_tx.send(true);
    let _ = sender_task.await;
    let _ = collector.await;
    store.db().close().await;
    tracing::info!("scry-server stopped");
    Ok(())
}

/// The service's clock. On PostgreSQL, the database's ([`DatabaseClock`]): set at start and
/// every 30 s after, so a replica whose host clock jumps is back in step within 30 s. On
/// SQLite, where one process holds the database, the system's.
async fn service_clock(
    store: &Arc<SqlStore>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Arc<dyn Clock> {
    if store.db().backend() == db::Backend::Sqlite {
        return Arc::new(SystemClock);
    }
    let clock = Arc::new(DatabaseClock::new(Arc::new(SystemClock)));
    set_clock(&clock, store).await;
    tokio::spawn(keep_in_step(clock.clone(), store.clone(), stop));
    clock
}

async fn keep_in_step(
    clock: Arc<DatabaseClock>,
    store: Arc<SqlStore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.changed() => return,
        }
        set_clock(&clock, &store).await;
    }
}

/// Sets `clock` by the database's; a failure keeps the time it told (the local clock's, set
/// by the last reading that succeeded).
async fn set_clock(clock: &DatabaseClock, store: &SqlStore) {
    match clock.set(store.db()).await {
        Ok(offset) if offset.abs() >= 1_000 => tracing::warn!(
            "this host's clock is {:.1} s {} the database's; the service keeps the database's time",
            offset.abs() as f64 / 1000.0,
            if offset > 0 { "behind" } else { "ahead of" }
        ),
        Ok(offset) => tracing::debug!(offset_ms = offset, "clock set by the database's"),
        Err(e) => tracing::warn!("cannot read the database's clock: {e}"),
    }
}

/// Deletes expired sessions, device codes, email tokens and throttle windows once a minute.
async fn collect_expired(
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match store.collect_expired(clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "collected expired rows"),
            Err(e) => tracing::warn!("collecting expired rows: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

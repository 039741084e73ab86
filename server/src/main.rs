use std::path::PathBuf;

use clap::Parser;
use scry_server::config::Config;

/// Scry's hosted account service. With no options: SQLite in the data directory, listening on
/// 127.0.0.1:8787.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// A TOML configuration file (see server/README.md); flags and environment override it.
    #[arg(long, env = "SCRY_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "SCRY_SERVER_ADDR")]
    addr: Option<String>,
    /// Directory of the embedded (SQLite) database.
    #[arg(long, env = "SCRY_SERVER_DATA")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL; selects PostgreSQL. Without a migration URL, its role must be able to
    /// create tables and roles.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL URL of the tables' owner, for migrations; DATABASE_URL then needs only to log
    /// in (it is granted the service's role).
    #[arg(long, env = "SCRY_SERVER_MIGRATION_URL")]
    migration_database_url: Option<String>,
    /// The operator's token for /v1/admin (tier changes).
    #[arg(long, env = "SCRY_SERVER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The key that seals secrets at rest: 32 bytes in base64 (required with PostgreSQL).
    #[arg(long, env = "SCRY_SERVER_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
    /// Serve Prometheus metrics on this address (off by default).
    #[arg(long, env = "SCRY_SERVER_METRICS_ADDR")]
    metrics_addr: Option<String>,
    /// Log lines as JSON.
    #[arg(long)]
    json_logs: bool,
}

/// Password hashing takes 19 MiB a time. glibc's allocator raises its mmap threshold after the
/// first such block is freed and then keeps later ones in its arenas, so a burst of logins
/// would leave the process hundreds of MiB larger for good. A fixed threshold maps every large
/// block and unmaps it when freed.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before other threads start
    // allocating in earnest.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(addr) = args.addr {
        // The page devices are sent to is on this service unless the config says otherwise.
        if config.verification_uri == Config::default().verification_uri {
            config.verification_uri = format!("http://{addr}/device");
        }
        config.addr = addr;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if args.database_url.is_some() {
        config.database_url = args.database_url;
    }
    if args.migration_database_url.is_some() {
        config.migration_database_url = args.migration_database_url;
    }
    if args.admin_token.is_some() {
        config.admin_token = args.admin_token;
    }
    if args.secrets_key.is_some() {
        config.secrets_key = args.secrets_key;
    }
    if args.metrics_addr.is_some() {
        config.metrics_addr = args.metrics_addr;
    }
    config.json_logs |= args.json_logs;
    return_large_blocks_to_the_system();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCRY_SERVER_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.json_logs {
        logs.json().init();
    } else {
        logs.init();
    }
    scry_server::serve(config).await
}

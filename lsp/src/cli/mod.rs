//! The command line: `scry index | search | similar | watch | status | lsp`, and the account:
//! `scry login | logout | whoami | sync | keys`.

mod account;
mod keys;
mod org;
mod output;
mod progress;
mod recovery;
mod reuse;
mod sync;
mod watch;

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use scry_core::{BertEmbedder, Filter, Index, Span, default_db_path};

use scry_client::api::Role;
use scry_core::live::{self, Ask, Question};
use scry_core::model::ModelChoice;

#[derive(Parser)]
#[command(
    name = "scry",
    version,
    about = "Semantic code search: find code by what it does, or code like it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index a workspace (or bring its index up to date).
    Index {
        /// The workspace to index.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Delete the index first, whatever state it is in, and build it anew.
        #[arg(long)]
        rebuild: bool,
        /// Chunk and embed every file here, even when the workspace is linked to a repository
        /// whose index a teammate or CI synced (by default a first index, and with a slow
        /// model an update of 256 changed files or more, starts from it, taking each file's
        /// records only where the file here has the same bytes).
        #[arg(long)]
        no_reuse: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Search a workspace for code matching a description or a name.
    Search {
        /// What to look for: "where do we retry failed uploads", or a name.
        #[arg(required_unless_present = "queries")]
        query: Option<String>,
        /// Run every query of this file (one a line) instead.
        #[arg(long, conflicts_with = "query")]
        queries: Option<PathBuf>,
        /// Only results in this language (rust, python, typescript…).
        #[arg(long)]
        lang: Option<String>,
        /// Only results whose path matches this glob (`src/**`, `*.py`).
        #[arg(long)]
        glob: Option<String>,
        /// List matching chunks, several of a file if they match, instead of one result per
        /// file (at its best chunk, with the file's other matches under "more").
        #[arg(long, conflicts_with = "org")]
        chunks: bool,
        /// Search every repository of the org this workspace is linked to (`scry sync
        /// enable`), as their teammates or CI synced them: fetched, decrypted and kept here,
        /// so later searches work offline. Each result names its repository ("repo" in JSON);
        /// the code shows for this workspace's own repository.
        #[arg(long)]
        org: bool,
        /// With --org: only this repository of the org (repeatable).
        #[arg(long, requires = "org", value_name = "NAME")]
        repo: Vec<String>,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Find code similar to a span: `scry similar src/lib.rs:10-42`.
    Similar {
        /// FILE:START-END, lines counted from 1.
        #[arg(required_unless_present = "spans")]
        span: Option<String>,
        /// Run every span of this file (one `path:start-end` a line) instead.
        #[arg(long, conflicts_with = "span")]
        spans: Option<PathBuf>,
        #[arg(long)]
        lang: Option<String>,
        #[arg(long)]
        glob: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Keep a workspace's index current as files change, printing each change of state,
    /// until interrupted.
    Watch {
        /// The workspace to watch.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Keep files matching this glob (gitignore syntax) out of the index; repeatable.
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// One JSON object a line: {"event": "status" | "progressBegin" | "progress" |
        /// "progressEnd" | "warning", …}.
        #[arg(long)]
        json: bool,
        /// The embedding model (see `scry index --help`).
        #[arg(long, env = "SCRY_MODEL", value_name = "MODEL")]
        model: Option<String>,
    },
    /// Sign this machine in to the account service (a code to approve in the browser).
    Login {
        #[command(flatten)]
        server: ServerArg,
        /// Print the address to open instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// End this machine's session with the account service.
    Logout {
        #[command(flatten)]
        server: ServerArg,
    },
    /// Show who this machine acts as on the account service (`SCRY_API_KEY` first).
    Whoami {
        #[command(flatten)]
        server: ServerArg,
        /// One JSON object: {"server", "user", "orgs"} or {"server", "key", "org"}.
        #[arg(long)]
        json: bool,
    },
    /// Sync the workspace's index to the account, sealed with the org's key (off until
    /// `scry sync enable`): brings the index up to date, then sends what the account lacks.
    #[command(args_conflicts_with_subcommands = true)]
    Sync {
        #[command(subcommand)]
        action: Option<SyncAction>,
        /// The workspace (default: the current directory).
        #[arg(long = "path", value_name = "DIR")]
        path: Option<PathBuf>,
        /// Find out exactly what would be sent (objects, bytes, files left out); send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Publish as this branch instead of the checkout's (CI: `--ref main`, so laptops on
        /// main start their first index from it).
        #[arg(long = "ref", value_name = "BRANCH")]
        line: Option<String>,
        /// One JSON object: {"repo", "ref", "generation", "objects_uploaded",
        /// "bytes_uploaded", "chunks", "dry_run", "snippets", "hosted"}; "hosted" is null unless
        /// hosted search serves this branch: {"branch", "files", "bytes", "texts_uploaded",
        /// "bytes_uploaded", "skipped"}.
        #[arg(long)]
        json: bool,
    },
    /// Make, list and revoke the org's API keys (for CI: `SCRY_API_KEY`).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        server: ServerArg,
        /// The org, by id or name (default: your only one).
        #[arg(long, global = true)]
        org: Option<String>,
    },
    /// Run the language server on stdin/stdout (editors start it; see docs/lsp-extensions.md).
    Lsp {
        /// Write logs to this file instead of stderr (`SCRY_LOG` sets the level).
        #[arg(long, value_name = "FILE")]
        log_file: Option<PathBuf>,
        /// Accepted for clients that pass it; stdio is the only transport.
        #[arg(long, hide = true)]
        stdio: bool,
    },
    /// Show where a workspace's index is and what it holds.
    Status {
        /// Also verify that the index is internally consistent.
        #[arg(long)]
        check: bool,
        /// One JSON object: {"root", "index", "bytes", "files", "chunks", "vectors", "model",
        /// "reranker", "schema", "reused", "embedded"}; the last two count the chunks the last
        /// update that changed the index took from the org's synced index and embedded here.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum SyncAction {
    /// Link the workspace to a repository of an org (created if needed) and turn sync on.
    Enable {
        #[arg(long = "path", value_name = "DIR")]
        path: Option<PathBuf>,
        /// The org, by id or name (default: your only one, or the API key's).
        #[arg(long)]
        org: Option<String>,
        /// The repository's name (default: the remote's last path segment, else the folder's).
        #[arg(long)]
        repo: Option<String>,
        /// Org admins: let the service search this repository for the org (`POST
        /// /v1/orgs/{org}/search`, for CI bots and scripts): syncs of the branch the
        /// workspace is on then also store its code readable by the service.
        #[arg(long, conflicts_with = "no_hosted_search")]
        hosted_search: bool,
        /// Org admins: turn hosted search off; the service deletes the code it held.
        #[arg(long)]
        no_hosted_search: bool,
        /// Org admins, for the whole org: syncs also carry each chunk's code, sealed with the
        /// org's key like the rest, so `scry search --org` shows and matches the code of
        /// repositories not checked out here. The service reads none of it.
        #[arg(long, conflicts_with = "no_sealed_snippets")]
        sealed_snippets: bool,
        /// Org admins: syncs carry no code again (generations synced after).
        #[arg(long)]
        no_sealed_snippets: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Turn sync off for the workspace.
    Disable {
        #[arg(long = "path", value_name = "DIR")]
        path: Option<PathBuf>,
        /// Also delete the hosted copy (the repository and everything synced to it).
        #[arg(long)]
        delete: bool,
    },
    /// Whether sync is on, where to, and the last sync.
    Status {
        #[arg(long = "path", value_name = "DIR")]
        path: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The ledger of what left this machine, one sync a line.
    Log {
        #[arg(long = "path", value_name = "DIR")]
        path: Option<PathBuf>,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Print the org's recovery key (owners): it restores the org's data key when every
    /// device that held it is lost.
    RecoveryKey {
        /// The org, by id or name (default: your only one).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Restore the org's data key on this device from its recovery key (read from stdin).
    Recover {
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a key and print it once, with its own sync key: CI syncs with it alone.
    Create {
        /// What the key is for (shown in lists and the audit log).
        #[arg(long)]
        name: String,
        /// What the key may do: viewer, member or admin (never more than you).
        #[arg(long, default_value = "member", value_parser = parse_role)]
        role: Role,
    },
    /// The org's keys: prefix, name, role, last use.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key (by prefix, name or id): requests with it fail from now on.
    Revoke { key: String },
}

fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "viewer" => Ok(Role::Viewer),
        "member" => Ok(Role::Member),
        "admin" => Ok(Role::Admin),
        "owner" => Err("an API key cannot be an owner".into()),
        other => Err(format!("{other:?} is not a role: viewer, member or admin")),
    }
}

#[derive(Args)]
struct Common {
    /// The workspace (default: the current directory).
    #[arg(long = "path", value_name = "DIR")]
    path: Option<PathBuf>,
    /// The embedding model: `builtin` (the default, compiled in), a BERT-family model
    /// directory (config.json, tokenizer.json, model.safetensors), a static model file, or
    /// `none` for lexical search only.
    #[arg(long, env = "SCRY_MODEL", value_name = "MODEL")]
    model: Option<String>,
    /// Let a transformer (a BERT-family model directory) re-order the leading results of the
    /// main model: the best quality tier. The index keeps its vectors of every chunk (made
    /// once, at the transformer's speed); each query runs it once.
    #[arg(long, env = "SCRY_RERANK", value_name = "MODEL_DIR")]
    rerank: Option<PathBuf>,
}

impl Common {
    /// The reranker, when asked for, with its vectors of every chunk in the index.
    fn reranker(&self, index: &mut Index) -> Result<Option<BertEmbedder>> {
        let Some(dir) = &self.rerank else {
            return Ok(None);
        };
        if !dir.is_dir() {
            bail!(
                "--rerank {} is not a model directory (config.json, tokenizer.json, model.safetensors)",
                dir.display()
            );
        }
        let reranker = BertEmbedder::load(dir)?;
        let mut bar = progress::Bar::new();
        index.add_reranker(&reranker, &mut |p| bar.update(p))?;
        bar.finish();
        Ok(Some(reranker))
    }
}

#[derive(Args)]
struct ServerArg {
    /// The account service (default: `server` in the config file, else
    /// http://127.0.0.1:8787).
    #[arg(long, env = "SCRY_SERVER", value_name = "URL")]
    server: Option<String>,
}

#[derive(Args)]
struct OutputArgs {
    /// How many results per query.
    #[arg(long, short = 'k', default_value_t = 10)]
    limit: usize,
    /// One JSON object a line: {"query": …, "results": [{"path", "start_line", …}]}.
    #[arg(long)]
    json: bool,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let log_file = match &cli.command {
        Command::Lsp { log_file, .. } => log_file.clone(),
        _ => None,
    };
    if let Err(err) = init_logging(log_file.as_deref()) {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", output::shown(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (or `file`), never stdout: stdout carries results, or the protocol.
fn init_logging(file: Option<&Path>) -> Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SCRY_LOG").unwrap_or_else(|_| "warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
        None => builder.with_writer(io::stderr).init(),
    }
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Lsp { .. } => crate::lsp::run(),
        Command::Index {
            dir,
            rebuild,
            no_reuse,
            common,
        } => {
            let root = common.path.clone().unwrap_or(dir);
            let model = ModelChoice::resolve(common.model.as_deref(), &root)?;
            let mut index = open_index(&root, rebuild)?;
            let stats = update(&mut index, &model, !no_reuse)?;
            common.reranker(&mut index)?;
            output::print_update(&stats, &index.status()?, &mut io::stderr())?;
            Ok(())
        }
        Command::Search {
            query,
            queries,
            lang,
            glob,
            chunks,
            org,
            repo,
            output,
            common,
        } => {
            let root = common.path.clone().unwrap_or_else(|| ".".into());
            let model = ModelChoice::resolve(common.model.as_deref(), &root)?;
            let filter = Filter::new(lang.as_deref(), glob.as_deref())?;
            let queries = match (query, queries) {
                (Some(q), _) => vec![q],
                (None, Some(file)) => read_lines(&file)?,
                (None, None) => unreachable!("clap requires one"),
            };
            if org {
                let asked = org::Asked {
                    queries: &queries,
                    base: scry_client::sync::org::Asked {
                        limit: output.limit,
                        lang,
                        glob,
                        repos: repo,
                        ..Default::default()
                    },
                    json: output.json,
                };
                if common.rerank.is_some() {
                    eprintln!(
                        "note: --rerank does not apply to --org (the org's copy holds no code to embed)"
                    );
                }
                return org::search(&root, &model, &asked);
            }
            let asks: Vec<(&str, Ask)> = queries
                .iter()
                .map(|q| {
                    let query = q.clone();
                    (q.as_str(), Ask::Search { query, chunks })
                })
                .collect();
            let live = Asked {
                lang: lang.as_deref(),
                glob: glob.as_deref(),
                output: &output,
            };
            if common.rerank.is_none() && live.answered(&root, &model, &asks)? {
                return Ok(());
            }
            let mut index = open_index(&root, false)?;
            update(&mut index, &model, true)?;
            let reranker = common.reranker(&mut index)?;
            let mut searcher = index.searcher(model.shared())?;
            if let Some(r) = reranker {
                searcher.set_reranker(std::sync::Arc::new(r));
            }
            let mut out = io::BufWriter::new(io::stdout().lock());
            for query in &queries {
                let hits = match chunks {
                    true => searcher.search(query, output.limit, &filter)?,
                    false => searcher.search_files(query, output.limit, &filter)?,
                };
                output::print_hits(query, &hits, output.json, &mut out)?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Similar {
            span,
            spans,
            lang,
            glob,
            output,
            common,
        } => {
            let root = common.path.unwrap_or_else(|| ".".into());
            let model = ModelChoice::resolve(common.model.as_deref(), &root)?;
            let filter = Filter::new(lang.as_deref(), glob.as_deref())?;
            let specs = match (span, spans) {
                (Some(s), _) => vec![s],
                (None, Some(file)) => read_lines(&file)?,
                (None, None) => unreachable!("clap requires one"),
            };
            let parsed: Vec<Span> = specs.iter().map(|s| parse_span(s)).collect::<Result<_>>()?;
            let asks: Vec<(&str, Ask)> = specs
                .iter()
                .zip(&parsed)
                .map(|(spec, span)| (spec.as_str(), Ask::Similar { span: span.clone() }))
                .collect();
            let live = Asked {
                lang: lang.as_deref(),
                glob: glob.as_deref(),
                output: &output,
            };
            if live.answered(&root, &model, &asks)? {
                return Ok(());
            }
            let mut index = open_index(&root, false)?;
            update(&mut index, &model, true)?;
            let searcher = index.searcher(model.shared())?;
            let mut out = io::BufWriter::new(io::stdout().lock());
            for (spec, span) in specs.iter().zip(&parsed) {
                let hits = searcher.similar(span, output.limit, &filter)?;
                output::print_hits(spec, &hits, output.json, &mut out)?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Watch {
            dir,
            exclude,
            json,
            model,
        } => {
            let model = model.map(|m| from_here(&m)).transpose()?;
            let settings = scry_core::live::Settings { model, exclude };
            watch::run(&dir, settings, json, &mut io::stdout().lock())
        }
        Command::Login { server, no_browser } => account::login(
            &account::server(server.server)?,
            !no_browser,
            &mut io::stderr(),
        ),
        Command::Logout { server } => {
            account::logout(&account::server(server.server)?, &mut io::stderr())
        }
        Command::Whoami { server, json } => account::whoami(
            &account::server(server.server)?,
            json,
            &mut io::stdout().lock(),
        ),
        Command::Sync {
            action,
            path,
            dry_run,
            line,
            json,
        } => {
            let options = scry_client::sync::SyncOptions { dry_run, line };
            dispatch_sync(action, path, &options, json)
        }
        Command::Keys {
            action,
            server,
            org,
        } => {
            let server = account::server(server.server)?;
            let org = org.as_deref();
            match action {
                KeysAction::Create { name, role } => keys::create(
                    &server,
                    org,
                    &name,
                    role,
                    &mut io::stdout().lock(),
                    &mut io::stderr(),
                ),
                KeysAction::List { json } => {
                    keys::list(&server, org, json, &mut io::stdout().lock())
                }
                KeysAction::Revoke { key } => keys::revoke(&server, org, &key, &mut io::stderr()),
            }
        }
        Command::Status {
            check,
            json,
            common,
        } => {
            let root = common.path.unwrap_or_else(|| ".".into());
            let index = open_index(&root, false)?;
            if json {
                let problems = check.then(|| index.check()).transpose()?;
                return output::print_status_json(&index.status()?, problems, &mut io::stdout());
            }
            output::print_status(&index.status()?, &mut io::stdout())?;
            output::print_project(scry_core::repo::identify(&root), &mut io::stdout())?;
            if check {
                let problems = index.check()?;
                if !problems.is_empty() {
                    for problem in &problems {
                        eprintln!("problem: {}", output::shown(problem));
                    }
                    return Err(scry_core::Error::CorruptIndex {
                        path: index.db_path().to_path_buf(),
                        message: format!("{} problems, listed above", problems.len()),
                    }
                    .into());
                }
                println!("check:     consistent");
            }
            Ok(())
        }
    }
}

fn dispatch_sync(
    action: Option<SyncAction>,
    path: Option<PathBuf>,
    options: &scry_client::sync::SyncOptions,
    json: bool,
) -> Result<()> {
    let here = |p: Option<PathBuf>| p.unwrap_or_else(|| ".".into());
    let (mut out, mut err) = (io::stdout().lock(), io::stderr());
    match action {
        None => sync::run(&here(path), options, json, &mut out),
        Some(SyncAction::Enable {
            path,
            org,
            repo,
            hosted_search,
            no_hosted_search,
            sealed_snippets,
            no_sealed_snippets,
            server,
        }) => sync::enable(
            &here(path),
            &account::server(server.server)?,
            org.as_deref(),
            repo.as_deref(),
            sync::Choices {
                hosted_search: (hosted_search || no_hosted_search).then_some(hosted_search),
                sealed_snippets: (sealed_snippets || no_sealed_snippets).then_some(sealed_snippets),
            },
            &mut err,
        ),
        Some(SyncAction::Disable { path, delete }) => sync::disable(&here(path), delete, &mut err),
        Some(SyncAction::Status { path, json }) => sync::status(&here(path), json, &mut out),
        Some(SyncAction::Log { path, json }) => sync::log(&here(path), json, &mut out),
        Some(SyncAction::RecoveryKey { org, server }) => recovery::print(
            &account::server(server.server)?,
            org.as_deref(),
            &mut out,
            &mut err,
        ),
        Some(SyncAction::Recover { org, server }) => recovery::recover(
            &account::server(server.server)?,
            org.as_deref(),
            &mut io::stdin().lock(),
            &mut err,
        ),
    }
}

/// What a one-shot search or similar asks the live index of its workspace.
struct Asked<'a> {
    lang: Option<&'a str>,
    glob: Option<&'a str>,
    output: &'a OutputArgs,
}

impl Asked<'_> {
    /// Prints every answer of the live index that holds the workspace (a language server's,
    /// kept current by its watcher): `false` when none answers, and the command loads the
    /// index itself. Each ask carries the line its results are printed under.
    fn answered(&self, root: &Path, model: &ModelChoice, asks: &[(&str, Ask)]) -> Result<bool> {
        let Ok(root) = root.canonicalize() else {
            return Ok(false);
        };
        let mut answers = Vec::with_capacity(asks.len());
        for (label, ask) in asks {
            let question = Question {
                ask: ask.clone(),
                limit: self.output.limit,
                language: self.lang.map(String::from),
                glob: self.glob.map(String::from),
                model: model.embedder().map(|e| e.model_id().to_string()),
            };
            match live::ask(&root, &question) {
                Some(hits) => answers.push((label, hits)),
                None => return Ok(false),
            }
        }
        tracing::debug!("answered by the live index of {}", root.display());
        let mut out = io::BufWriter::new(io::stdout().lock());
        for (label, hits) in answers {
            output::print_hits(label, &hits?, self.output.json, &mut out)?;
        }
        out.flush()?;
        Ok(true)
    }
}

fn open_index(root: &Path, rebuild: bool) -> Result<Index> {
    if !root.is_dir() {
        bail!(
            "workspace {} does not exist or is not a directory",
            root.display()
        );
    }
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", root.display()))?;
    let db_path = default_db_path(&root);
    let index = if rebuild {
        Index::rebuild(&root, &db_path)?
    } else {
        Index::open(&root, &db_path)?
    };
    if let Some(note) = index.open_note() {
        eprintln!("note: {note}");
    }
    Ok(index)
}

/// Brings the index up to date. An update of a linked workspace that fills the empty index or
/// changes many files starts from the org's synced index when `reuse` allows (see
/// `scry_client::sync::reuse`).
fn update(index: &mut Index, model: &ModelChoice, reuse: bool) -> Result<scry_core::UpdateStats> {
    let taken = match reuse {
        true => Some(reuse::arm(index)?),
        false => None,
    };
    let mut bar = progress::Bar::new();
    let stats = index.update(model.embedder(), &mut |p| bar.update(p))?;
    bar.finish();
    if let Some(taken) = &taken {
        reuse::report(taken, &stats, &mut io::stderr())?;
    }
    if let Some(note) = &stats.all_ignored {
        eprintln!("warning: {note}");
    }
    for err in stats.errors.iter().take(5) {
        eprintln!("warning: {}", output::shown(err));
    }
    if stats.errors.len() > 5 {
        eprintln!(
            "warning: … and {} more unreadable entries",
            stats.errors.len() - 5
        );
    }
    Ok(stats)
}

/// A model named on the command line, as the workspace's settings take it: a path relative to
/// the current directory made absolute, a keyword as it is.
fn from_here(model: &str) -> Result<String> {
    let keyword = ["", "none", "builtin"]
        .iter()
        .any(|k| model.eq_ignore_ascii_case(k));
    if keyword {
        return Ok(model.into());
    }
    let here = std::env::current_dir().context("cannot read the current directory")?;
    Ok(here.join(model).to_string_lossy().into_owned())
}

fn read_lines(file: &Path) -> Result<Vec<String>> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut lines = Vec::new();
    for line in io::BufReader::new(f).lines() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        if !line.trim().is_empty() {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// `path:START-END` or `path:LINE`.
fn parse_span(spec: &str) -> Result<Span> {
    let usage = || format!("`{spec}` is not a span: write FILE:START-END (e.g. src/lib.rs:10-42)");
    let (path, lines) = spec.rsplit_once(':').with_context(usage)?;
    let (start, end) = lines.split_once('-').unwrap_or((lines, lines));
    let start: u32 = start.trim().parse().ok().with_context(usage)?;
    let end: u32 = end.trim().parse().ok().with_context(usage)?;
    if path.is_empty() {
        bail!(usage());
    }
    Ok(Span {
        path: PathBuf::from(path),
        start_line: start,
        end_line: end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse() {
        let s = parse_span("src/a.rs:3-9").unwrap();
        assert_eq!(
            (s.path.to_str().unwrap(), s.start_line, s.end_line),
            ("src/a.rs", 3, 9)
        );
        let s = parse_span("a.py:7").unwrap();
        assert_eq!((s.start_line, s.end_line), (7, 7));
        assert!(parse_span("a.py").is_err());
        assert!(parse_span("a.py:x-2").is_err());
        assert!(parse_span(":1-2").is_err());
    }
}

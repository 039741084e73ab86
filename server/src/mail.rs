//! Outgoing mail (email verification, sign-up notices): into files in an outbox directory by
//! default, for self-hosting and tests, or piped to a sendmail-style command. Messages carry
//! one-time tokens: the outbox is private to the service's user, and nothing is logged of them
//! but the recipient's domain.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::config::Config;

pub enum Mailer {
    /// One file per message, `<unix nanoseconds>-<sequence>-<random>.eml`.
    Outbox(PathBuf),
    /// `sh -c COMMAND` with the message (headers, blank line, body) on its standard input.
    Command(String),
}

impl Mailer {
    pub fn from_config(config: &Config) -> Mailer {
        match &config.mail_command {
            Some(command) => Mailer::Command(command.clone()),
            None => Mailer::Outbox(config.outbox()),
        }
    }

    /// Sends a plain-text message. Runs on a blocking thread: a command may take its time.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        let message = format!(
            "To: {to}\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        let domain = to.rsplit_once('@').map_or("", |(_, d)| d).to_string();
        let result = match self {
            Mailer::Outbox(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_to_outbox(&dir, &message)).await?
            }
            Mailer::Command(command) => {
                let command = command.clone();
                tokio::task::spawn_blocking(move || pipe_to(&command, &message)).await?
            }
        };
        match &result {
            Ok(()) => tracing::info!(domain, subject, "mail sent"),
            Err(e) => tracing::warn!(domain, subject, "mail failed: {e:#}"),
        }
        result
    }
}

fn write_to_outbox(dir: &std::path::Path, message: &str) -> anyhow::Result<()> {
    crate::secrets::private_dir(dir)?;
    // Names sort in the order messages were written (by this process).
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{now:020}-{seq:08}-{}.eml", crate::auth::random_token(8));
    let mut file = crate::secrets::private_file(&dir.join(name))?;
    file.write_all(message.as_bytes())
        .context("writing to the mail outbox")
}

fn pipe_to(command: &str, message: &str) -> anyhow::Result<()> {
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run the mail command `{command}`"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(message.as_bytes())?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "the mail command exited with {status}");
    Ok(())
}

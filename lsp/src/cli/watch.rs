//! `scry watch`: keeps a workspace's index current as its files change, printing a line for
//! each change of state, until interrupted.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use scry_core::live::{Event, Settings, State, Status, Workspace};
use serde_json::json;

use super::output::shown;

/// Progress lines no more often than this on a human's screen.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub fn run(root: &Path, settings: Settings, json: bool, out: &mut impl Write) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let _workspace = Workspace::start(root, settings, move |event| {
        let _ = tx.send(event);
    })?;
    let mut last_progress = Instant::now() - PROGRESS_EVERY;
    for event in rx {
        if json {
            writeln!(out, "{}", as_json(&event))?;
        } else {
            if let Event::ProgressReport { done, total, .. } = &event {
                if done < total && last_progress.elapsed() < PROGRESS_EVERY {
                    continue;
                }
                last_progress = Instant::now();
            }
            writeln!(out, "{}", as_line(&event))?;
        }
        out.flush()?;
    }
    Ok(())
}

fn as_line(event: &Event) -> String {
    match event {
        Event::Status(status) => status_line(status),
        Event::ProgressBegin { title, .. } => format!("{title}…"),
        Event::ProgressReport {
            done, total, what, ..
        } => format!("  {done}/{total} {what}"),
        Event::ProgressEnd { message, .. } => format!("  {message}"),
        Event::Warning(message) => format!("warning: {}", shown(message)),
    }
}

fn status_line(status: &Status) -> String {
    let state = match status.state {
        State::Opening => "opening",
        State::Indexing => "indexing",
        State::Ready => "ready",
        State::Failed => "failed",
    };
    let mut line = format!(
        "{state:<9}{} files, {} chunks, {} vectors ({})",
        status.files,
        status.chunks,
        status.vectors,
        status.model.as_deref().unwrap_or("lexical only"),
    );
    if status.buffers > 0 {
        line += &format!(", {} unsaved buffers", status.buffers);
    }
    if let Some(message) = &status.message {
        line += &format!(": {}", shown(message));
    }
    line
}

fn as_json(event: &Event) -> serde_json::Value {
    match event {
        Event::Status(s) => json!({
            "event": "status",
            "root": s.root,
            "state": s.state,
            "index": s.index,
            "files": s.files,
            "chunks": s.chunks,
            "vectors": s.vectors,
            "model": s.model,
            "buffers": s.buffers,
            "message": s.message,
        }),
        Event::ProgressBegin { id, title } => {
            json!({"event": "progressBegin", "id": id, "title": title})
        }
        Event::ProgressReport {
            id,
            done,
            total,
            what,
        } => json!({"event": "progress", "id": id, "done": done, "total": total, "what": what}),
        Event::ProgressEnd { id, message } => {
            json!({"event": "progressEnd", "id": id, "message": message})
        }
        Event::Warning(message) => json!({"event": "warning", "message": message}),
    }
}

//! A progress bar on stderr for long indexing and syncing, shown only on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use scry_core::Progress;

pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new() -> Self {
        Bar {
            bar: std::io::stderr().is_terminal().then(ProgressBar::hidden),
        }
    }

    pub fn update(&mut self, progress: Progress) {
        let Some(bar) = &self.bar else { return };
        let (message, done, total) = match progress {
            Progress::Walked { files } => {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}").expect("valid template"),
                );
                bar.set_message(format!("found {files} files"));
                bar.enable_steady_tick(Duration::from_millis(120));
                return;
            }
            Progress::Offering { files } => {
                bar.set_message(format!("fetching the org's index of {files} changed files"));
                return;
            }
            Progress::Indexed { done, total } => ("indexing files", done, total),
            Progress::Embedded { done, total } => ("embedding chunks", done, total),
        };
        if bar.length() != Some(total) {
            bar.set_style(
                ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} ({eta} left)")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_length(total);
            bar.set_message(message);
        }
        bar.set_position(done);
    }

    /// Where a sync is: a spinner while it negotiates, a bar of bytes while it uploads.
    pub fn sync_step(&mut self, step: scry_client::sync::Step) {
        use scry_client::sync::Step;
        let Some(bar) = &self.bar else { return };
        match step {
            Step::Negotiating { asked } => {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}").expect("valid template"),
                );
                bar.set_message(format!("comparing with the account ({asked} objects)"));
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            Step::Uploading { sent, total } | Step::Publishing { sent, total } => {
                if bar.length() != Some(total) {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} ({eta} left)",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_length(total);
                    let what = match step {
                        Step::Publishing { .. } => "publishing",
                        _ => "uploading",
                    };
                    bar.set_message(what);
                }
                bar.set_position(sent);
            }
            Step::Committing => bar.set_message("committing"),
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

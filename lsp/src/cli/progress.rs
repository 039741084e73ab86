//! A progress bar on stderr for long indexing, shown only on a terminal.

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

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

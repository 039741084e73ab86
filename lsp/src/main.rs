//! `scry`: semantic code search on the command line and as a language server (`scry lsp`).

mod cli;
mod model;
mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}

//! `scry`: semantic code search on the command line (and, later, as a language server).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}

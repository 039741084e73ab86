//! `scry`: semantic code search on the command line and as a language server (`scry lsp`).

mod cli;
mod lsp;

use std::process::ExitCode;

#[global_allocator]
static GLOBAL: scry_core::alloc::MiMalloc = scry_core::alloc::MiMalloc;

fn main() -> ExitCode {
    // SAFETY: first thing, before any parser exists.
    unsafe { scry_core::alloc::use_for_tree_sitter() };
    cli::run()
}

//! `scry`: semantic code search on the command line and as a language server (`scry lsp`).

mod cli;
mod lsp;
mod model;

use std::process::ExitCode;

/// Indexing makes tens of millions of small strings, term lists and syntax-tree nodes on every
/// core: mimalloc spends less time on them than glibc's malloc (and tree-sitter's C side uses it
/// too), and gives freed memory back to the system by itself.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // SAFETY: set before any parser exists, so every tree is freed by the allocator that made it.
    unsafe {
        use libmimalloc_sys as mi;
        tree_sitter::set_allocator(Some(tree_sitter::Allocator {
            malloc: mi::mi_malloc,
            calloc: mi::mi_calloc,
            realloc: mi::mi_realloc,
            free: mi::mi_free,
        }));
    }
    cli::run()
}

//! The allocator Scry's programs run on. Indexing makes tens of millions of small strings, term
//! lists and syntax-tree nodes on every core: mimalloc spends less time on them than glibc's
//! malloc and gives freed memory back to the system by itself. A binary opts in with
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: scry_core::alloc::MiMalloc = scry_core::alloc::MiMalloc;
//! ```
//!
//! and calls [`use_for_tree_sitter`] first thing in `main`.

pub use mimalloc::MiMalloc;

use libmimalloc_sys as mi;

/// Makes tree-sitter's C side allocate with mimalloc too.
///
/// # Safety
/// Call before any parser exists, so every tree is freed by the allocator that made it.
pub unsafe fn use_for_tree_sitter() {
    // SAFETY: the caller guarantees no tree-sitter object exists yet.
    unsafe {
        tree_sitter::set_allocator(Some(tree_sitter::Allocator {
            malloc: mi::mi_malloc,
            calloc: mi::mi_calloc,
            realloc: mi::mi_realloc,
            free: mi::mi_free,
        }));
    }
}

/// Returns the free pages of the calling thread's mimalloc heap to the system now rather than
/// when the allocator next gets round to it. Harmless where mimalloc is not the allocator.
pub(crate) fn collect_thread() {
    // SAFETY: mi_collect only releases free pages of mimalloc's own heaps.
    unsafe { mi::mi_collect(true) }
}

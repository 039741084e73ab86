//! Where indexing runs: a pool of its own whose threads sit ten nice levels below the process's
//! (at most 19). Searches use rayon's global pool, so a large update neither queues them behind
//! its batches nor takes the cores they need.

use std::sync::OnceLock;

/// Runs `f` (an index update) on the indexing pool, so every rayon task it starts runs there
/// too; on rayon's global pool if that pool could not be made.
pub(super) fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match indexing_pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// Returns to the system the memory a large update freed, at once: a long-running process
/// would otherwise sit on memory it no longer uses after indexing a large tree.
pub(super) fn give_back_freed_memory() {
    // Each thread's heap holds what that thread freed: the indexing threads' most of all.
    if let Some(pool) = indexing_pool() {
        pool.broadcast(|_| crate::alloc::collect_thread());
    }
    rayon::broadcast(|_| crate::alloc::collect_thread());
    crate::alloc::collect_thread();
}

/// One pool for every workspace of the process, as many threads as cores, each at a lower
/// priority (threads it starts, like the batch reader, inherit it).
fn indexing_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        // Threads inherit their maker's priority: rayon's global pool, where searches run,
        // must exist before any indexing thread could be the one to make it.
        rayon::broadcast(|_| ());
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("scry-indexing-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|err| tracing::warn!("indexing shares the search threads: {err}"))
            .ok()
    })
    .as_ref()
}

/// Lowers the calling thread's scheduling priority; a failure only leaves it where it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        /// How many nice levels below the process indexing runs: relative, so a process that
        /// was started niced is never raised above its own requests (as root could do).
        const INDEXING_NICENESS: i32 = 10;
        // SAFETY: getpriority and setpriority only read and change scheduling; on Linux
        // `who = 0` with PRIO_PROCESS names the calling thread alone, not the whole process
        // (and a new thread starts at its maker's value).
        let failed = unsafe {
            let current = libc::getpriority(libc::PRIO_PROCESS, 0);
            libc::setpriority(libc::PRIO_PROCESS, 0, (current + INDEXING_NICENESS).min(19)) != 0
        };
        if failed {
            tracing::debug!(
                "indexing keeps its priority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's nice value (the 19th field of its stat line).
    fn niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("thread stat");
        let (_, fields) = stat.rsplit_once(')').expect("stat line");
        fields
            .split_whitespace()
            .nth(16)
            .expect("nice field")
            .parse()
            .expect("a number")
    }

    #[test]
    fn indexing_runs_below_the_threads_that_answer_requests() {
        let requests = niceness();
        let below = (requests + 10).min(19);
        let (update, helpers) =
            super::in_background(|| (niceness(), rayon::broadcast(|_| niceness())));
        assert_eq!(
            update, below,
            "an update ran at nice {update}, requests at {requests}"
        );
        assert!(
            helpers.iter().all(|&n| n == below),
            "its helpers: {helpers:?}"
        );
        // Searches run on rayon's global pool and on the caller's threads: untouched.
        assert_eq!(niceness(), requests);
        assert!(
            rayon::broadcast(|_| niceness())
                .iter()
                .all(|&n| n == requests)
        );
    }
}

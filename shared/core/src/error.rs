//! The engine's errors: each names what went wrong and, where one exists, what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("workspace {} does not exist or is not a directory", .0.display())]
    NoWorkspace(PathBuf),

    #[error("model directory {}: {message}", dir.display())]
    Model { dir: PathBuf, message: String },

    #[error("the embedding model failed: {0}")]
    Embed(String),

    #[error(
        "index {} is corrupt or not a Scry index ({message}); run `scry index --rebuild` to recreate it",
        path.display()
    )]
    CorruptIndex { path: PathBuf, message: String },

    #[error("index storage failed: {0} (if this persists, run `scry index --rebuild`)")]
    Storage(String),

    /// The file system refused to write the index: full, over quota, read-only or not ours.
    /// Nothing is damaged, so rebuilding would not help.
    #[error(
        "cannot write the index: {0}; free some space or make its directory writable (or set \
         SCRY_INDEX_DIR to another disk): what is indexed stays, and the next update carries on"
    )]
    Unwritable(String),

    /// Damage found inside the index; the engine's boundary turns it into [`Error::CorruptIndex`]
    /// naming the file.
    #[error("the index is corrupt ({0}); run `scry index --rebuild` to recreate it")]
    Damaged(String),

    /// A setting, flag or config file that cannot be used; the message names it.
    #[error("{0}")]
    Config(String),

    #[error("{0}")]
    InvalidQuery(String),

    #[error("{0}")]
    InvalidSpan(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// redb's many error types mean "storage failed" to a caller, or "the file is damaged" when
/// redb found corruption or the file ends before its own layout does.
macro_rules! storage_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(err: $ty) -> Self {
                match redb::Error::from(err) {
                    redb::Error::Corrupted(message) => Error::Damaged(message),
                    redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                        Error::Damaged("the file is shorter than its contents".into())
                    }
                    redb::Error::Io(io) if refused_write(&io) => Error::Unwritable(io.to_string()),
                    other => Error::Storage(other.to_string()),
                }
            }
        }
    )*};
}
storage_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Whether the file system refused a write for a reason of its own (not damage).
pub(crate) fn refused_write(io: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    // EDQUOT: over quota; its `ErrorKind` is not stable.
    const EDQUOT: i32 = 122;
    matches!(
        io.kind(),
        K::StorageFull | K::ReadOnlyFilesystem | K::PermissionDenied
    ) || io.raw_os_error() == Some(EDQUOT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_or_read_only_disk_is_not_called_damage() {
        for errno in [28, 30, 13, 122] {
            let err = Error::from(redb::Error::Io(std::io::Error::from_raw_os_error(errno)));
            assert!(matches!(err, Error::Unwritable(_)), "{errno}: {err}");
            let message = err.to_string();
            assert!(!message.contains("--rebuild") && message.contains("free some space"));
        }
        let eio = Error::from(redb::Error::Io(std::io::Error::from_raw_os_error(5)));
        assert!(matches!(eio, Error::Storage(_)), "{eio}");
    }
}

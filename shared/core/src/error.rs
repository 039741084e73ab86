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

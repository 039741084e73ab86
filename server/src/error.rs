//! Every failure the API answers: a status and a JSON body `{"error": {"code", "message"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use scry_api::{ErrorBody, ErrorDetail};

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// Also what another organisation's resources answer: they must look like nothing.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn rate_limited(retry_after: i64, limit: i64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "rate limit of {limit} requests per minute reached; retry in {retry_after} s"
                ),
            )
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Forbidden(m) => ApiError::forbidden(m),
            e @ StoreError::Quota { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "quota_exceeded", e.to_string())
            }
            StoreError::Db(e) if storage_full(&e) => {
                tracing::error!("database: {e}");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the service's storage is full, so nothing was written; retry once its \
                     operator frees space",
                )
            }
            StoreError::Db(e) => {
                tracing::error!("database: {e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database did not answer; retry",
                )
            }
        }
    }
}

/// Whether the database refused a write for want of space: SQLite's `SQLITE_FULL`,
/// PostgreSQL's `disk_full` (53100), or the OS's ENOSPC on the way.
fn storage_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("13" | "53100")),
        sqlx::Error::Io(io) => io.raw_os_error() == Some(28),
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[tokio::test]
    async fn a_full_database_answers_insufficient_storage() {
        // SQLite's own limit on its size fails writes as a full disk does (SQLITE_FULL).
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x BLOB)")
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("PRAGMA max_page_count = 8")
            .execute(&mut db)
            .await
            .unwrap();
        let full = sqlx::query("INSERT INTO t VALUES (zeroblob(1000000))")
            .execute(&mut db)
            .await
            .unwrap_err();
        let answer = ApiError::from(StoreError::Db(full));
        assert_eq!(
            (answer.status, answer.code),
            (StatusCode::INSUFFICIENT_STORAGE, "storage_full")
        );
        let enospc = sqlx::Error::Io(std::io::Error::from_raw_os_error(28));
        assert_eq!(ApiError::from(StoreError::Db(enospc)).code, "storage_full");
        let other = sqlx::query("SELECT * FROM missing")
            .execute(&mut db)
            .await
            .unwrap_err();
        assert_eq!(ApiError::from(StoreError::Db(other)).code, "unavailable");
    }
}

//! Every error leaves as `application/problem+json` (RFC 9457) naming the field or
//! the problem. A 500 says little to the client and logs the cause with the
//! request id.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::app::AppError;
use crate::audit::AuditError;
use crate::lifecycle::LifecycleError;
use crate::ndjson::ReadError;
use crate::record::RecordError;
use crate::rules::Diagnostic;
use crate::students::{EventError, IngestError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidRecord(RecordError),
    /// A request body other than a record with problems, each naming its field.
    #[error("{0}")]
    InvalidInput(RecordError),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{message}")]
    RuleDiagnostics {
        message: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A served path asked with a method it does not have (the answer carries `Allow`).
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn slug(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::InvalidRecord(_) => ("invalid-record", "Invalid student record"),
            ApiError::InvalidInput(_) => ("invalid-input", "Invalid request"),
            ApiError::Unprocessable(_) => ("unprocessable", "Request cannot be processed"),
            ApiError::RuleDiagnostics { .. } => ("invalid-rules", "Rule set has errors"),
            ApiError::Unauthorized(_) => ("unauthorized", "Missing or invalid credentials"),
            ApiError::Forbidden(_) => ("forbidden", "Role not allowed"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            ApiError::PreconditionRequired(_) => ("precondition-required", "If-Match required"),
            ApiError::TooLarge { .. } => ("too-large", "Request body too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// An internal failure: the cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        // A damaged or unavailable store is the operator's to fix and the client's
        // to retry later: 503 saying why, never an acknowledgement.
        if e.is_unavailable() {
            tracing::error!(error = %e, "audit store unavailable");
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Rejected {
                message,
                diagnostics,
            } => ApiError::RuleDiagnostics {
                message,
                diagnostics,
            },
            LifecycleError::Stale { .. } => ApiError::PreconditionFailed(e.to_string()),
            LifecycleError::BadRequest(m) => ApiError::BadRequest(m),
            LifecycleError::UnknownVersion(_) => ApiError::NotFound(e.to_string()),
            LifecycleError::UnsafeDirectory(m) => ApiError::Conflict(m),
            other => ApiError::internal(other),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Event(EventError::Invalid(r)) => ApiError::InvalidRecord(r),
            IngestError::Event(EventError::UnknownStudent(s)) => ApiError::NotFound(format!(
                "no snapshot for student `{s}`; send a student.snapshot (or import) first"
            )),
            IngestError::Event(e @ EventError::IdReused { .. }) => {
                ApiError::Conflict(e.to_string())
            }
            IngestError::Event(other) => ApiError::Unprocessable(other.to_string()),
            IngestError::Audit(AuditError::Closed) => ApiError::Unavailable(
                "the audit log is not taking entries (the server is stopping); the event was not applied, send it again"
                    .into(),
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::InvalidRecord(r) => ApiError::InvalidRecord(r),
            AppError::InvalidInput(r) => ApiError::InvalidInput(r),
            AppError::Stale(m) => ApiError::PreconditionFailed(m),
            AppError::Unprocessable(m) => ApiError::Unprocessable(m),
            AppError::BadRequest(m) => ApiError::BadRequest(m),
            AppError::NotFound(m) => ApiError::NotFound(m),
            AppError::Unavailable(m) => ApiError::Unavailable(m),
            AppError::Audit(e) => e.into(),
            AppError::Ingest(e) => e.into(),
            AppError::Lifecycle(e) => e.into(),
            AppError::Read(e @ ReadError::Body(_)) => ApiError::BadRequest(e.to_string()),
            AppError::Gone => ApiError::BadRequest(e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidRecord(_)
            | ApiError::InvalidInput(_)
            | ApiError::Unprocessable(_)
            | ApiError::RuleDiagnostics { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (slug, title) = self.slug();
        let mut body = json!({
            "type": format!("https://intervene.example/problems/{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        match self {
            ApiError::InvalidRecord(e) | ApiError::InvalidInput(e) => {
                body["errors"] = json!(e.problems);
            }
            ApiError::RuleDiagnostics { diagnostics, .. } => {
                body["errors"] = json!(diagnostics);
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                body["detail"] =
                    json!("the server could not complete the request; the cause is in its log");
            }
            _ => {}
        }
        let mut res = HttpResponse::build(status);
        res.content_type("application/problem+json");
        if matches!(self, ApiError::Unauthorized(_)) {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        res.body(body.to_string())
    }
}

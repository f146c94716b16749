//! Why a console request was not answered with its page: [`ConsoleError`], shown as
//! a plain HTML page (never problem+json), or a redirect to the sign-in page.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::layout::Layout;
use crate::app::AppError;
use crate::http::error::ApiError;

/// A console answer other than the page asked for.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session, or it expired: `303 See Other` to `/login`.
    #[error("sign in first")]
    SignIn,
    /// An error page with this status and message (the message is shown as text).
    #[error("{message}")]
    Page { status: StatusCode, message: String },
}

impl ConsoleError {
    pub fn forbidden(message: impl Into<String>) -> ConsoleError {
        ConsoleError::Page {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ConsoleError {
        ConsoleError::Page {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A fault of the server: logged with its detail, shown without it.
    pub fn internal(detail: impl std::fmt::Display) -> ConsoleError {
        tracing::error!(error = %detail, "console page failed");
        ConsoleError::Page {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Something went wrong on the server; the error is logged.".into(),
        }
    }
}

/// A use case's error with the API's status for it; the message of a client error
/// is shown, a server fault is logged and shown without its detail.
impl From<AppError> for ConsoleError {
    fn from(e: AppError) -> ConsoleError {
        let api = ApiError::from(e);
        let status = api.status_code();
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            return ConsoleError::internal(api);
        }
        ConsoleError::Page {
            status,
            message: api.to_string(),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> ConsoleError {
        ConsoleError::internal(format!("template: {e}"))
    }
}

/// `console/error.html`.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Page { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish(),
            ConsoleError::Page { status, message } => {
                let page = ErrorPage {
                    layout: Layout::anonymous(),
                    status: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("Error"),
                    message,
                };
                match page.render() {
                    Ok(html) => HttpResponse::build(*status)
                        .content_type("text/html; charset=utf-8")
                        .body(html),
                    Err(e) => {
                        tracing::error!(error = %e, "console error page failed to render");
                        HttpResponse::build(*status)
                            .content_type("text/plain; charset=utf-8")
                            .body(message.clone())
                    }
                }
            }
        }
    }
}

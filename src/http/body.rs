//! Request bodies: size limit enforced while reading (and from Content-Length before
//! reading), content type, UTF-8 — each refusal a clear problem.

use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;

use super::error::ApiError;

/// Refuse a body whose declared length is over `limit` before reading it.
pub fn check_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ApiError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Require one of `types` as the media type.
pub fn check_type(req: &HttpRequest, types: &[&str]) -> Result<(), ApiError> {
    let ct = req.content_type();
    if types.contains(&ct) {
        Ok(())
    } else {
        let got = if ct.is_empty() { "no Content-Type".to_string() } else { format!("`{ct}`") };
        Err(ApiError::UnsupportedMediaType(format!("expected {}, got {got}", types.join(" or "))))
    }
}

/// Read the whole body as UTF-8 text of at most `limit` bytes.
pub async fn read_text(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<String, ApiError> {
    check_length(req, limit)?;
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf.to_vec()).map_err(|e| ApiError::BadRequest(format!("body is not valid UTF-8 (byte {})", e.utf8_error().valid_up_to())))
}

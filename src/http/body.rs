//! Request bodies: size limit enforced while reading (and from Content-Length before
//! reading), content type, UTF-8 — each refusal a clear problem.

use actix_web::{HttpMessage, HttpRequest, web};
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
        let got = if ct.is_empty() {
            "no Content-Type".to_string()
        } else {
            format!("`{ct}`")
        };
        Err(ApiError::UnsupportedMediaType(format!(
            "expected {}, got {got}",
            types.join(" or ")
        )))
    }
}

/// Read the whole body as UTF-8 text of at most `limit` bytes.
pub async fn read_text(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<String, ApiError> {
    check_length(req, limit)?;
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf.to_vec()).map_err(|e| {
        ApiError::BadRequest(format!(
            "body is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A JSON body (`Content-Type: application/json`) of at most `limit` bytes as `T`;
/// a 400 naming `what`, the member at fault (`flags[0].rule_id`) and the problem (without serde's line and column, which
/// mean nothing in a one-line body).
pub async fn json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    what: &str,
) -> Result<T, ApiError> {
    check_type(req, &["application/json"])?;
    let text = read_text(req, payload, limit).await?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner().to_string();
        let msg = crate::record::without_position(&inner);
        match e.path().to_string().as_str() {
            "." => ApiError::BadRequest(format!("{what}: {msg}")),
            path => ApiError::BadRequest(format!("{what} `{path}`: {msg}")),
        }
    })
}

/// Parse the query string after authorization (actix's `web::Query` extractor runs
/// before the handler, so an anonymous caller would learn the parameters); errors
/// name the parameter.
pub fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(req.query_string().as_bytes());
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner
            .replace(
                "provided string was not `true` or `false`",
                "expected `true` or `false`",
            )
            .replace("invalid digit found in string", "expected a whole number");
        if path == "." || path.is_empty() {
            ApiError::BadRequest(format!("query string: {inner}"))
        } else {
            ApiError::BadRequest(format!("query parameter `{path}`: {inner}"))
        }
    })
}

/// The body of a streamed NDJSON answer: what a producer task sends on `rx`.
pub fn ndjson_stream(
    rx: tokio::sync::mpsc::Receiver<Result<web::Bytes, actix_web::Error>>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

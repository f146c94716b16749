//! Ingesting one SIS event (`POST /v1/webhooks/sis`, once its signature is checked):
//! parse the envelope, apply it to the student's snapshot, re-evaluate and audit,
//! all durable before the outcome is returned. The event logic itself is
//! [`crate::students`]'s.

use super::{AppError, Caller, Service};
use crate::students::{Clock, Envelope, Outcome};

/// Largest envelope parsed on the calling async worker itself.
const INLINE_PARSE_MAX_BYTES: usize = 16 * 1024;

/// Ingest the event envelope in `text`, checked against the replay window of the
/// settings.
pub async fn event(svc: &Service, text: String, by: Caller<'_>) -> Result<Outcome, AppError> {
    // A small envelope parses in microseconds: one hop to the blocking pool (the
    // ingest's, below) is enough. A large one is parsed there too.
    let env = if text.len() <= INLINE_PARSE_MAX_BYTES {
        parse_envelope(&text)?
    } else {
        crate::blocking::run(move || parse_envelope(&text)).await??
    };
    let clock = Clock::now(svc.settings.webhook.replay_window_secs);
    let rules = svc.registry.active();
    let outcome = svc
        .students
        .ingest(
            env,
            rules,
            svc.evaluator.clone(),
            clock,
            by.actor,
            by.request_id,
        )
        .await?;
    Ok(outcome)
}

/// The envelope in `text` (up to `max_body_bytes` of JSON).
fn parse_envelope(text: &str) -> Result<Envelope, AppError> {
    // The record inside is one level down: the depth `POST /v1/evaluate` allows it.
    crate::record::check_depth_limit(text, crate::record::MAX_JSON_DEPTH + 1)
        .map_err(AppError::InvalidRecord)?;
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
        let path = e.path().to_string();
        let syntax = e.inner().is_syntax() || e.inner().is_eof();
        let msg = e.inner().to_string();
        let msg = crate::record::without_position(&msg);
        AppError::Unprocessable(if syntax {
            format!("event envelope is not valid JSON: {msg}")
        } else if path == "." {
            format!("event envelope: {msg}")
        } else {
            format!("`{path}`: {msg}")
        })
    })
}

//! Blocking work (CPU: evaluating, compiling, hashing; sled and file IO) run off the
//! async workers: the one helper every layer uses, so the tracing span is carried
//! over and a failed task is reported the same way everywhere.

/// Blocking work that did not finish: it panicked, or the runtime is stopping.
#[derive(Debug, thiserror::Error)]
#[error("a background task failed: {0}")]
pub struct Interrupted(#[from] tokio::task::JoinError);

/// Run `f` on the runtime's blocking pool, inside the caller's tracing span, and wait
/// for it without holding the async worker.
pub async fn run<T, F>(f: F) -> Result<T, Interrupted>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    Ok(tokio::task::spawn_blocking(move || span.in_scope(f)).await?)
}

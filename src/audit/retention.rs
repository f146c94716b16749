//! The hourly retention thread: enforces `audit.retention_days` by purging
//! decisions and closed plans past it, at start and then every hour.

use std::sync::mpsc;
use std::time::Duration;

use super::error::AuditError;
use super::sweep::PurgeReport;

/// How often the retention thread looks for decisions past retention.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// The cutoff for `days` of retention: entries dated before it are purged.
pub fn retention_cutoff(days: u32) -> String {
    (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the retention thread purges with (the store; a trait so this thread
/// depends only on the purge, not on the store built on top of it).
pub trait Purge: Send + 'static {
    /// Purge decisions dated before `before` (blocking); see `Store::purge_before`.
    fn purge_before(
        &self,
        before: &str,
        actor: &str,
        request_id: &str,
    ) -> Result<PurgeReport, AuditError>;
}

/// Enforces `audit.retention_days` in the background: at start, then every hour.
/// Dropping it stops the thread.
pub struct Retention {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Retention {
    /// Start the thread over `store`, keeping `days` of decisions.
    pub fn start(store: impl Purge, days: u32) -> std::io::Result<Retention> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("audit-retention".into())
            .spawn(move || {
                loop {
                    if !run_once(&store, days) {
                        return;
                    }
                    match stopped.recv_timeout(RETENTION_EVERY) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })?;
        Ok(Retention {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One retention run; `false` once the store is shut down.
fn run_once(store: &impl Purge, days: u32) -> bool {
    let before = retention_cutoff(days);
    match store.purge_before(&before, "retention", "") {
        Ok(r) if r.purged > 0 => tracing::info!(
            purged = r.purged,
            before = %before,
            purge_entries = ?r.purge_entries,
            "audit retention: removed decisions past retention"
        ),
        Ok(_) => {}
        Err(AuditError::Closed) => return false,
        Err(e) => tracing::error!(error = %e, "audit retention failed"),
    }
    true
}

impl Drop for Retention {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

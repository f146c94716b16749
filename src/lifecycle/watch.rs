//! Reload when files in the rules directory change. Events are debounced so an
//! editor's save (often several writes) becomes one reload; a reload that fails
//! (say, on a half-written file) keeps the active set, and the next change retries.

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Registry;

/// Quiet time after the last change before reloading.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Start watching; the returned watcher must be kept alive. Reloads run on the
/// current async runtime.
pub fn watch(registry: Arc<Registry>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let temp = ev.paths.iter().all(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            });
            if !temp && !ev.kind.is_access() {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(registry.dir(), RecursiveMode::Recursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until the directory has been quiet for DEBOUNCE.
            loop {
                tokio::time::sleep(DEBOUNCE).await;
                let mut more = false;
                while rx.try_recv().is_ok() {
                    more = true;
                }
                if !more {
                    break;
                }
            }
            match registry.reload("file-watcher", "").await {
                Ok(rs) => tracing::debug!(version = %rs.version, "rules directory checked"),
                Err(e) => {
                    tracing::warn!(error = %e, "rules directory change not activated; the active version keeps serving")
                }
            }
        }
    });
    Ok(watcher)
}

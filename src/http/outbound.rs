//! Delivering family notices: a loop on the server's runtime sends each due notice of
//! the outbox ([`crate::notices`]) to `notices.url`, signed like SIS events
//! (`X-Intervene-Signature`), with `X-Intervene-Notice` holding its id for the
//! receiver to deduplicate (delivery is at least once: a crash between the answer and
//! the mark sends it again). A 2xx answer is logged as a `notice.sent` audit entry
//! and the notice marked sent; anything else is retried after a delay that doubles
//! from `first_retry_ms` up to `max_retry_secs`, and after `max_attempts` the notice
//! is marked failed. A student's notices go in the order they were made: a later one
//! waits while an earlier one is pending.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::audit::{EntryKind, NewEntry, Store};
use crate::config::Notices as Settings;
use crate::notices::{Notice, Outbox, Status};

/// How often the loop looks for due notices when there is nothing to retry sooner.
const IDLE: Duration = Duration::from_millis(200);

/// Start the delivery loop (when `notices.url` is set); it ends with the runtime.
pub fn start(store: Store, settings: Settings, secret: Option<Vec<u8>>) {
    let Some(url) = settings.url.clone() else {
        return;
    };
    let outbox = match Outbox::open(store.db()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the notice outbox; notices are not delivered");
            return;
        }
    };
    if secret.is_none() {
        tracing::warn!(variable = %settings.secret_env, "no notice secret set; notices are sent unsigned");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(settings.timeout_secs)))
        .http_status_as_error(false)
        .build()
        .into();
    tokio::spawn(async move {
        loop {
            let due = {
                let outbox = outbox.clone();
                crate::blocking::run(move || outbox.due(Utc::now(), 16)).await
            };
            let due = match due {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read the notice outbox");
                    Vec::new()
                }
                Err(_) => return,
            };
            if due.is_empty() {
                tokio::time::sleep(IDLE).await;
                continue;
            }
            for n in due {
                deliver(
                    &agent,
                    &url,
                    secret.as_deref(),
                    &settings,
                    &store,
                    &outbox,
                    n,
                )
                .await;
            }
        }
    });
}

/// One attempt at `n`; its outcome saved.
async fn deliver(
    agent: &ureq::Agent,
    url: &str,
    secret: Option<&[u8]>,
    settings: &Settings,
    store: &Store,
    outbox: &Outbox,
    mut n: Notice,
) {
    let body = serde_json::to_vec(&n).unwrap_or_default();
    let (agent, url, id) = (agent.clone(), url.to_string(), n.notice_id.clone());
    let signature = secret.map(|s| super::signature::sign(s, Utc::now().timestamp(), &body));
    let answer = crate::blocking::run(move || {
        let mut req = agent
            .post(&url)
            .header("content-type", "application/json")
            .header("x-intervene-notice", &id);
        if let Some(sig) = signature {
            req = req.header("x-intervene-signature", &sig);
        }
        match req.send(&body[..]) {
            Ok(resp) if resp.status().is_success() => Ok(resp.status().as_u16()),
            Ok(resp) => Err(format!("answered {}", resp.status().as_u16())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    n.attempts += 1;
    match answer {
        Ok(status) => {
            let entry = NewEntry::new(
                EntryKind::NoticeSent,
                "notices",
                "",
                json!({"student_id": n.student_id, "notice_id": n.notice_id, "what": n.what,
                       "domain": n.domain, "attempts": n.attempts, "status": status}),
            );
            if let Err(e) = store.append(entry).await {
                // Not marked sent: it goes again (the receiver deduplicates by id).
                tracing::error!(error = %e, notice = %n.notice_id, "cannot audit a sent notice");
                return;
            }
            n.status = Status::Sent;
            n.sent_at = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            n.next_attempt_at = None;
            n.last_error = None;
            tracing::info!(notice = %n.notice_id, "notice delivered");
        }
        Err(error) => {
            n.last_error = Some(error.chars().take(300).collect());
            if n.attempts >= settings.max_attempts {
                n.status = Status::Failed;
                n.next_attempt_at = None;
                tracing::warn!(notice = %n.notice_id, attempts = n.attempts, error = %error, "notice failed");
            } else {
                let delay = backoff(settings, n.attempts);
                n.next_attempt_at =
                    Some((Utc::now() + delay).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                tracing::info!(notice = %n.notice_id, attempts = n.attempts, error = %error, "notice will be retried");
            }
        }
    }
    let outbox = outbox.clone();
    if let Ok(Err(e)) = crate::blocking::run(move || outbox.save(&n)).await {
        tracing::error!(error = %e, "cannot save a notice's delivery");
    }
}

/// The delay before attempt `attempts + 1`: `first_retry_ms` doubled per attempt,
/// at most `max_retry_secs`.
fn backoff(s: &Settings, attempts: u32) -> chrono::Duration {
    let ms = s
        .first_retry_ms
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(30))
        .min(s.max_retry_secs.saturating_mul(1000));
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap() {
        let s = Settings {
            first_retry_ms: 1000,
            max_retry_secs: 5,
            ..Settings::default()
        };
        let ms: Vec<i64> = (1..=5).map(|a| backoff(&s, a).num_milliseconds()).collect();
        assert_eq!(ms, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff(&s, u32::MAX).num_milliseconds(), 5000);
    }
}

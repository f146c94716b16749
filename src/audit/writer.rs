//! The single writer thread: group commit of appends.
//!
//! Before acknowledging a group it checks that the data directory is still the one
//! it opened and records the head in `audit.head`; it makes the checkpoints (see
//! [`super::checkpoint`]). Any failure, or a panic inside sled, marks the store
//! damaged ([`Health`]): that group and every later one is refused.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::chain::{Head, INDEXED, Trees, write_one};
use super::checkpoint::{self, Checkpoint, HEAD_FILE};
use super::entry::{Appended, Companion, NewEntry};
use super::error::AuditError;
use super::follow::{Follower, Written as FollowedEntry};
use super::health::{Health, Identity, no_panic};
use super::purge::{self, Plan, PurgeRequest};

/// Most entries one flush acknowledges.
const MAX_BATCH: usize = 4096;

/// What one group commit did.
#[derive(Debug, Clone, Copy)]
pub struct FlushStats {
    pub entries: usize,
    pub flush_seconds: f64,
}

/// Called after each group commit with its size and timing (for metrics).
pub type FlushObserver = Arc<dyn Fn(&FlushStats) + Send + Sync>;

type Reply = oneshot::Sender<Result<Appended, AuditError>>;

enum Msg {
    /// An entry, and the writes that land right after it (see [`Companion`]).
    Append(NewEntry, Vec<Companion>, Reply),
    /// Tombstone these entries and append the purge entry (see `purge`).
    Purge(PurgeRequest, Reply),
}

pub(super) struct Handle {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    pub(super) fn start(
        trees: Trees,
        head: Head,
        observer: Option<FlushObserver>,
        guards: Guards,
        follower: Option<Box<dyn Follower>>,
    ) -> Handle {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let mut follower = Following(follower, guards.health.clone());
                run(trees, head, rx, observer, guards, &mut follower)
            })
            .ok();
        Handle {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
        }
    }

    /// A writer that takes nothing (a store opened to inspect): appends fail.
    pub(super) fn closed() -> Handle {
        Handle {
            tx: Mutex::new(None),
            thread: Mutex::new(None),
        }
    }

    pub(super) fn submit(
        &self,
        entry: NewEntry,
    ) -> oneshot::Receiver<Result<Appended, AuditError>> {
        self.submit_with(entry, Vec::new())
    }

    pub(super) fn submit_with(
        &self,
        entry: NewEntry,
        companions: Vec<Companion>,
    ) -> oneshot::Receiver<Result<Appended, AuditError>> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Append(entry, companions, reply));
        rx
    }

    /// Run a purge in the writer; returns the purge entry once durable.
    pub(super) fn purge_blocking(&self, request: PurgeRequest) -> Result<Appended, AuditError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Purge(request, reply));
        rx.blocking_recv().map_err(|_| AuditError::Closed)?
    }

    fn send(&self, msg: Msg) {
        // On failure the reply sender is dropped and the receiver reports Closed.
        if let Ok(guard) = self.tx.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(msg);
        }
    }

    pub(super) async fn append(&self, entry: NewEntry) -> Result<Appended, AuditError> {
        self.submit(entry).await.map_err(|_| AuditError::Closed)?
    }

    pub(super) fn append_blocking(&self, entry: NewEntry) -> Result<Appended, AuditError> {
        self.submit(entry)
            .blocking_recv()
            .map_err(|_| AuditError::Closed)?
    }

    /// Close the queue and wait for the writer to drain and flush it.
    pub(super) fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What the writer checks and keeps beside the log: the store's health, the data
/// directory's identity, `audit.head` and checkpoints.
pub(super) struct Guards {
    pub health: Arc<Health>,
    pub identity: Option<Identity>,
    pub files: Option<checkpoint::Files>,
    pub policy: checkpoint::Policy,
    /// The latest checkpoint, for `GET /v1/audit/checkpoint`.
    pub latest: Arc<Mutex<Option<Checkpoint>>>,
    /// Head and time of the last checkpoint.
    pub last: (u64, Instant),
}

impl Guards {
    /// After a durable group commit (or when idle): is the directory still ours?
    /// Then record the head, and make a checkpoint when one is due. `Err` says why
    /// the store must be taken as damaged.
    fn after_commit(&mut self, head: &Head, idle: bool) -> Result<(), String> {
        if let Some(problem) = self.identity.as_ref().and_then(Identity::check) {
            return Err(problem);
        }
        if head.0 == self.last.0 {
            return Ok(());
        }
        let due = head.0.saturating_sub(self.last.0) >= self.policy.every_entries
            || (idle && self.last.1.elapsed() >= self.policy.every);
        if !idle && let Some(f) = &self.files {
            f.record_head(head.0, &head.1, false)
                .map_err(|e| format!("cannot record the head in `{HEAD_FILE}`: {e}"))?;
        }
        if due {
            self.checkpoint(head)?;
        }
        Ok(())
    }

    /// Sign the head, keep it in the data directory, log it.
    pub(super) fn checkpoint(&mut self, head: &Head) -> Result<(), String> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let c = Checkpoint::make(head.0, &head.1, self.policy.key.as_ref());
        files
            .record_head(head.0, &head.1, true)
            .and_then(|_| files.keep(&c))
            .map_err(|e| format!("cannot keep the checkpoint in the data directory: {e}"))?;
        tracing::info!(
            seq = c.seq,
            hash = %c.hash,
            at = %c.at,
            public_key = c.public_key.as_deref().unwrap_or("none"),
            signature = c.signature.as_deref().unwrap_or("none"),
            "audit checkpoint"
        );
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(c);
        }
        self.last = (head.0, Instant::now());
        Ok(())
    }
}

/// How often an idle writer checks the data directory and due checkpoints.
const IDLE_TICK: Duration = Duration::from_secs(2);

fn run(
    trees: Trees,
    mut head: Head,
    rx: mpsc::Receiver<Msg>,
    observer: Option<FlushObserver>,
    mut guards: Guards,
    follower: &mut Following,
) {
    let mut broken = false;
    let tick = guards.policy.every.min(IDLE_TICK);
    loop {
        let first = match rx.recv_timeout(tick) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if guards.health.problem().is_none()
                    && let Err(problem) = guards.after_commit(&head, true)
                {
                    guards.health.mark(problem);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if let Some(problem) = guards.health.problem() {
            // Never acknowledge into a store known to be damaged.
            for msg in batch {
                let (Msg::Append(_, _, reply) | Msg::Purge(_, reply)) = msg;
                let _ = reply.send(Err(AuditError::Damaged(problem.clone())));
            }
            continue;
        }
        let started = Instant::now();
        let outcome = no_panic("writing the audit log", || {
            commit(&trees, &mut head, batch, &mut broken, follower)
        });
        let (written, mut failure) = match outcome {
            Ok(done) => done,
            // The replies were dropped with the batch: their callers see Closed.
            Err(problem) => (Vec::new(), Some(problem)),
        };
        if failure.is_none()
            && let Err(problem) = guards.after_commit(&head, false)
        {
            failure = Some(problem);
        }
        if let Some(problem) = &failure {
            guards.health.mark(problem.clone());
        }
        if let Some(obs) = &observer {
            obs(&FlushStats {
                entries: written.len(),
                flush_seconds: started.elapsed().as_secs_f64(),
            });
        }
        for (entry, reply) in written {
            let _ = reply.send(match &failure {
                None => Ok(entry),
                Some(msg) => Err(AuditError::Damaged(msg.clone())),
            });
        }
        if broken {
            break;
        }
    }
    finish(&trees, &head, &mut guards);
}

/// Queue closed: everything received was flushed; record the final head and make
/// the shutdown checkpoint (not over a store known to be damaged).
fn finish(trees: &Trees, head: &Head, guards: &mut Guards) {
    let flushed = no_panic("flushing the audit log", || flush(trees));
    if !matches!(flushed, Ok(Ok(()))) || guards.health.problem().is_some() {
        return;
    }
    if let Some(problem) = guards.identity.as_ref().and_then(Identity::check) {
        guards.health.mark(problem);
        return;
    }
    if let Err(problem) = guards.checkpoint(head) {
        guards.health.mark(problem);
    }
}

type Written = Vec<(Appended, Reply)>;

/// Write a batch and flush it once. Returns the entries to acknowledge and, when
/// the flush failed, why (then none of them may be acknowledged).
fn commit(
    trees: &Trees,
    head: &mut Head,
    batch: Vec<Msg>,
    broken: &mut bool,
    follower: &mut Following,
) -> (Written, Option<String>) {
    let mut written = Vec::with_capacity(batch.len());
    for msg in batch {
        if *broken {
            // After a failed purge nothing more may be appended: the plan it left
            // claims the next sequence number, and reopening the store finishes it.
            let (Msg::Append(_, _, reply) | Msg::Purge(_, reply)) = msg;
            let _ = reply.send(Err(AuditError::Closed));
            continue;
        }
        let (result, reply) = match msg {
            Msg::Append(new, companions, reply) => match write_one(trees, head, &new) {
                Ok(mut entry) => {
                    // The entry is in the log whatever happens to its companions.
                    *head = (entry.seq, entry.hash.clone());
                    entry.superseded = follower.entry(&new, &entry);
                    (write_companions(&companions).map(|()| entry), reply)
                }
                Err(e) => (Err(e), reply),
            },
            Msg::Purge(request, reply) => {
                let plan = Plan::new(request, head);
                let result = purge::execute(trees, head, &plan);
                match &result {
                    Ok(done) => follower.purged(&done.decisions),
                    Err(e) => {
                        tracing::error!(error = %e, "audit purge failed; the audit log stops taking entries until the server restarts and finishes it");
                        *broken = true;
                    }
                }
                (result.map(|done| done.appended), reply)
            }
        };
        match result {
            Ok(entry) => {
                *head = (entry.seq, entry.hash.clone());
                written.push((entry, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
    follower.applied(head.0);
    let flushed = trees
        .meta
        .insert(INDEXED, &head.0.to_be_bytes())
        .map_err(AuditError::from)
        .and_then(|_| flush(trees));
    (written, flushed.err().map(|e| e.to_string()))
}

/// Write an entry's companions, in order, after the entry itself: sled recovers a
/// prefix of its log, so after a crash a companion is never there without its entry.
fn write_companions(companions: &[Companion]) -> Result<(), AuditError> {
    for c in companions {
        c.tree.insert(c.key.as_slice(), c.value.as_slice())?;
    }
    Ok(())
}

/// Flush sled, then fdatasync its log file: sled's flush is `sync_file_range` on
/// Linux, which does not survive power loss. (`conf` is synced once at open.)
fn flush(trees: &Trees) -> Result<(), AuditError> {
    trees.db.flush()?;
    if let Some(f) = &trees.db_file {
        f.sync_data()?;
    }
    Ok(())
}

/// The follower kept beside the log, if any (see `follow`). After its first error
/// it is dropped: it then reads as behind the log, and catches up when the store
/// next opens. The log itself is not affected.
pub(super) struct Following(Option<Box<dyn Follower>>, Arc<Health>);

impl Following {
    fn failed(&mut self, what: &str, seq: u64, e: String) {
        tracing::error!(seq, error = %e, "{what}: the caseload index stops following the audit log until the server restarts and rebuilds it");
        self.1.mark_lagging(format!("{what} (entry {seq}): {e}"));
        self.0 = None;
    }

    /// Tell the follower about a written entry; whether it found it superseded.
    fn entry(&mut self, new: &NewEntry, appended: &Appended) -> bool {
        let Some(f) = self.0.as_mut() else {
            return false;
        };
        let written = FollowedEntry {
            seq: appended.seq,
            kind: &new.kind,
            at: &appended.at,
            hash: &appended.hash,
            payload: &new.payload,
        };
        match f.entry(&written) {
            Ok(superseded) => superseded,
            Err(e) => {
                self.failed("following an entry", appended.seq, e);
                false
            }
        }
    }

    fn purged(&mut self, decisions: &[(String, u64)]) {
        for (student, seq) in decisions {
            let Some(f) = self.0.as_mut() else { return };
            if let Err(e) = f.purged(student, *seq) {
                self.failed("following a purge", *seq, e);
            }
        }
    }

    fn applied(&mut self, seq: u64) {
        if let Some(f) = self.0.as_mut()
            && let Err(e) = f.applied(seq)
        {
            self.failed("recording what the caseload reflects", seq, e);
        }
    }
}

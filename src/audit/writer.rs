//! The single writer thread: group commit of appends.

use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::{
    Appended, AuditError, Companion, FlushObserver, GENESIS, NewEntry, decode, encode, index_key,
    now,
};

/// Most entries one flush acknowledges.
const MAX_BATCH: usize = 4096;

/// What one group commit did.
#[derive(Debug, Clone, Copy)]
pub struct FlushStats {
    pub entries: usize,
    pub flush_seconds: f64,
}

pub(super) struct Trees {
    pub db: sled::Db,
    pub log: sled::Tree,
    pub by_student: sled::Tree,
    pub by_rule: sled::Tree,
    pub meta: sled::Tree,
    /// sled's log file, kept open for fdatasync after each flush.
    pub db_file: Option<std::fs::File>,
}

type Reply = oneshot::Sender<Result<Appended, AuditError>>;

enum Msg {
    /// An entry, and the writes that land right after it (see [`Companion`]).
    Append(NewEntry, Vec<Companion>, Reply),
    /// Tombstone these entries and append the purge entry (see `purge`).
    Purge(PurgeRequest, Reply),
}

/// A purge as asked for; the writer gives it its sequence number.
pub(super) struct PurgeRequest {
    pub seqs: Vec<u64>,
    pub before: String,
    pub actor: String,
    pub request_id: String,
}

pub(super) struct Handle {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// (last seq, last hash)
pub(super) type Head = (u64, String);

/// Find the head of the chain and index any entries the indexes missed (a crash
/// between the log write and the index write).
pub(super) fn recover(
    log: &sled::Tree,
    by_student: &sled::Tree,
    by_rule: &sled::Tree,
    meta: &sled::Tree,
) -> Result<Head, AuditError> {
    let indexed = meta
        .get("indexed")?
        .map(|v| super::key_seq(&v))
        .unwrap_or(0);
    for item in log.range((indexed + 1).to_be_bytes()..) {
        let (k, v) = item?;
        let seq = super::key_seq(&k);
        let e = decode(seq, &v)?;
        index(seq, e.student_id(), &e.rule_ids(), by_student, by_rule)?;
    }
    match log.last()? {
        None => Ok((0, GENESIS.to_string())),
        Some((k, v)) => {
            let seq = super::key_seq(&k);
            let e = decode(seq, &v)?;
            Ok((seq, e.hash))
        }
    }
}

fn index<R: AsRef<str>>(
    seq: u64,
    student_id: Option<&str>,
    rule_ids: &[R],
    by_student: &sled::Tree,
    by_rule: &sled::Tree,
) -> Result<(), AuditError> {
    if let Some(s) = student_id {
        by_student.insert(index_key(s, seq), &[])?;
    }
    for r in rule_ids {
        by_rule.insert(index_key(r.as_ref(), seq), &[])?;
    }
    Ok(())
}

impl Handle {
    pub(super) fn start(trees: Trees, head: Head, observer: Option<FlushObserver>) -> Handle {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || run(trees, head, rx, observer))
            .ok();
        Handle {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
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

fn run(trees: Trees, mut head: Head, rx: mpsc::Receiver<Msg>, observer: Option<FlushObserver>) {
    let mut broken = false;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut written = Vec::with_capacity(batch.len());
        let mut failure = None;
        for msg in batch {
            if broken {
                // After a failed purge nothing more may be appended: the plan it left
                // claims the next sequence number, and reopening the store finishes it.
                let (Msg::Append(_, _, reply) | Msg::Purge(_, reply)) = msg;
                let _ = reply.send(Err(AuditError::Closed));
                continue;
            }
            let (result, reply) = match msg {
                Msg::Append(new, companions, reply) => match write_one(&trees, &head, new) {
                    Ok(entry) => {
                        // The entry is in the log whatever happens to its companions.
                        head = (entry.seq, entry.hash.clone());
                        (write_companions(&companions).map(|()| entry), reply)
                    }
                    Err(e) => (Err(e), reply),
                },
                Msg::Purge(request, reply) => {
                    let plan = super::purge::Plan {
                        purge_seq: head.0 + 1,
                        seqs: request.seqs,
                        before: request.before,
                        actor: request.actor,
                        request_id: request.request_id,
                    };
                    let result = super::purge::execute(&trees, &head, &plan);
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "audit purge failed; the audit log stops taking entries until the server restarts and finishes it");
                        broken = true;
                    }
                    (result, reply)
                }
            };
            match result {
                Ok(entry) => {
                    head = (entry.seq, entry.hash.clone());
                    written.push((entry, reply));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        if let Err(e) = trees
            .meta
            .insert("indexed", &head.0.to_be_bytes())
            .map_err(AuditError::from)
            .and_then(|_| flush(&trees))
        {
            failure = Some(e.to_string());
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
                Some(msg) => Err(AuditError::Io(std::io::Error::other(msg.clone()))),
            });
        }
        if broken {
            break;
        }
    }
    // Queue closed: everything received was flushed above.
    let _ = flush(&trees);
}

pub(super) fn write_one(trees: &Trees, head: &Head, new: NewEntry) -> Result<Appended, AuditError> {
    let seq = head.0 + 1;
    let (bytes, hash) = encode(seq, &now(), &new, &head.1);
    trees.log.insert(seq.to_be_bytes(), bytes)?;
    index(
        seq,
        new.student_id.as_deref(),
        &new.rule_ids,
        &trees.by_student,
        &trees.by_rule,
    )?;
    Ok(Appended {
        seq,
        prev_hash: head.1.clone(),
        hash,
    })
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

//! Student snapshots kept from SIS events and nightly imports, and the ingestion of
//! those events: apply, re-evaluate, audit — all durable before the caller is
//! answered.
//!
//! Concurrency: every change to one student runs under that student's lock (striped
//! async mutexes), so two events for the same student never lose an update; the
//! read-modify-write happens inside it. Idempotency: the result of each event id is
//! stored beside the snapshot and a repeated id answers with it.

pub mod edfi;
pub mod event;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use event::{Applied, Change, Envelope, EventError, Snapshot, Version};

use crate::audit::{AuditError, NewEntry, Source, Store, decision_entry};
use crate::engine::{Decision, Evaluator};
use crate::record::Record;
use crate::rules::RuleSet;

pub const SNAPSHOT_TREE: &str = "students";
pub const EVENT_TREE: &str = "student_events";
const STRIPES: usize = 1024;

/// What happened to one event (stored by event id; a duplicate answers with it).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub event_id: String,
    pub student_id: String,
    /// `applied`, `stale` or `withdrawn`.
    pub status: String,
    #[serde(default)]
    pub duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("student store: {0}")]
    Store(String),
}

impl From<sled::Error> for IngestError {
    fn from(e: sled::Error) -> Self {
        IngestError::Store(e.to_string())
    }
}

/// The shape of imported lines.
pub enum Format {
    /// Canonical records.
    Canonical,
    /// Ed-Fi bundles mapped through the descriptor mapping.
    EdFi(Arc<edfi::Descriptors>),
}

impl Format {
    pub fn parse(&self, line: &str) -> Result<Record, crate::record::RecordError> {
        match self {
            Format::Canonical => crate::record::parse_record(line),
            Format::EdFi(d) => d.to_record(line),
        }
    }
}

/// Counts of a nightly import.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub imported: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub flagged: u64,
}

/// The snapshot store plus what ingestion needs.
#[derive(Clone)]
pub struct Students {
    snapshots: sled::Tree,
    events: sled::Tree,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    audit: Store,
}

/// Store `value` as JSON under `key`.
fn put<T: Serialize>(tree: &sled::Tree, key: &[u8], value: &T) -> Result<(), IngestError> {
    let bytes = serde_json::to_vec(value).map_err(|e| IngestError::Store(e.to_string()))?;
    tree.insert(key, bytes)?;
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, IngestError> {
    serde_json::from_slice(bytes).map_err(|e| IngestError::Store(format!("unreadable entry: {e}")))
}

impl Students {
    /// Open the student trees in the audit store's database.
    pub fn open(audit: &Store) -> Result<Students, IngestError> {
        Ok(Students {
            snapshots: audit.db().open_tree(SNAPSHOT_TREE)?,
            events: audit.db().open_tree(EVENT_TREE)?,
            locks: Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect()),
            audit: audit.clone(),
        })
    }

    fn lock_for(&self, student_id: &str) -> &tokio::sync::Mutex<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        student_id.hash(&mut h);
        &self.locks[(h.finish() as usize) % STRIPES]
    }

    /// The current snapshot (a withdrawn student has none).
    pub fn get(&self, student_id: &str) -> Result<Option<Snapshot>, IngestError> {
        let s: Option<Snapshot> = self
            .snapshots
            .get(student_id.as_bytes())?
            .map(|b| decode(&b))
            .transpose()?;
        Ok(s.filter(Snapshot::has_data))
    }

    fn get_raw(&self, student_id: &str) -> Result<Option<Snapshot>, IngestError> {
        self.snapshots
            .get(student_id.as_bytes())?
            .map(|b| decode(&b))
            .transpose()
    }

    /// Every current student record, for previews over the caseload.
    pub fn records(&self) -> impl Iterator<Item = Result<Record, IngestError>> + '_ {
        self.snapshots.iter().values().filter_map(|v| match v {
            Err(e) => Some(Err(IngestError::from(e))),
            Ok(b) => match decode::<Snapshot>(&b) {
                Ok(s) if !s.has_data() => None,
                Ok(s) => Some(Ok(s.record)),
                Err(e) => Some(Err(e)),
            },
        })
    }

    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// Apply one signed SIS event: durable (snapshot, event result and audit entry)
    /// before it returns.
    pub async fn ingest(
        &self,
        env: &Envelope,
        rules: Arc<RuleSet>,
        evaluator: Arc<Evaluator>,
        actor: &str,
        request_id: &str,
    ) -> Result<Outcome, IngestError> {
        let (version, change) = env.change()?;
        let _guard = self.lock_for(&env.student_id).lock().await;
        if let Some(prev) = self.events.get(env.event_id.as_bytes())? {
            let mut first: Outcome = decode(&prev)?;
            if first.student_id != env.student_id {
                return Err(EventError::IdReused {
                    event_id: env.event_id.clone(),
                    student_id: first.student_id,
                }
                .into());
            }
            first.duplicate = true;
            return Ok(first);
        }
        let this = self.clone();
        let env2 = env.clone();
        let (outcome, entry) = tokio::task::spawn_blocking(move || {
            this.apply_locked(&env2, &version, &change, &rules, &evaluator)
        })
        .await
        .map_err(|e| IngestError::Store(e.to_string()))??;
        let actor = actor.to_string();
        let mut entry = entry;
        entry.actor = actor;
        entry.request_id = request_id.to_string();
        // The audit writer's flush also makes the snapshot and event result durable.
        self.audit.append(entry).await?;
        Ok(outcome)
    }

    /// Under the student's lock: apply, evaluate, write snapshot and event result.
    fn apply_locked(
        &self,
        env: &Envelope,
        v: &Version,
        change: &Change,
        rules: &RuleSet,
        ev: &Evaluator,
    ) -> Result<(Outcome, NewEntry), IngestError> {
        let current = self.get_raw(&env.student_id)?;
        let applied = Snapshot::apply(current.as_ref(), &env.student_id, v, change)?;
        let mut outcome = Outcome {
            event_id: env.event_id.clone(),
            student_id: env.student_id.clone(),
            status: String::new(),
            duplicate: false,
            decision: None,
        };
        let event_json = json!({"event_id": env.event_id, "type": env.kind, "occurred_at": env.occurred_at, "student_id": env.student_id});
        let entry = match applied {
            Applied::Stale => {
                outcome.status = "stale".into();
                NewEntry::new(
                    "event.stale",
                    String::new(),
                    String::new(),
                    json!({"student_id": env.student_id, "event": event_json, "reason": "the snapshot already holds newer data for every part this event carries"}),
                )
            }
            Applied::Removed(tomb) => {
                outcome.status = "withdrawn".into();
                put(&self.snapshots, env.student_id.as_bytes(), &tomb)?;
                NewEntry::new(
                    "student.withdrawn",
                    String::new(),
                    String::new(),
                    json!({"student_id": env.student_id, "event": event_json}),
                )
            }
            Applied::Updated(snap) => {
                outcome.status = "applied".into();
                put(&self.snapshots, env.student_id.as_bytes(), &snap)?;
                let d = ev.evaluate(rules, &snap.record);
                let source = Source::Event {
                    event_id: env.event_id.clone(),
                    event_type: env.kind.clone(),
                };
                let entry = decision_entry(&d, &snap.record, rules, source, "", "");
                outcome.decision = Some(d);
                entry
            }
        };
        put(&self.events, env.event_id.as_bytes(), &outcome)?;
        Ok((outcome, entry))
    }

    /// Upsert one whole record from a nightly import: unchanged records are counted
    /// and not re-evaluated; changed ones are evaluated and audited.
    pub async fn import_one(
        &self,
        record: Record,
        line: u64,
        rules: Arc<RuleSet>,
        evaluator: Arc<Evaluator>,
        actor: &str,
        request_id: &str,
    ) -> Result<Option<Decision>, IngestError> {
        let id = record.student_id.clone();
        let _guard = self.lock_for(&id).lock().await;
        let this = self.clone();
        let work = move || -> Result<Option<(Decision, NewEntry)>, IngestError> {
            let current = this.get_raw(&record.student_id)?;
            let v = Version {
                at: event::now_version_time(),
                event_id: format!("import:{}:{line}", ulid::Ulid::generate()),
            };
            let applied = Snapshot::apply(
                current.as_ref(),
                &record.student_id,
                &v,
                &Change::Snapshot(Box::new(record.clone())),
            )?;
            let Applied::Updated(snap) = applied else {
                return Ok(None);
            };
            let unchanged = current
                .as_ref()
                .is_some_and(|c| c.has_data() && c.record == snap.record);
            // Even an unchanged record moves the versions forward, so a late event
            // older than this import stays stale.
            put(&this.snapshots, record.student_id.as_bytes(), &snap)?;
            if unchanged {
                return Ok(None);
            }
            let d = evaluator.evaluate(&rules, &snap.record);
            let entry = decision_entry(&d, &snap.record, &rules, Source::Import { line }, "", "");
            Ok(Some((d, entry)))
        };
        let done = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| IngestError::Store(e.to_string()))??;
        let Some((d, mut entry)) = done else {
            return Ok(None);
        };
        entry.actor = actor.to_string();
        entry.request_id = request_id.to_string();
        self.audit.append(entry).await?;
        Ok(Some(d))
    }
}

impl Students {
    /// Import a chunk of NDJSON lines (line number, text or a read error) concurrently;
    /// returns the counts and one JSON error line per rejected line.
    pub async fn import_chunk(
        &self,
        chunk: Vec<(u64, Result<String, crate::record::RecordError>)>,
        format: &Format,
        rules: Arc<RuleSet>,
        evaluator: Arc<Evaluator>,
        actor: &str,
        request_id: &str,
    ) -> Result<(ImportSummary, Vec<String>), IngestError> {
        let mut summary = ImportSummary::default();
        let mut errors = Vec::new();
        let mut work = Vec::new();
        for (line, text) in chunk {
            match text.and_then(|t| format.parse(&t)) {
                Ok(record) => work.push(self.import_one(
                    record,
                    line,
                    rules.clone(),
                    evaluator.clone(),
                    actor,
                    request_id,
                )),
                Err(e) => {
                    summary.rejected += 1;
                    errors.push(
                        serde_json::to_string(&crate::batch::LineError {
                            line,
                            field: e.field(),
                            error: e.to_string(),
                        })
                        .unwrap_or_default(),
                    );
                }
            }
        }
        for result in futures_util::future::join_all(work).await {
            match result? {
                Some(d) => {
                    summary.imported += 1;
                    summary.flagged += u64::from(!d.flags.is_empty());
                }
                None => summary.unchanged += 1,
            }
        }
        Ok((summary, errors))
    }
}

impl ImportSummary {
    pub fn add(&mut self, o: &ImportSummary) {
        self.imported += o.imported;
        self.unchanged += o.unchanged;
        self.rejected += o.rejected;
        self.flagged += o.flagged;
    }
}

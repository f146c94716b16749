//! Student snapshots kept from SIS events and nightly imports, and the ingestion of
//! those events: apply, re-evaluate, audit — all durable before the caller is
//! answered.
//!
//! Concurrency: every event runs under its event id's lock and then its student's
//! lock (striped async mutexes; event locks are always taken first and imports take
//! only student locks, so no two tasks wait on each other in a circle). The student's
//! lock makes the read-modify-write of a snapshot whole, so two events for one
//! student never lose an update; the event id's lock makes check-and-claim of the id
//! whole, so one event id sent for two students at once is applied once and the
//! other gets the conflict.
//!
//! Idempotency and order: the result of each event id is stored beside the snapshot
//! and a repeated id answers with it. The new snapshot and the result are not written
//! by the request: they go to the audit writer with the event's audit entry
//! ([`Store::append_with`]), which stores them right after the entry, in the same
//! flush. So neither is visible or kept when the entry could not be written, no
//! event is answered as a duplicate with a decision that was never logged, and after
//! a crash no result or snapshot part exists without its entry.
//!
//! Blocking work — sled reads, parsing, evaluation — runs on the blocking pool inside
//! the request's tracing span, never on an async worker; waiting for the group
//! commit is an `await` on the writer's answer.
//!
//! The parts, each using only those listed before it: [`event_type`] (the kinds of
//! event), [`error`] (why an event or ingestion fails), [`bounds`] (the limits an
//! event and a snapshot are held to, and the clock), [`envelope`] (an event as sent,
//! checked into a version and a change), [`snapshot`] (a student's parts and their
//! versions), [`apply`] (one change applied to a snapshot), [`outcome`] (each event
//! id's outcome, for idempotency); [`edfi`] maps Ed-Fi bundles onto records.

pub mod apply;
pub mod bounds;
pub mod edfi;
pub mod envelope;
pub mod error;
pub mod event_type;
pub mod outcome;
pub mod snapshot;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

pub use apply::Applied;
pub use bounds::{Clock, EARLIEST_OCCURRED_AT, MAX_BEHAVIOR_COUNT, MAX_SNAPSHOT_BYTES};
pub use envelope::{Change, Envelope, PlanEvent, PlanPoint, PlanSession, Version};
pub use error::{EventError, IngestError};
pub use event_type::EventType;
pub use outcome::{EVENT_TREE, EventStatus, Outcome, Outcomes};
pub use snapshot::Snapshot;

use crate::audit::{Companion, EntryKind, NewEntry, Source, Store, decision_entry_in};
use crate::engine::{Decision, Evaluator, History, NoHistory};
use crate::record::Record;
use crate::rules::RuleSet;
use error::decode;

/// The tree holding each student's snapshot, by student id.
pub const SNAPSHOT_TREE: &str = "students";
const STRIPES: usize = 1024;

/// The shape of imported lines.
#[derive(Clone)]
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
    outcomes: Outcomes,
    /// Taken first, by event id: claiming an id is one step.
    event_locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    /// Taken second, by student id: a snapshot's read-modify-write is one step.
    student_locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    audit: Store,
    /// The plan and history facts a re-evaluation reads (none until the service
    /// gives its own: [`Students::with_history`]).
    history: Arc<dyn History>,
}

fn stripes() -> Arc<Vec<tokio::sync::Mutex<()>>> {
    Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect())
}

fn stripe<'a>(locks: &'a [tokio::sync::Mutex<()>], key: &str) -> &'a tokio::sync::Mutex<()> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    &locks[(h.finish() as usize) % locks.len()]
}

/// Run `work` on the blocking pool, inside the caller's tracing span.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    crate::blocking::run(work).await?
}

/// What deciding an event came to.
enum Step {
    /// The id was seen before, for this student: its first outcome.
    Duplicate(Outcome),
    /// The entry to append, and the writes that land with it.
    Write {
        outcome: Outcome,
        entry: NewEntry,
        companions: Vec<Companion>,
    },
}

/// What an applied event comes to (see [`Students::applying`]).
struct Applying {
    status: EventStatus,
    decision: Option<Decision>,
    entry: NewEntry,
    snapshot: Option<Companion>,
}

/// What importing one record will do.
enum ImportPlan {
    /// Nothing new; `wrote` when the part versions moved forward all the same.
    Unchanged { wrote: bool },
    /// Changed: the decision, its entry and the snapshot that lands with it.
    Changed(Box<(Decision, NewEntry, Companion)>),
}

/// What importing one record did.
enum Imported {
    /// Nothing new; `wrote` when the part versions moved forward (not yet flushed).
    Unchanged { wrote: bool },
    /// Changed, evaluated and audited.
    Decided(Box<Decision>),
}

impl Students {
    /// Open the student trees in the audit store's database.
    pub fn open(audit: &Store) -> Result<Students, IngestError> {
        Ok(Students {
            snapshots: audit.db().open_tree(SNAPSHOT_TREE)?,
            outcomes: Outcomes::open(audit.db())?,
            event_locks: stripes(),
            student_locks: stripes(),
            audit: audit.clone(),
            history: Arc::new(NoHistory),
        })
    }

    /// These students, with re-evaluations reading plan and history facts from
    /// `history`.
    pub fn with_history(self, history: Arc<dyn History>) -> Students {
        Students { history, ..self }
    }

    /// The current snapshot (a withdrawn student has none).
    pub fn get(&self, student_id: &str) -> Result<Option<Snapshot>, IngestError> {
        let s: Option<Snapshot> = self.get_raw(student_id)?;
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

    /// The write that stores `snap` for its student, refused when it is too large.
    fn snapshot_write(&self, student_id: &str, snap: &Snapshot) -> Result<Companion, IngestError> {
        Ok(Companion {
            tree: self.snapshots.clone(),
            key: student_id.as_bytes().to_vec(),
            value: snap.encode()?,
        })
    }

    /// Run `work` under `event_id`'s lock and then `student_id`'s, as an event is
    /// applied: a plan event checks and claims its id (see [`Students::outcomes`])
    /// and writes its plan inside, so a repeated id is applied once.
    pub async fn exclusive<T>(
        &self,
        event_id: &str,
        student_id: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let _event = stripe(&self.event_locks, event_id).lock().await;
        let _student = stripe(&self.student_locks, student_id).lock().await;
        work.await
    }

    /// Each event id's outcome: whether an id was seen, and the write that claims it.
    pub fn outcomes(&self) -> &Outcomes {
        &self.outcomes
    }

    /// Apply one signed SIS event checked against `clock`: durable (audit entry,
    /// then snapshot and event result) before it returns.
    pub async fn ingest(
        &self,
        env: Envelope,
        rules: Arc<RuleSet>,
        evaluator: Arc<Evaluator>,
        clock: Clock,
        actor: &str,
        request_id: &str,
    ) -> Result<Outcome, IngestError> {
        let _event = stripe(&self.event_locks, &env.event_id).lock().await;
        let _student = stripe(&self.student_locks, &env.student_id).lock().await;
        let this = self.clone();
        let step = blocking(move || this.decide(&env, &clock, &rules, &evaluator)).await?;
        match step {
            Step::Duplicate(first) => Ok(first),
            Step::Write {
                outcome,
                mut entry,
                companions,
            } => {
                entry.actor = actor.to_string();
                entry.request_id = request_id.to_string();
                self.audit.append_with(entry, companions).await?;
                Ok(outcome)
            }
        }
    }

    /// Under the event's and the student's locks, on the blocking pool: check the
    /// event, apply it and evaluate; writes nothing.
    fn decide(
        &self,
        env: &Envelope,
        clock: &Clock,
        rules: &RuleSet,
        ev: &Evaluator,
    ) -> Result<Step, IngestError> {
        let (v, change) = env.change(clock)?;
        if let Change::Plan(_) = change {
            return Err(EventError::PlanEvent(env.kind.clone()).into());
        }
        if let Some(first) = self.outcomes.seen(&env.event_id, &env.student_id)? {
            return Ok(Step::Duplicate(first));
        }
        let current = self.get_raw(&env.student_id)?;
        let applied = Snapshot::apply(current.as_ref(), &env.student_id, &v, &change)?;
        let Applying {
            status,
            decision,
            entry,
            snapshot,
        } = self.applying(env, applied, rules, ev)?;
        let outcome = Outcome {
            event_id: env.event_id.clone(),
            student_id: env.student_id.clone(),
            status,
            duplicate: false,
            decision,
            plan_id: None,
        };
        // Last: the outcome lands after the snapshot, so a stored outcome means the
        // change it reports is stored too.
        let mut companions: Vec<Companion> = snapshot.into_iter().collect();
        companions.push(self.outcomes.write(&outcome)?);
        Ok(Step::Write {
            outcome,
            entry,
            companions,
        })
    }

    /// What an applied event logs and stores: its status, decision (when the
    /// snapshot changed), audit entry and new snapshot.
    fn applying(
        &self,
        env: &Envelope,
        applied: Applied,
        rules: &RuleSet,
        ev: &Evaluator,
    ) -> Result<Applying, IngestError> {
        let event_json = json!({"event_id": env.event_id, "type": env.kind, "occurred_at": env.occurred_at, "student_id": env.student_id});
        let id = &env.student_id;
        Ok(match applied {
            Applied::Stale => Applying {
                status: EventStatus::Stale,
                decision: None,
                entry: NewEntry::new(
                    EntryKind::EventStale,
                    "",
                    "",
                    json!({"student_id": id, "event": event_json, "reason": "the snapshot already holds newer data for every part this event carries"}),
                ),
                snapshot: None,
            },
            Applied::Removed(tomb) => Applying {
                status: EventStatus::Withdrawn,
                decision: None,
                entry: NewEntry::new(
                    EntryKind::StudentWithdrawn,
                    "",
                    "",
                    json!({"student_id": id, "event": event_json}),
                ),
                snapshot: Some(self.snapshot_write(id, &tomb)?),
            },
            Applied::Updated(snap) => {
                let write = self.snapshot_write(id, &snap)?;
                let facts = self.history.facts(rules, &snap.record);
                let d = ev.evaluate_in(rules, &snap.record, &facts);
                let source = Source::Event {
                    event_id: env.event_id.clone(),
                    event_type: env.kind.clone(),
                };
                let history = (!facts.is_empty()).then_some(&facts);
                Applying {
                    status: EventStatus::Applied,
                    entry: decision_entry_in(&d, &snap.record, history, rules, source, "", ""),
                    decision: Some(d),
                    snapshot: Some(write),
                }
            }
        })
    }

    /// Upsert one whole record from a nightly import: unchanged records are counted
    /// and not re-evaluated; changed ones are evaluated and audited, and their
    /// snapshot lands with the audit entry.
    async fn import_one(
        &self,
        record: Record,
        line: u64,
        rules: Arc<RuleSet>,
        evaluator: Arc<Evaluator>,
        actor: &str,
        request_id: &str,
    ) -> Result<Imported, IngestError> {
        let _guard = stripe(&self.student_locks, &record.student_id).lock().await;
        let this = self.clone();
        let plan = blocking(move || this.import_plan(record, line, &rules, &evaluator)).await?;
        match plan {
            ImportPlan::Unchanged { wrote } => Ok(Imported::Unchanged { wrote }),
            ImportPlan::Changed(plan) => {
                let (d, mut entry, snapshot) = *plan;
                entry.actor = actor.to_string();
                entry.request_id = request_id.to_string();
                self.audit.append_with(entry, vec![snapshot]).await?;
                Ok(Imported::Decided(Box::new(d)))
            }
        }
    }

    /// Under the student's lock, on the blocking pool: apply the record and, when it
    /// changed anything, evaluate it. Only an unchanged record's newer part versions
    /// are written here (they decide nothing, so need no entry).
    fn import_plan(
        &self,
        record: Record,
        line: u64,
        rules: &RuleSet,
        evaluator: &Evaluator,
    ) -> Result<ImportPlan, IngestError> {
        let id = record.student_id.clone();
        let current = self.get_raw(&id)?;
        let v = Version {
            at: bounds::now_version_time(),
            event_id: format!("import:{}:{line}", ulid::Ulid::generate()),
        };
        let applied = Snapshot::apply(
            current.as_ref(),
            &id,
            &v,
            &Change::Snapshot(Box::new(record)),
        )?;
        let Applied::Updated(snap) = applied else {
            return Ok(ImportPlan::Unchanged { wrote: false });
        };
        let write = self.snapshot_write(&id, &snap)?;
        let unchanged = current
            .as_ref()
            .is_some_and(|c| c.has_data() && c.record == snap.record);
        if unchanged {
            // Even an unchanged record moves the versions forward, so a late event
            // older than this import stays stale.
            self.snapshots.insert(write.key, write.value)?;
            return Ok(ImportPlan::Unchanged { wrote: true });
        }
        let facts = self.history.facts(rules, &snap.record);
        let d = evaluator.evaluate_in(rules, &snap.record, &facts);
        let history = (!facts.is_empty()).then_some(&facts);
        let source = Source::Import { line };
        let entry = decision_entry_in(&d, &snap.record, history, rules, source, "", "");
        Ok(ImportPlan::Changed(Box::new((d, entry, write))))
    }
}

/// One refused import line as its JSON error line.
fn line_error(line: u64, field: &str, error: String) -> String {
    serde_json::to_string(&crate::ndjson::LineError { line, field, error }).unwrap_or_default()
}

/// The field an event error is about (empty when none).
fn event_field(e: &EventError) -> &str {
    match e {
        EventError::Invalid(r) => r.field(),
        _ => "",
    }
}

impl Students {
    /// Import a chunk of NDJSON lines (line number, text or a read error) concurrently;
    /// returns the counts, one JSON error line per rejected line, and the students
    /// re-evaluated. Parsing runs on
    /// the blocking pool; the counts are answered only once every change in the
    /// chunk is durable.
    pub async fn import_chunk(
        &self,
        chunk: Vec<(u64, Result<String, crate::record::RecordError>)>,
        format: &Format,
        rules: Arc<RuleSet>,
        evaluator: Arc<Evaluator>,
        actor: &str,
        request_id: &str,
    ) -> Result<(ImportSummary, Vec<String>, Vec<String>), IngestError> {
        let format = format.clone();
        let parsed = blocking(move || {
            Ok(chunk
                .into_iter()
                .map(|(line, text)| (line, text.and_then(|t| format.parse(&t))))
                .collect::<Vec<_>>())
        })
        .await?;
        let mut summary = ImportSummary::default();
        let mut errors = Vec::new();
        let mut work = Vec::new();
        for (line, record) in parsed {
            match record {
                Ok(record) => {
                    let (rules, evaluator) = (rules.clone(), evaluator.clone());
                    work.push(async move {
                        let r = self
                            .import_one(record, line, rules, evaluator, actor, request_id)
                            .await;
                        (line, r)
                    });
                }
                Err(e) => {
                    summary.rejected += 1;
                    errors.push(line_error(line, e.field(), e.to_string()));
                }
            }
        }
        let mut unflushed = false;
        let mut decided = Vec::new();
        for (line, result) in futures_util::future::join_all(work).await {
            match result {
                Ok(Imported::Decided(d)) => {
                    summary.imported += 1;
                    summary.flagged += u64::from(!d.flags.is_empty());
                    decided.push(d.student_id);
                }
                Ok(Imported::Unchanged { wrote }) => {
                    summary.unchanged += 1;
                    unflushed |= wrote;
                }
                Err(IngestError::Event(e)) => {
                    summary.rejected += 1;
                    errors.push(line_error(line, event_field(&e), e.to_string()));
                }
                Err(other) => return Err(other),
            }
        }
        if unflushed {
            let db = self.audit.db().clone();
            blocking(move || Ok(db.flush().map(|_| ())?)).await?;
        }
        Ok((summary, errors, decided))
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

//! Plans kept beside the audit log: every write is an audit entry under the student
//! (`plan.opened`, `plan.updated`, `plan.progress`, `plan.session`, `plan.closed`)
//! and the plan's new state lands with it as a companion write (the same durable
//! group commit), so a plan is never ahead of its log and an answered write survives
//! a crash.
//!
//! Writes to plans are serialised by one lock: a change is checked against the
//! revision it was made from (`If-Match`) and stored before the next one is read.

use std::collections::HashSet;

use serde_json::json;

use super::plan::{MAX_POINTS, Plan, ProgressPoint, SessionRecord};
use crate::audit::{AuditError, Companion, EntryKind, NewEntry, Store};

/// Tree of plans by id (named by the audit store, whose retention purge empties it of
/// a closed plan past retention in the same write as the plan's tombstones).
pub const PLANS_TREE: &str = crate::audit::PLANS_TREE;
/// Tree of `student_id NUL plan_id` keys: a student's plans.
pub const BY_STUDENT_TREE: &str = crate::audit::PLANS_BY_STUDENT_TREE;

/// Why a plan write failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("no plan `{0}`")]
    NotFound(String),
    #[error("the plan is at revision {current}; reload it and change it again")]
    Stale { current: u64 },
    #[error("the plan already holds {MAX_POINTS} points or sessions")]
    Full,
    /// The change is refused: every problem, naming its field.
    #[error("{}", .0.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<crate::record::FieldProblem>),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("plan store: {0}")]
    Store(#[from] sled::Error),
    #[error("plan store: entry `{key}` unreadable: {source}")]
    Unreadable {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What a write does to a plan.
pub enum Write {
    Open,
    Update { if_match: u64 },
    Progress(ProgressPoint),
    Session(SessionRecord),
}

/// What lands with a plan write beyond the plan itself: more fields of its audit
/// entry (an SIS event's id) and more writes in the same durable commit (the event
/// id's outcome, so a repeated id is answered as a duplicate only once the point is
/// stored).
#[derive(Default)]
pub struct Extra {
    pub payload: serde_json::Map<String, serde_json::Value>,
    pub companions: Vec<Companion>,
}

/// The plan trees of the audit store's database. Cheap to clone.
#[derive(Clone)]
pub struct Plans {
    plans: sled::Tree,
    by_student: sled::Tree,
    lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Every student who has (or had, since the store opened) a plan: a superset,
    /// so a student outside it has none and [`Plans::of_student`] answers without
    /// reading the trees. Every evaluation asks; most students have no plan.
    students: std::sync::Arc<std::sync::RwLock<HashSet<String>>>,
}

fn student_key(student: &str, plan_id: &str) -> Vec<u8> {
    let mut k = student.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(plan_id.as_bytes());
    k
}

impl Plans {
    pub fn open(db: &sled::Db) -> Result<Plans, PlanError> {
        let by_student = db.open_tree(BY_STUDENT_TREE)?;
        let mut students = HashSet::new();
        for item in by_student.iter() {
            let (k, _) = item?;
            let end = k.iter().position(|&b| b == 0).unwrap_or(k.len());
            students.insert(String::from_utf8_lossy(&k[..end]).into_owned());
        }
        Ok(Plans {
            plans: db.open_tree(PLANS_TREE)?,
            by_student,
            lock: Default::default(),
            students: std::sync::Arc::new(std::sync::RwLock::new(students)),
        })
    }

    /// Whether the student may have a plan (`false`: certainly none).
    fn may_have_plans(&self, student: &str) -> bool {
        // A poisoned lock only means a writer panicked mid-insert: read the trees.
        self.students.read().map_or(true, |s| s.contains(student))
    }

    /// The plan `id`.
    pub fn get(&self, id: &str) -> Result<Option<Plan>, PlanError> {
        self.plans
            .get(id.as_bytes())?
            .map(|v| {
                serde_json::from_slice(&v).map_err(|source| PlanError::Unreadable {
                    key: id.to_string(),
                    source,
                })
            })
            .transpose()
    }

    /// The student's plans, oldest first.
    pub fn of_student(&self, student: &str) -> Result<Vec<Plan>, PlanError> {
        if !self.may_have_plans(student) {
            return Ok(Vec::new());
        }
        let mut prefix = student.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.by_student.scan_prefix(&prefix) {
            let (k, _) = item?;
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(p) = self.get(&id)? {
                out.push(p);
            }
        }
        out.sort_by(|a, b| (a.start, &a.plan_id).cmp(&(b.start, &b.plan_id)));
        Ok(out)
    }

    /// Make `write` on `next` (the plan as it should stand, made by `change` from the
    /// stored plan) durable with its audit entry by `actor`; the plan as stored.
    pub async fn write(
        &self,
        store: &Store,
        actor: &str,
        request_id: &str,
        id: &str,
        write: Write,
        change: impl FnOnce(Option<Plan>) -> Result<Plan, PlanError>,
    ) -> Result<Plan, PlanError> {
        let extra = Extra::default();
        self.write_with(store, actor, request_id, id, write, change, extra)
            .await
    }

    /// [`Plans::write`] with `extra` landing in the same entry and commit.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_with(
        &self,
        store: &Store,
        actor: &str,
        request_id: &str,
        id: &str,
        write: Write,
        change: impl FnOnce(Option<Plan>) -> Result<Plan, PlanError>,
        extra: Extra,
    ) -> Result<Plan, PlanError> {
        let _turn = self.lock.lock().await;
        let (plans, key) = (self.clone(), id.to_string());
        let current = crate::blocking::run(move || plans.get(&key))
            .await
            .map_err(|e| AuditError::Io(std::io::Error::other(e)))??;
        if let (Write::Update { if_match }, Some(c)) = (&write, &current)
            && c.revision != *if_match
        {
            return Err(PlanError::Stale {
                current: c.revision,
            });
        }
        let mut next = change(current.clone())?;
        let kind = match &write {
            Write::Open => EntryKind::PlanOpened,
            Write::Update { .. } if !next.status.is_open() => EntryKind::PlanClosed,
            Write::Update { .. } => EntryKind::PlanUpdated,
            Write::Progress(p) => {
                if next.progress.len() >= MAX_POINTS {
                    return Err(PlanError::Full);
                }
                next.progress.push(p.clone());
                // Points are a set: kept in one order whatever order they came in.
                next.progress.sort_by(|a, b| {
                    (a.date, &a.source, &a.note)
                        .cmp(&(b.date, &b.source, &b.note))
                        .then(a.value.total_cmp(&b.value))
                });
                EntryKind::PlanProgress
            }
            Write::Session(s) => {
                if next.sessions.len() >= MAX_POINTS {
                    return Err(PlanError::Full);
                }
                next.sessions.push(s.clone());
                next.sessions
                    .sort_by_key(|s| (s.date, s.minutes, s.delivered));
                EntryKind::PlanSession
            }
        };
        next.revision += 1;
        let mut payload = entry_payload(&write, &next);
        if let Some(o) = payload.as_object_mut() {
            o.extend(extra.payload);
        }
        let entry = NewEntry::new(kind, actor, request_id, payload);
        let mut companions = self.companions(&next);
        companions.extend(extra.companions);
        if let Ok(mut s) = self.students.write() {
            // Before the write lands, so the set is never missing a stored plan.
            s.insert(next.student_id.clone());
        }
        store.append_with(entry, companions).await?;
        Ok(next)
    }

    fn companions(&self, plan: &Plan) -> Vec<Companion> {
        vec![
            Companion {
                tree: self.plans.clone(),
                key: plan.plan_id.as_bytes().to_vec(),
                value: serde_json::to_vec(plan).unwrap_or_default(),
            },
            Companion {
                tree: self.by_student.clone(),
                key: student_key(&plan.student_id, &plan.plan_id),
                value: Vec::new(),
            },
        ]
    }
}

/// The audit payload of a plan write: what changed, under the student.
fn entry_payload(write: &Write, plan: &Plan) -> serde_json::Value {
    let base = json!({
        "student_id": plan.student_id,
        "plan_id": plan.plan_id,
        "intervention": plan.intervention,
    });
    let more = match write {
        Write::Open | Write::Update { .. } => json!({"plan": plan_fields(plan)}),
        Write::Progress(p) => json!({"progress": p}),
        Write::Session(s) => json!({"session": s}),
    };
    let mut v = base;
    if let (Some(a), serde_json::Value::Object(b)) = (v.as_object_mut(), more) {
        a.extend(b);
    }
    v
}

/// The plan without its points and sessions (each of those has its own entry).
fn plan_fields(plan: &Plan) -> serde_json::Value {
    let mut v = serde_json::to_value(plan).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("progress");
        o.remove("sessions");
    }
    v
}

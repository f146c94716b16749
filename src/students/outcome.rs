//! What happened to each event, stored by event id: a repeated id answers with its
//! first outcome (idempotency), and an id already used for another student is a
//! conflict.

use serde::{Deserialize, Serialize};

use crate::audit::Companion;
use crate::engine::Decision;

use super::error::{EventError, IngestError, decode};

/// The tree holding each event id's outcome.
pub const EVENT_TREE: &str = "student_events";

/// What applying an event did to the student's snapshot.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// The snapshot changed (or was created) and was evaluated, or (a plan event) the
    /// point or session was added to its plan.
    Applied,
    /// The snapshot already held newer data for every part the event carries.
    Stale,
    /// The student was withdrawn.
    Withdrawn,
}

impl EventStatus {
    /// The name on the wire and in stored outcomes.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Applied => "applied",
            EventStatus::Stale => "stale",
            EventStatus::Withdrawn => "withdrawn",
        }
    }
}

impl std::fmt::Display for EventStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one event (stored by event id; a duplicate answers with it).
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub event_id: String,
    pub student_id: String,
    pub status: EventStatus,
    #[serde(default)]
    pub duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The plan a `progress.recorded` or `intervention.session` event was written to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
}

/// The stored outcomes, by event id.
#[derive(Clone)]
pub struct Outcomes {
    tree: sled::Tree,
}

impl Outcomes {
    /// Open the outcome tree in `db`.
    pub fn open(db: &sled::Db) -> Result<Outcomes, IngestError> {
        Ok(Outcomes {
            tree: db.open_tree(EVENT_TREE)?,
        })
    }

    /// The first outcome of `event_id`, marked as a duplicate, when it was seen
    /// before for `student_id`; a conflict when it was seen for another student.
    pub fn seen(&self, event_id: &str, student_id: &str) -> Result<Option<Outcome>, IngestError> {
        let Some(prev) = self.tree.get(event_id.as_bytes())? else {
            return Ok(None);
        };
        let mut first: Outcome = decode(&prev)?;
        if first.student_id != student_id {
            return Err(EventError::IdReused {
                event_id: event_id.to_string(),
                student_id: first.student_id,
            }
            .into());
        }
        first.duplicate = true;
        Ok(Some(first))
    }

    /// The write that stores `outcome` by its event id (it lands with the event's
    /// audit entry).
    pub fn write(&self, outcome: &Outcome) -> Result<Companion, IngestError> {
        Ok(Companion {
            tree: self.tree.clone(),
            key: outcome.event_id.as_bytes().to_vec(),
            value: serde_json::to_vec(outcome).map_err(IngestError::Encode)?,
        })
    }
}

//! What the audit writer keeps beside the log, in the same durable write as each
//! entry: the caseload index, then the family notice outbox (which needs the
//! caseload's verdict on whether a decision was out of date).

use crate::audit::follow::{Attach, Follower, LogView, Written};
use crate::notices::follow::Following as Notices;

/// Attach the caseload and the notice outbox (notices in `languages`).
pub fn attach(languages: Vec<String>) -> Attach {
    let caseload = crate::caseload::attach();
    Box::new(move |log: &LogView, head: u64| {
        let caseload = caseload(log, head)?;
        let notices = Notices::attach(log, head, languages)
            .map_err(|e| format!("cannot bring the notice outbox up to date: {e}"))?;
        Ok(Box::new(Both { caseload, notices }) as Box<dyn Follower>)
    })
}

struct Both {
    caseload: Box<dyn Follower>,
    notices: Notices,
}

impl Follower for Both {
    fn entry(&mut self, w: &Written<'_>) -> Result<bool, String> {
        let superseded = self.caseload.entry(w)?;
        self.notices.entry(w, superseded)?;
        Ok(superseded)
    }

    fn purged(&mut self, student_id: &str, seq: u64) -> Result<(), String> {
        self.caseload.purged(student_id, seq)
    }

    fn applied(&mut self, seq: u64) -> Result<(), String> {
        self.caseload.applied(seq)?;
        self.notices.applied(seq)
    }
}

//! The outbox as a follower of the audit log: the writer thread hands it every entry
//! it writes, and the notices it makes land in the same durable write as that entry.
//! So a decision that was acknowledged has its notice, and a crash loses neither.
//!
//! A decision makes a notice per domain whose highest tier differs from the student's
//! previous decision (a first decision compares against no support); a decision the
//! caseload found out of date (an older record arriving late) makes none. `plan.opened`
//! and `plan.closed` each make one. When the outbox is attached for the first time it
//! starts at the log's head (history is not announced again); when it is behind (its
//! writes failed), it catches up from the log.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Notice, NoticeError, Outbox, Status, What, words};
use crate::audit::follow::{LogView, ReadLog, Written};
use crate::rules::Domain;

/// The outbox as the writer keeps it.
pub struct Following {
    pub outbox: Outbox,
    languages: Vec<String>,
}

#[derive(Deserialize)]
struct DecisionPart {
    student_id: String,
    tiers: BTreeMap<Domain, u8>,
}

#[derive(Deserialize)]
struct DecisionPayload {
    decision: DecisionPart,
}

#[derive(Deserialize)]
struct PlanPart {
    domain: Domain,
    tier: u8,
}

#[derive(Deserialize)]
struct PlanPayload {
    student_id: String,
    plan_id: String,
    intervention: String,
    plan: PlanPart,
}

impl Following {
    /// Attach the outbox to a log whose head is `head`.
    pub fn attach(
        log: &LogView,
        head: u64,
        languages: Vec<String>,
    ) -> Result<Following, NoticeError> {
        let outbox = Outbox::open(log.db())?;
        let f = Following { outbox, languages };
        match f.outbox.applied_seq()? {
            None => f.outbox.mark_applied(head)?,
            Some(at) if at < head => f.catch_up(log, at)?,
            Some(_) => {}
        }
        Ok(f)
    }

    fn catch_up(&self, log: &LogView, mut after: u64) -> Result<(), NoticeError> {
        #[derive(Deserialize)]
        struct Line<'a> {
            kind: String,
            #[serde(borrow)]
            payload: &'a RawValue,
            #[serde(default)]
            purged_by: Option<u64>,
        }
        loop {
            let batch = log
                .raw_after(after, 4096)
                .map_err(|e| NoticeError::Store(sled::Error::ReportableBug(e.to_string())))?;
            let Some((last, _)) = batch.last() else { break };
            let last = *last;
            for (seq, bytes) in &batch {
                let line: Line = serde_json::from_slice(bytes)?;
                if line.purged_by.is_none() {
                    self.apply(*seq, &line.kind, line.payload.get(), false)?;
                }
            }
            after = last;
        }
        self.outbox.mark_applied(after)
    }

    /// Apply one entry; `superseded`: the caseload found the decision out of date.
    pub fn apply(
        &self,
        seq: u64,
        kind: &str,
        payload: &str,
        superseded: bool,
    ) -> Result<(), NoticeError> {
        match kind {
            "decision" if !superseded => {
                let Ok(p) = serde_json::from_str::<DecisionPayload>(payload) else {
                    return Ok(());
                };
                let d = p.decision;
                let before = self.outbox.tiers_of(&d.student_id)?;
                for domain in Domain::ALL {
                    let (from, to) = (
                        before.get(&domain).copied().unwrap_or(0),
                        d.tiers.get(&domain).copied().unwrap_or(0),
                    );
                    if from != to {
                        let what = if to > from {
                            What::SupportRaised
                        } else {
                            What::SupportLowered
                        };
                        self.push(seq, &d.student_id, what, domain, (from, to), None)?;
                    }
                }
                self.outbox.set_tiers(&d.student_id, &d.tiers)
            }
            "plan.opened" | "plan.closed" => {
                let Ok(p) = serde_json::from_str::<PlanPayload>(payload) else {
                    return Ok(());
                };
                let (what, tiers) = if kind == "plan.opened" {
                    (What::PlanOpened, (0, p.plan.tier))
                } else {
                    (What::PlanClosed, (p.plan.tier, 0))
                };
                let plan = Some((p.plan_id, p.intervention));
                self.push(seq, &p.student_id, what, p.plan.domain, tiers, plan)
            }
            _ => Ok(()),
        }
    }

    fn push(
        &self,
        seq: u64,
        student: &str,
        what: What,
        domain: Domain,
        (from_tier, to_tier): (u8, u8),
        plan: Option<(String, String)>,
    ) -> Result<(), NoticeError> {
        let message = self
            .languages
            .iter()
            .map(|l| (l.clone(), words::message(what, domain, l)))
            .collect();
        let (plan_id, intervention) = match plan {
            Some((p, i)) => (Some(p), Some(i)),
            None => (None, None),
        };
        let n = self.outbox.push(Notice {
            notice_id: String::new(),
            seq,
            student_id: student.to_string(),
            what,
            domain,
            from_tier,
            to_tier,
            plan_id,
            intervention,
            message,
            created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            status: Status::Pending,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            sent_at: None,
        })?;
        tracing::info!(notice = %n.notice_id, what = ?what, "notice queued");
        Ok(())
    }

    /// The writer's hooks, with the caseload's verdict on the entry.
    pub fn entry(&self, w: &Written<'_>, superseded: bool) -> Result<(), String> {
        self.apply(w.seq, w.kind.as_str(), w.payload, superseded)
            .map_err(|e| e.to_string())
    }

    pub fn applied(&self, seq: u64) -> Result<(), String> {
        self.outbox.mark_applied(seq).map_err(|e| e.to_string())
    }
}

//! Applying one checked change to a student's snapshot ([`Snapshot::apply`]): what
//! an event changes, what it leaves stale, and what a withdrawal removes.

use super::envelope::{Change, Version};
use super::error::EventError;
use super::snapshot::{Snapshot, assessment_key, upsert};

/// What applying an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The snapshot changed (or was created).
    Updated(Box<Snapshot>),
    /// Every part the event carries is already newer.
    Stale,
    /// The student was withdrawn: the snapshot becomes this tombstone.
    Removed(Box<Snapshot>),
}

impl Snapshot {
    /// Apply one change (the snapshot is `None` when the student is unknown).
    pub fn apply(
        current: Option<&Snapshot>,
        student_id: &str,
        v: &Version,
        change: &Change,
    ) -> Result<Applied, EventError> {
        // Events from before the latest withdrawal were settled by it.
        if current
            .and_then(|c| c.withdrawn.as_ref())
            .is_some_and(|w| v <= w)
        {
            return Ok(Applied::Stale);
        }
        let present = current.is_some_and(Snapshot::has_data);
        if !present && matches!(change, Change::Incident(_) | Change::Withdrawn) {
            return Err(EventError::UnknownStudent(student_id.to_string()));
        }
        let mut s = current
            .cloned()
            .unwrap_or_else(|| Snapshot::new(student_id));
        if let Change::Withdrawn = change {
            // Remove what is older than the withdrawal; keep what is newer (a late
            // withdrawal after a re-enrolment's data), so any order ends the same.
            s.withdraw(v);
            s.tidy()?;
            return Ok(if s.has_data() {
                Applied::Updated(Box::new(s))
            } else {
                Applied::Removed(Box::new(s))
            });
        }
        let changed = take(&mut s, change, v);
        if !changed {
            return Ok(Applied::Stale);
        }
        s.tidy()?;
        Ok(Applied::Updated(Box::new(s)))
    }
}

/// Take `change` into `s` where its parts are older than `v`; true when anything
/// changed.
fn take(s: &mut Snapshot, change: &Change, v: &Version) -> bool {
    match change {
        Change::Snapshot(r) => s.take_snapshot(r, v),
        Change::Attendance(a) => {
            s.claim("attendance".into(), v) && {
                s.record.attendance = Some(a.clone());
                true
            }
        }
        Change::Sel(x) => {
            s.claim("sel".into(), v) && {
                s.record.sel = Some(x.clone());
                true
            }
        }
        // A list item older than the last snapshot's list was settled by it.
        Change::Course(_) if s.versions.get("courses").is_some_and(|l| v < l) => false,
        Change::Assessment(_) if s.versions.get("assessments").is_some_and(|l| v < l) => false,
        // A list an event changes is kept in the order of its items' identities, so
        // the record does not depend on the order the events arrived in.
        Change::Course(c) => {
            s.claim(format!("course:{}", c.course_id), v) && {
                let list = s.record.courses.get_or_insert_with(Vec::new);
                upsert(list, c.clone(), |x| x.course_id == c.course_id);
                list.sort_by(|x, y| x.course_id.cmp(&y.course_id));
                true
            }
        }
        Change::Assessment(a) => {
            s.claim(assessment_key(a), v) && {
                let key = assessment_key(a);
                let list = s.record.assessments.get_or_insert_with(Vec::new);
                upsert(list, a.clone(), |x| assessment_key(x) == key);
                list.sort_by_cached_key(assessment_key);
                true
            }
        }
        Change::Incident(i) => s
            .incidents
            .insert(v.event_id.clone(), (v.at.clone(), i.clone()))
            .is_none(),
        // Written to the plan by the caller, never to the snapshot.
        Change::Withdrawn | Change::Plan(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Behavior, Record};
    use crate::students::envelope::{Incident, Suspension};

    fn at(secs: u32) -> String {
        format!("2026-11-20T08:{:02}:{:02}.000000000Z", secs / 60, secs % 60)
    }

    fn v(secs: u32, id: &str) -> Version {
        Version {
            at: at(secs),
            event_id: id.into(),
        }
    }

    fn incident(referral: bool) -> Change {
        Change::Incident(Incident {
            date: "2026-11-20".into(),
            kind: "disruption".into(),
            referral,
            suspension: Suspension::None,
        })
    }

    fn updated(a: Applied) -> Snapshot {
        match a {
            Applied::Updated(s) => *s,
            other => panic!("not updated: {other:?}"),
        }
    }

    /// Two results of one screener on one day (reading, math) sent as events in
    /// either order: once both were kept (their identity has the subject), the list
    /// held them in arrival order, so a stream delivered out of order ended in
    /// another record.
    #[test]
    fn list_items_from_events_end_in_one_order_whatever_order_they_arrive_in() {
        use crate::record::{Assessment, Course, Subject};
        let result = |subject| {
            Change::Assessment(Assessment {
                name: "Screener".into(),
                subject,
                percentile: Some(40.0),
                date: Some("2026-11-15".into()),
            })
        };
        let course = |id: &str| {
            Change::Course(Course {
                course_id: id.into(),
                title: None,
                subject: Some(Subject::Other),
                grade_pct: Some(70.0),
                letter: None,
                credits: None,
            })
        };
        let events = [
            result(Subject::Reading),
            result(Subject::Math),
            course("ENG1"),
            course("BIO1"),
        ];
        let run = |order: &[usize]| {
            let mut s = Snapshot::new("S1");
            for (n, &i) in order.iter().enumerate() {
                let id = format!("e{i}");
                s = updated(
                    Snapshot::apply(Some(&s), "S1", &v(n as u32, &id), &events[i]).expect("apply"),
                );
            }
            s.record
        };
        assert_eq!(run(&[0, 1, 2, 3]), run(&[3, 1, 2, 0]));
        assert_eq!(run(&[0, 1, 2, 3]).assessments.map(|l| l.len()), Some(2));
    }

    /// Incidents the behavior baseline already covers count for nothing; kept by
    /// event id forever, a stream of them grew the snapshot without bound.
    #[test]
    fn settled_incidents_do_not_pile_up_in_a_snapshot() {
        let mut r = Record::empty("S1");
        r.behavior = Some(Behavior {
            office_referrals: 2,
            ..Behavior::default()
        });
        let snap = Change::Snapshot(Box::new(r));
        let mut s =
            updated(Snapshot::apply(None, "S1", &v(3000, "snap"), &snap).expect("snapshot"));
        for i in 0..500 {
            let id = format!("old-{i}");
            s = updated(
                Snapshot::apply(Some(&s), "S1", &v(i % 2999, &id), &incident(true))
                    .expect("incident"),
            );
        }
        assert!(
            s.incidents.is_empty(),
            "{} settled incidents kept",
            s.incidents.len()
        );
        s = updated(
            Snapshot::apply(Some(&s), "S1", &v(3001, "new"), &incident(true)).expect("incident"),
        );
        assert_eq!(s.incidents.len(), 1);
        assert_eq!(
            s.record.behavior.as_ref().map(|b| b.office_referrals),
            Some(3)
        );
    }
}

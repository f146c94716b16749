//! A student's snapshot — the record, the version of each part, the incidents — and
//! the part-level steps [`Snapshot::apply`] is made of: claim a part, merge a whole
//! record, withdraw, recount behavior, and encode for storing within the bounds.
//!
//! Every replaceable part of a record (the profile, attendance, SEL, each course,
//! each assessment, the behavior baseline) carries the [`Version`] of the event that
//! last set it, and an event only replaces a part whose version is older: a late
//! event never rolls a snapshot back, and any order of the same events ends in the
//! same snapshot. Incidents are kept by event id and counted on top of the behavior
//! baseline when they happened after it, so each counts once, in any order;
//! incidents the baseline already covers are dropped, so they do not pile up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{Assessment, Behavior, Course, MAX_RECORD_BYTES, Record};

use super::bounds::{MAX_SNAPSHOT_BYTES, bump, check_counts, json_len};
use super::envelope::{Incident, Suspension, Version};
use super::error::{EventError, invalid};

/// A student's current picture and the versions of its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub record: Record,
    /// Part name (`profile`, `attendance`, `sel`, `behavior`, `course:<id>`,
    /// `assessment:<name>|<subject>|<date>`) → version that set it.
    pub versions: BTreeMap<String, Version>,
    /// Behavior counts as of the last snapshot (`versions["behavior"]`).
    #[serde(default)]
    pub behavior_base: Option<Behavior>,
    /// Incidents by event id.
    #[serde(default)]
    pub incidents: BTreeMap<String, (String, Incident)>,
    /// The latest withdrawal: events from before it are stale. The student has no
    /// snapshot while nothing newer than it has arrived ([`Snapshot::has_data`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Version>,
}

/// An assessment result's identity: one screener (`name`) gives a result per
/// subject, often on the same day (a reading and a math result of "MAP Growth").
pub(super) fn assessment_key(a: &Assessment) -> String {
    format!(
        "assessment:{}|{}|{}",
        a.name,
        a.subject.as_str(),
        a.date.as_deref().unwrap_or("")
    )
}

impl Snapshot {
    pub fn new(student_id: &str) -> Snapshot {
        Snapshot {
            record: Record::empty(student_id),
            versions: BTreeMap::new(),
            behavior_base: None,
            incidents: BTreeMap::new(),
            withdrawn: None,
        }
    }

    /// Take `part` at `v` if `v` is newer than what set it; true when taken.
    pub(super) fn claim(&mut self, part: String, v: &Version) -> bool {
        match self.versions.get(&part) {
            Some(cur) if cur >= v => false,
            _ => {
                self.versions.insert(part, v.clone());
                true
            }
        }
    }

    /// Whether the student has any data (a withdrawn student has none).
    pub fn has_data(&self) -> bool {
        !self.versions.is_empty() || !self.incidents.is_empty()
    }

    /// Recount behavior and order the lists so the record does not depend on the
    /// order events arrived in.
    pub(super) fn tidy(&mut self) -> Result<(), EventError> {
        self.recount_behavior()?;
        if let Some(c) = self.record.courses.as_mut() {
            c.sort_by(|a, b| a.course_id.cmp(&b.course_id));
        }
        if let Some(a) = self.record.assessments.as_mut() {
            a.sort_by(|x, y| (x.date.as_deref(), &x.name).cmp(&(y.date.as_deref(), &y.name)));
        }
        Ok(())
    }

    /// The snapshot as stored, refused when its record would be larger than one
    /// record may be ([`MAX_RECORD_BYTES`], as `POST /v1/evaluate` enforces) or the
    /// whole snapshot larger than [`MAX_SNAPSHOT_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        let record = json_len(&self.record);
        if record > MAX_RECORD_BYTES {
            return Err(EventError::TooLarge {
                what: "record",
                bytes: record,
                limit: MAX_RECORD_BYTES,
            });
        }
        let bytes = serde_json::to_vec(self)
            .map_err(|e| invalid("data", format!("the snapshot cannot be stored: {e}")))?;
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(EventError::TooLarge {
                what: "stored snapshot (record, part versions and incidents)",
                bytes: bytes.len(),
                limit: MAX_SNAPSHOT_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Drop every part (and incident) older than the withdrawal at `v`.
    pub(super) fn withdraw(&mut self, v: &Version) {
        let old: Vec<String> = self
            .versions
            .iter()
            .filter(|(_, ver)| *ver < v)
            .map(|(k, _)| k.clone())
            .collect();
        for part in old {
            self.versions.remove(&part);
            let r = &mut self.record;
            match part.as_str() {
                "profile" => {
                    (
                        r.as_of,
                        r.school_id,
                        r.grade_level,
                        r.gpa,
                        r.programs,
                        r.extra,
                    ) = (None, None, None, None, None, None);
                    r.reporting = None;
                }
                "attendance" => r.attendance = None,
                "sel" => r.sel = None,
                "behavior" => self.behavior_base = None,
                p => {
                    if let Some(id) = p.strip_prefix("course:") {
                        if let Some(list) = r.courses.as_mut() {
                            list.retain(|c| c.course_id != id);
                        }
                    } else if let (true, Some(list)) =
                        (p.starts_with("assessment:"), r.assessments.as_mut())
                    {
                        list.retain(|a| assessment_key(a) != p);
                    }
                }
            }
        }
        self.incidents.retain(|id, (at, _)| {
            Version {
                at: at.clone(),
                event_id: id.clone(),
            } > *v
        });
        if self.record.courses.as_ref().is_some_and(Vec::is_empty)
            && !self.versions.contains_key("courses")
        {
            self.record.courses = None;
        }
        if self.record.assessments.as_ref().is_some_and(Vec::is_empty)
            && !self.versions.contains_key("assessments")
        {
            self.record.assessments = None;
        }
        self.withdrawn = Some(v.clone());
    }

    /// A whole record: each part is replaced only where the snapshot is newer.
    pub(super) fn take_snapshot(&mut self, r: &Record, v: &Version) -> bool {
        let mut any = false;
        if self.claim("profile".into(), v) {
            let rec = &mut self.record;
            rec.as_of.clone_from(&r.as_of);
            rec.school_id.clone_from(&r.school_id);
            rec.grade_level = r.grade_level;
            rec.gpa = r.gpa;
            rec.programs.clone_from(&r.programs);
            rec.extra.clone_from(&r.extra);
            rec.reporting.clone_from(&r.reporting);
            any = true;
        }
        if self.claim("attendance".into(), v) {
            self.record.attendance.clone_from(&r.attendance);
            any = true;
        }
        if self.claim("sel".into(), v) {
            self.record.sel.clone_from(&r.sel);
            any = true;
        }
        if self.claim("behavior".into(), v) {
            self.behavior_base.clone_from(&r.behavior);
            any = true;
        }
        if self.claim("courses".into(), v) {
            any |= self.merge_list(
                v,
                r.courses.as_deref(),
                |c: &Course| format!("course:{}", c.course_id),
                |rec| &mut rec.courses,
            );
        }
        if self.claim("assessments".into(), v) {
            any |= self.merge_list(v, r.assessments.as_deref(), assessment_key, |rec| {
                &mut rec.assessments
            });
        }
        any
    }

    /// Items of a list section from a snapshot: newer items replace, older items
    /// absent from the snapshot are dropped.
    fn merge_list<T: Clone>(
        &mut self,
        v: &Version,
        items: Option<&[T]>,
        key: impl Fn(&T) -> String,
        list: impl Fn(&mut Record) -> &mut Option<Vec<T>>,
    ) -> bool {
        let mut any = false;
        let incoming: Vec<(String, &T)> = items
            .unwrap_or_default()
            .iter()
            .map(|i| (key(i), i))
            .collect();
        let current = list(&mut self.record).take().unwrap_or_default();
        let mut kept = Vec::new();
        for item in current {
            let k = key(&item);
            let older = self.versions.get(&k).is_none_or(|cur| cur < v);
            if older && !incoming.iter().any(|(ik, _)| *ik == k) {
                self.versions.insert(k, v.clone());
                any = true;
                continue; // removed by the newer snapshot
            }
            kept.push(item);
        }
        for (k, item) in incoming {
            if self.claim(k.clone(), v) {
                upsert(&mut kept, item.clone(), |x| key(x) == k);
                any = true;
            }
        }
        if items.is_some() || !kept.is_empty() {
            *list(&mut self.record) = Some(kept);
        }
        any
    }

    /// Behavior = baseline from the last snapshot + incidents after it. Incidents the
    /// baseline already covers are dropped (they never count again: the baseline
    /// only moves forward, and a withdrawal drops them too). Counts never pass
    /// [`MAX_BEHAVIOR_COUNT`].
    fn recount_behavior(&mut self) -> Result<(), EventError> {
        let since = self.versions.get("behavior").map(|v| v.at.clone());
        if let Some(s) = &since {
            self.incidents.retain(|_, (at, _)| &*at > s);
        }
        let mut b = self.behavior_base.clone().unwrap_or_default();
        check_counts(&b, "behavior")?;
        let mut any = self.behavior_base.is_some();
        for (_, i) in self.incidents.values() {
            any = true;
            if i.referral {
                bump(&mut b.office_referrals, "office_referrals")?;
            }
            match i.suspension {
                Suspension::InSchool => {
                    bump(&mut b.suspensions_in_school, "suspensions_in_school")?
                }
                Suspension::OutOfSchool => bump(
                    &mut b.suspensions_out_of_school,
                    "suspensions_out_of_school",
                )?,
                Suspension::None => {}
            }
        }
        self.record.behavior = any.then_some(b);
        Ok(())
    }
}

pub(super) fn upsert<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
    match list.iter_mut().find(|x| same(x)) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot whose record passes the record limit cannot be stored.
    #[test]
    fn a_snapshot_over_the_record_limit_cannot_be_encoded() {
        let mut s = Snapshot::new("S1");
        s.record.extra = Some(BTreeMap::from([(
            "notes".to_string(),
            serde_json::json!("x".repeat(MAX_RECORD_BYTES)),
        )]));
        assert!(matches!(
            s.encode(),
            Err(EventError::TooLarge { what: "record", .. })
        ));
    }

    /// One screener name with a reading and a math result on the same day: the
    /// identity of a result left out the subject, so the math result replaced the
    /// reading one and the reading rules stopped firing.
    #[test]
    fn a_screeners_reading_and_math_results_of_one_day_are_both_kept() {
        use crate::record::Subject;
        let result = |subject, percentile| Assessment {
            name: "MAP Growth".into(),
            subject,
            percentile: Some(percentile),
            date: Some("2026-09-20".into()),
        };
        let mut r = Record::empty("S1");
        r.assessments = Some(vec![
            result(Subject::Reading, 5.0),
            result(Subject::Math, 15.0),
        ]);
        let v = Version {
            at: "2026-11-20T08:00:00.000000000Z".into(),
            event_id: "import:1".into(),
        };
        let mut s = Snapshot::new("S1");
        assert!(s.take_snapshot(&r, &v));
        assert_eq!(s.record.assessments, r.assessments, "both results are kept");
    }
}

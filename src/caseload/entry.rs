//! The caseload entry of one student: what their latest decision says (school,
//! grade, tiers, flags, recommended interventions, the decision's `seq` and `hash`)
//! and the review state of each flag.
//!
//! An entry is built from a `decision` audit entry's payload alone, so the live
//! index and a rebuild from the log build the same thing. School and grade are read
//! from the payload's top level (`school_id`, `grade_level`) when the decision
//! writer puts them there, else from the kept `record` (present only when a rule
//! reads them and the privacy policy keeps them); a masked value counts as absent.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::CaseloadError;
use super::plans::PlanMark;
use crate::record::privacy::MASKED;
use crate::rules::Domain;

/// Where a flag stands with the school's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Unreviewed,
    Confirmed,
    Dismissed,
    Deferred,
}

impl ReviewState {
    /// The names a query accepts, in order.
    pub const NAMES: [&'static str; 4] = ["unreviewed", "confirmed", "dismissed", "deferred"];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Unreviewed => "unreviewed",
            ReviewState::Confirmed => "confirmed",
            ReviewState::Dismissed => "dismissed",
            ReviewState::Deferred => "deferred",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewState> {
        [
            ReviewState::Unreviewed,
            ReviewState::Confirmed,
            ReviewState::Dismissed,
            ReviewState::Deferred,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What a reviewer did with a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Confirm,
    Dismiss,
    Defer,
}

impl Action {
    /// The names a review request accepts.
    pub const NAMES: [&'static str; 3] = ["confirm", "dismiss", "defer"];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Confirm => "confirm",
            Action::Dismiss => "dismiss",
            Action::Defer => "defer",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [Action::Confirm, Action::Dismiss, Action::Defer]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    /// The state a flag is in after this action.
    pub fn state(self) -> ReviewState {
        match self {
            Action::Confirm => ReviewState::Confirmed,
            Action::Dismiss => ReviewState::Dismissed,
            Action::Defer => ReviewState::Deferred,
        }
    }
}

/// A person's review of one flag, as it stands on the flag it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagReview {
    pub action: Action,
    /// The reviewer (the review entry's actor).
    pub reviewer: String,
    /// When the review was logged (the review entry's `at`, RFC 3339).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last day the review holds (inclusive); `None`: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// The `decision.reviewed` entry.
    pub review_seq: u64,
    /// The decision the review was made on (a purge of it ends the review).
    pub decision_seq: u64,
    /// The highest tier the review covers (see [`super::carry`]).
    pub tier: u8,
}

impl FlagReview {
    /// Whether the review still holds on `day` (its `until` is that day or later).
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.until.is_none_or(|u| day <= u)
    }

    /// The state this review gives its flag on `day`: its action's while it holds,
    /// unreviewed once its `until` has passed.
    pub fn state_on(&self, day: NaiveDate) -> ReviewState {
        if self.in_force_on(day) {
            self.action.state()
        } else {
            ReviewState::Unreviewed
        }
    }
}

/// One flag of the latest decision and its review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagEntry {
    pub rule_id: String,
    pub domain: Domain,
    pub tier: u8,
    /// When the flag started firing without a break (`evaluated_at` of the first
    /// decision of the run): how long it has been waiting for a person.
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<FlagReview>,
}

impl FlagEntry {
    /// The flag's review state on `today`: a review whose `until` has passed no
    /// longer counts, so the flag is unreviewed again.
    pub fn state_on(&self, today: NaiveDate) -> ReviewState {
        self.review
            .as_ref()
            .map_or(ReviewState::Unreviewed, |r| r.state_on(today))
    }
}

/// An intervention the latest decision recommends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommended {
    pub intervention: String,
    pub tier: u8,
    /// The domain of the first flag that recommends it (`None` when no flag of the
    /// decision names it, which a well-formed decision never has).
    pub domain: Option<Domain>,
    /// The rule ids that recommend it.
    pub because: Vec<String>,
}

/// The caseload entry of one student (the value of the `caseload` tree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEntry {
    pub student_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<i64>,
    /// Highest tier flagged per domain (0: nothing fired there).
    pub tiers: BTreeMap<Domain, u8>,
    pub highest_tier: u8,
    pub flags: Vec<FlagEntry>,
    pub interventions: Vec<Recommended>,
    pub decision_seq: u64,
    pub decision_hash: String,
    pub decision_id: String,
    pub evaluated_at: String,
    /// The audit entry that last changed this entry (a decision or a review).
    pub updated_seq: u64,
    /// Per domain, when the student's current tier there began (`evaluated_at` of
    /// the first decision of the run at that tier): `student.history.<domain>.weeks_at_tier`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tier_since: BTreeMap<Domain, String>,
    /// The student's open plans (see [`super::plans`]), in plan id order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanMark>,
}

impl CaseEntry {
    /// The tier of `domain` (0 when nothing fired there).
    pub fn tier_in(&self, domain: Domain) -> u8 {
        self.tiers.get(&domain).copied().unwrap_or(0)
    }

    /// The flag of rule `rule_id`, if it fired.
    pub fn flag(&self, rule_id: &str) -> Option<&FlagEntry> {
        self.flags.iter().find(|f| f.rule_id == rule_id)
    }

    /// The history facts rules read (`student.history.<domain>.prev_tier` and
    /// `.weeks_at_tier`, paths after `student.`) for a new evaluation on `as_of`:
    /// this entry's tier per domain and the whole weeks since it began (0 when
    /// `as_of` is earlier). A domain without a readable start gives no weeks.
    pub fn history_facts(&self, as_of: NaiveDate) -> Vec<(String, crate::record::Value)> {
        use crate::record::Value;
        let mut out = Vec::new();
        for (domain, tier) in &self.tiers {
            let d = domain.as_str();
            out.push((
                format!("history.{d}.prev_tier"),
                Value::Int(i64::from(*tier)),
            ));
            if let Some(since) = self.tier_since.get(domain).and_then(|s| day_of(s)) {
                let weeks = ((as_of - since).num_days() / 7).max(0);
                out.push((format!("history.{d}.weeks_at_tier"), Value::Int(weeks)));
            }
        }
        out
    }

    /// The day of `evaluated_at` (`None` when it is not RFC 3339).
    pub fn evaluated_on(&self) -> Option<NaiveDate> {
        day_of(&self.evaluated_at)
    }

    /// Build the entry of a `decision` audit entry (`seq`, `hash`, `payload`); every
    /// flag starts unreviewed.
    pub fn from_decision(
        seq: u64,
        hash: &str,
        payload: &serde_json::Value,
    ) -> Result<CaseEntry, CaseloadError> {
        let p = Payload::deserialize(payload).map_err(|source| CaseloadError::Payload {
            seq,
            kind: "decision".into(),
            source,
        })?;
        Ok(p.into_entry(seq, hash))
    }

    /// [`CaseEntry::from_decision`] from the payload's JSON text (a rebuild reads
    /// the log's bytes without building a JSON tree first).
    pub fn from_decision_json(
        seq: u64,
        hash: &str,
        json: &str,
    ) -> Result<CaseEntry, CaseloadError> {
        let p: Payload = serde_json::from_str(json).map_err(|source| CaseloadError::Payload {
            seq,
            kind: "decision".into(),
            source,
        })?;
        Ok(p.into_entry(seq, hash))
    }
}

/// The UTC day of an RFC 3339 time.
pub fn day_of(rfc3339: &str) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc).date_naive())
}

/// What the caseload reads of a decision payload (the rest is skipped unparsed).
#[derive(Deserialize)]
struct Payload {
    student_id: String,
    #[serde(default)]
    school_id: Option<serde_json::Value>,
    #[serde(default)]
    grade_level: Option<serde_json::Value>,
    #[serde(default)]
    record: Option<RecordPart>,
    decision: DecisionPart,
}

#[derive(Deserialize)]
struct RecordPart {
    #[serde(default)]
    school_id: Option<serde_json::Value>,
    #[serde(default)]
    grade_level: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct DecisionPart {
    decision_id: String,
    evaluated_at: String,
    flags: Vec<FlagPart>,
    recommendations: Vec<RecommendationPart>,
    tiers: BTreeMap<Domain, u8>,
}

#[derive(Deserialize)]
struct FlagPart {
    rule_id: String,
    domain: Domain,
    tier: u8,
}

#[derive(Deserialize)]
struct RecommendationPart {
    intervention: String,
    tier: u8,
    because: Vec<String>,
}

impl Payload {
    fn into_entry(self, seq: u64, hash: &str) -> CaseEntry {
        let (rec_school, rec_grade) = match self.record {
            Some(r) => (r.school_id, r.grade_level),
            None => (None, None),
        };
        let school = self.school_id.or(rec_school).and_then(|v| match v {
            serde_json::Value::String(s) if s != MASKED => Some(s),
            _ => None,
        });
        let grade = self.grade_level.or(rec_grade).and_then(|v| v.as_i64());
        let d = self.decision;
        let flags: Vec<FlagEntry> = d
            .flags
            .into_iter()
            .map(|f| FlagEntry {
                rule_id: f.rule_id,
                domain: f.domain,
                tier: f.tier,
                since: d.evaluated_at.clone(),
                review: None,
            })
            .collect();
        let interventions = recommended(d.recommendations, &flags);
        let tier_since = d
            .tiers
            .keys()
            .map(|dom| (*dom, d.evaluated_at.clone()))
            .collect();
        CaseEntry {
            student_id: self.student_id,
            school,
            grade,
            highest_tier: d.tiers.values().copied().max().unwrap_or(0),
            tiers: d.tiers,
            flags,
            interventions,
            decision_seq: seq,
            decision_hash: hash.to_string(),
            decision_id: d.decision_id,
            evaluated_at: d.evaluated_at,
            updated_seq: seq,
            tier_since,
            plans: Vec::new(),
        }
    }
}

/// The recommendations, each with the domain of the first flag that names it.
fn recommended(recs: Vec<RecommendationPart>, flags: &[FlagEntry]) -> Vec<Recommended> {
    recs.into_iter()
        .map(|r| Recommended {
            domain: r
                .because
                .iter()
                .find_map(|b| flags.iter().find(|f| &f.rule_id == b).map(|f| f.domain)),
            intervention: r.intervention,
            tier: r.tier,
            because: r.because,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A decision payload shaped like the decision writer's (see
    /// `audit::decision`), with flags given as `(rule, domain, tier)`.
    pub(crate) fn payload(
        student: &str,
        at: &str,
        flags: &[(&str, &str, u8)],
    ) -> serde_json::Value {
        let mut tiers =
            json!({"attendance": 0, "academic": 0, "behavioral": 0, "social_emotional": 0});
        for (_, d, t) in flags {
            let cur = tiers[*d].as_u64().unwrap_or(0);
            tiers[*d] = json!(cur.max(u64::from(*t)));
        }
        json!({
            "student_id": student,
            "decision_id": "01J",
            "ruleset_version": "sha256:x",
            "rule_ids": flags.iter().map(|f| f.0).collect::<Vec<_>>(),
            "source": {"kind": "api"},
            "record_sha256": "ab",
            "record": {"student_id": student, "school_id": "SCH-1", "grade_level": 9},
            "decision": {
                "decision_id": "01J", "student_id": student, "evaluated_at": at,
                "ruleset_version": "sha256:x",
                "flags": flags.iter().map(|(r, d, t)| json!({
                    "rule_id": r, "domain": d, "tier": t, "explanation": "e", "inputs": {}
                })).collect::<Vec<_>>(),
                "recommendations": flags.iter().map(|(r, _, t)| json!({
                    "intervention": format!("{r}-help"), "tier": t, "because": [r]
                })).collect::<Vec<_>>(),
                "tiers": tiers, "insufficient_data": [], "rule_errors": []
            }
        })
    }

    #[test]
    fn an_entry_holds_what_the_decision_says() {
        let p = payload(
            "S1",
            "2026-11-20T10:00:00.000Z",
            &[
                ("chronic-absence", "attendance", 2),
                ("failing", "academic", 3),
            ],
        );
        let e = CaseEntry::from_decision(7, "h7", &p).unwrap();
        assert_eq!(e.student_id, "S1");
        assert_eq!(e.school.as_deref(), Some("SCH-1"));
        assert_eq!(e.grade, Some(9));
        assert_eq!(e.highest_tier, 3);
        assert_eq!(e.tier_in(Domain::Attendance), 2);
        assert_eq!(e.tier_in(Domain::Behavioral), 0);
        assert_eq!((e.decision_seq, e.decision_hash.as_str()), (7, "h7"));
        assert_eq!(e.interventions[1].domain, Some(Domain::Academic));
        assert!(e.flags.iter().all(|f| f.review.is_none()));
        assert_eq!(e.evaluated_on(), NaiveDate::from_ymd_opt(2026, 11, 20));
    }

    #[test]
    fn a_top_level_school_wins_and_a_masked_one_is_absent() {
        let mut p = payload("S1", "2026-11-20T10:00:00.000Z", &[]);
        p["school_id"] = json!("SCH-9");
        p["grade_level"] = json!(-1);
        let e = CaseEntry::from_decision(1, "h", &p).unwrap();
        assert_eq!((e.school.as_deref(), e.grade), (Some("SCH-9"), Some(-1)));
        p["school_id"] = json!(MASKED);
        let e = CaseEntry::from_decision(1, "h", &p).unwrap();
        assert_eq!(e.school, None);
    }

    #[test]
    fn a_payload_without_a_decision_is_an_error_naming_the_entry() {
        let err = CaseEntry::from_decision(5, "h", &json!({"student_id": "S"})).unwrap_err();
        assert!(
            err.to_string().starts_with("audit entry 5 (`decision`)"),
            "{err}"
        );
    }

    #[test]
    fn an_expired_review_leaves_the_flag_unreviewed() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let mut f = FlagEntry {
            rule_id: "r".into(),
            domain: Domain::Academic,
            tier: 2,
            since: "2026-12-01T00:00:00Z".into(),
            review: None,
        };
        assert_eq!(f.state_on(day(1)), ReviewState::Unreviewed);
        f.review = Some(FlagReview {
            action: Action::Dismiss,
            reviewer: "c".into(),
            at: "2026-12-01T00:00:00Z".into(),
            reason: Some("hospital stay".into()),
            until: Some(day(10)),
            review_seq: 3,
            decision_seq: 2,
            tier: 2,
        });
        assert_eq!(f.state_on(day(10)), ReviewState::Dismissed);
        assert_eq!(f.state_on(day(11)), ReviewState::Unreviewed);
    }
}

//! What the audit log keeps of a record (`privacy.yaml` in the rule set).
//!
//! A decision entry keeps only the record sections the rules read
//! ([`Record::project`]) plus the SHA-256 of the whole record. The privacy policy
//! narrows that further, per field: `keep` (the default) stores the value, `mask`
//! stores [`MASKED`] in its place (the log shows the field was there, not what it
//! was), and `hash` stores `sha256:<hex>` of the value's JSON (a reviewer holding
//! the value can show it is the one used; nobody can read it back — unless the
//! field has few possible values, which is why the loader warns about hashing
//! yes/no, numeric, choice and date fields).
//!
//! The decision itself is never altered: its flags keep the inputs they used, so
//! "why was this student flagged" stays answerable.
//!
//! [`file`](mod@file) decodes the rule set's `privacy.yaml` into a [`Policy`].

pub mod file;

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Record;
use super::facts::FieldRef;

/// What a masked field holds in the audit log.
pub const MASKED: &str = "[masked]";

/// One field's treatment in the audit log.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Keep,
    Mask,
    Hash,
}

impl Action {
    pub const NAMES: [&'static str; 3] = ["keep", "mask", "hash"];

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "keep" => Some(Action::Keep),
            "mask" => Some(Action::Mask),
            "hash" => Some(Action::Hash),
            _ => None,
        }
    }
}

/// What kind of values a record field holds (decides whether a hash hides it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A whole section (`sel`, `courses`, …).
    Section,
    /// Free text or an identifier: a hash hides it.
    Text,
    Number,
    YesNo,
    /// One of a few fixed words (a subject, a letter grade).
    Choice,
    Date,
    /// `extra.<key>`: the district's own data, any JSON.
    Custom,
}

/// Why hashing the field at `path` does not hide it; `None` when it does (text, the
/// district's own fields, and sections holding text).
pub fn hash_weakness(path: &str) -> Option<&'static str> {
    match field_kind(path)? {
        FieldKind::Text | FieldKind::Custom => None,
        FieldKind::YesNo => Some("it is yes/no: anyone can hash `true` and `false` and compare"),
        FieldKind::Number => {
            Some("it is a number with few likely values: trying them all reverses the hash")
        }
        FieldKind::Choice => Some("it has few possible values: trying them all reverses the hash"),
        FieldKind::Date => Some("it is a date: trying every day of a few years reverses the hash"),
        FieldKind::Section => {
            let mut inside = FIELDS
                .iter()
                .filter(|(p, _)| p.strip_prefix(path).is_some_and(|r| r.starts_with('.')));
            (!inside.any(|(_, k)| *k == FieldKind::Text)).then_some(
                "its fields are numbers or yes/no with few likely values: trying them all reverses the hash",
            )
        }
    }
}

/// Every record field a policy can name (after `student.`; lists apply to each item).
/// `student_id` is absent on purpose: the log finds a student's decisions by it.
pub const FIELDS: &[(&str, FieldKind)] = &[
    ("as_of", FieldKind::Date),
    ("school_id", FieldKind::Text),
    ("grade_level", FieldKind::Number),
    ("attendance", FieldKind::Section),
    ("attendance.days_enrolled", FieldKind::Number),
    ("attendance.days_present", FieldKind::Number),
    ("attendance.unexcused_absences", FieldKind::Number),
    ("attendance.tardies", FieldKind::Number),
    ("courses", FieldKind::Section),
    ("courses.course_id", FieldKind::Text),
    ("courses.title", FieldKind::Text),
    ("courses.subject", FieldKind::Choice),
    ("courses.grade_pct", FieldKind::Number),
    ("courses.letter", FieldKind::Choice),
    ("courses.credits", FieldKind::Number),
    ("gpa", FieldKind::Number),
    ("assessments", FieldKind::Section),
    ("assessments.name", FieldKind::Text),
    ("assessments.subject", FieldKind::Choice),
    ("assessments.percentile", FieldKind::Number),
    ("assessments.date", FieldKind::Date),
    ("behavior", FieldKind::Section),
    ("behavior.office_referrals", FieldKind::Number),
    ("behavior.suspensions_in_school", FieldKind::Number),
    ("behavior.suspensions_out_of_school", FieldKind::Number),
    ("sel", FieldKind::Section),
    ("sel.screener", FieldKind::Text),
    ("sel.t_score", FieldKind::Number),
    ("sel.date", FieldKind::Date),
    ("programs", FieldKind::Section),
    ("programs.ell", FieldKind::YesNo),
    ("programs.iep", FieldKind::YesNo),
    ("programs.section_504", FieldKind::YesNo),
];

/// Fields no fact is computed from: masking or hashing them leaves replay possible.
const CONTEXT_ONLY: [&str; 4] = [
    "courses.course_id",
    "courses.title",
    "courses.letter",
    "assessments.name",
];

/// The kind of the field at `path` (`sel.t_score`, `extra.house`), if a record has it.
pub fn field_kind(path: &str) -> Option<FieldKind> {
    if let Some(key) = path.strip_prefix("extra.") {
        return (!key.is_empty() && !key.contains('.')).then_some(FieldKind::Custom);
    }
    FIELDS.iter().find(|(p, _)| *p == path).map(|(_, k)| *k)
}

/// Whether rules reading `fields` read the section of the field at `path`, so the
/// log keeps it ([`Record::project`]): for `extra.<key>`, whether they read that key.
pub fn section_read(path: &str, fields: &[FieldRef]) -> bool {
    match path.strip_prefix("extra.") {
        Some(key) => fields
            .iter()
            .any(|f| matches!(f, FieldRef::Extra(k) if k == key)),
        None => fields
            .iter()
            .any(|f| super::kept_section(f) == Some(section_of(path))),
    }
}

/// The section a field belongs to (`sel` for `sel.t_score`, `gpa` for `gpa`).
pub fn section_of(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// A rule set's privacy policy: field path → what the log keeps. Fields it does not
/// name are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Policy {
    fields: BTreeMap<String, Action>,
}

impl Policy {
    /// Set `path`'s action (the loader has checked the path).
    pub fn set(&mut self, path: &str, action: Action) {
        self.fields.insert(path.to_string(), action);
    }

    /// True when the policy changes nothing (every field kept).
    pub fn keeps_everything(&self) -> bool {
        self.fields.values().all(|a| *a == Action::Keep)
    }

    pub fn fields(&self) -> &BTreeMap<String, Action> {
        &self.fields
    }

    /// Masked or hashed fields that rules reading `fields` may evaluate: a decision
    /// logged under this policy cannot be re-evaluated from the log when any is
    /// listed.
    pub fn hidden_inputs(&self, fields: &[FieldRef]) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(path, action)| {
                **action != Action::Keep
                    && !CONTEXT_ONLY.contains(&path.as_str())
                    && section_read(path, fields)
            })
            .map(|(path, _)| path.as_str())
            .collect()
    }

    /// The record as the audit log keeps it: `record` (already projected to the
    /// sections the rules read) with every masked or hashed field replaced.
    pub fn apply(&self, record: &Record) -> serde_json::Value {
        // A record always serializes: string keys, finite numbers.
        let mut v = serde_json::to_value(record).unwrap_or(serde_json::Value::Null);
        for (path, action) in &self.fields {
            if *action != Action::Keep {
                apply_at(&mut v, path, *action);
            }
        }
        v
    }
}

fn apply_at(root: &mut serde_json::Value, path: &str, action: Action) {
    let (section, field) = match path.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (path, None),
    };
    let Some(value) = root.get_mut(section) else {
        return;
    };
    match (field, value) {
        (None, v) => replace(v, action),
        (Some(f), serde_json::Value::Array(items)) => {
            for item in items {
                if let Some(v) = item.get_mut(f) {
                    replace(v, action);
                }
            }
        }
        (Some(f), v) => {
            if let Some(v) = v.get_mut(f) {
                replace(v, action);
            }
        }
    }
}

fn replace(v: &mut serde_json::Value, action: Action) {
    *v = match action {
        Action::Keep => return,
        Action::Mask => serde_json::Value::String(MASKED.to_string()),
        Action::Hash => serde_json::Value::String(hash_value(v)),
    };
}

/// `sha256:<hex>` of a value's JSON (object keys sorted, as the log writes them).
pub fn hash_value(v: &serde_json::Value) -> String {
    // Serializing a Value into a Vec cannot fail.
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse_record;

    fn record() -> Record {
        parse_record(
            r#"{"student_id":"S1","school_id":"SCH-1",
                "courses":[{"course_id":"C1","title":"Algebra I","grade_pct":55},
                           {"course_id":"C2","title":"Biology","grade_pct":81}],
                "sel":{"screener":"DESSA-mini","t_score":38},
                "programs":{"ell":true,"iep":false,"section_504":false},
                "extra":{"house":"Gryffindor"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn masked_and_hashed_fields_are_replaced_in_every_list_item_and_the_rest_is_kept() {
        let mut p = Policy::default();
        p.set("courses.title", Action::Hash);
        p.set("sel.screener", Action::Mask);
        p.set("programs", Action::Mask);
        p.set("extra.house", Action::Mask);
        p.set("gpa", Action::Mask); // absent from the record: stays absent
        let v = p.apply(&record());
        assert_eq!(v["courses"][0]["title"], hash_value(&"Algebra I".into()));
        assert_eq!(v["courses"][1]["title"], hash_value(&"Biology".into()));
        assert_eq!(v["courses"][0]["grade_pct"], 55.0);
        assert_eq!(v["sel"]["screener"], MASKED);
        assert_eq!(v["sel"]["t_score"], 38.0);
        assert_eq!(v["programs"], MASKED);
        assert_eq!(v["extra"]["house"], MASKED);
        assert_eq!(v["student_id"], "S1");
        assert_eq!(v["school_id"], "SCH-1");
        assert!(v.get("gpa").is_none());
    }

    #[test]
    fn hashing_warns_where_trying_every_value_reverses_it() {
        for weak in [
            "programs",
            "programs.iep",
            "attendance",
            "behavior",
            "gpa",
            "sel.date",
        ] {
            assert!(hash_weakness(weak).is_some(), "{weak}");
        }
        for strong in [
            "courses",
            "sel",
            "assessments",
            "courses.title",
            "school_id",
            "extra.house",
        ] {
            assert!(hash_weakness(strong).is_none(), "{strong}");
        }
    }

    #[test]
    fn as_of_hidden_blocks_replay_only_when_a_rule_reads_it() {
        use crate::record::facts::FieldRef;
        let mut p = Policy::default();
        p.set("as_of", Action::Mask);
        let gpa = FieldRef::resolve("gpa").expect("gpa");
        let as_of = FieldRef::resolve("as_of").expect("as_of");
        assert!(p.hidden_inputs(std::slice::from_ref(&gpa)).is_empty());
        assert_eq!(p.hidden_inputs(&[gpa, as_of]), ["as_of"]);
    }

    #[test]
    fn the_hash_of_a_value_is_sha256_of_its_json() {
        // What an auditor recomputes: sha256 of `"Algebra I"` with its quotes.
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(br#""Algebra I""#)));
        assert_eq!(hash_value(&"Algebra I".into()), expected);
    }

    #[test]
    fn every_field_a_policy_can_name_is_a_field_of_a_full_record() {
        let full = parse_record(
            r#"{"student_id":"S1","as_of":"2026-11-20","school_id":"HS-01","grade_level":9,
                "attendance":{"days_enrolled":64,"days_present":54,"unexcused_absences":7,"tardies":3},
                "courses":[{"course_id":"ALG1","title":"Algebra I","subject":"math","grade_pct":55.0,"letter":"F","credits":1.0}],
                "gpa":1.9,
                "assessments":[{"name":"MAP","subject":"reading","percentile":18,"date":"2026-10-01"}],
                "behavior":{"office_referrals":3,"suspensions_in_school":0,"suspensions_out_of_school":1},
                "sel":{"screener":"DESSA-mini","t_score":38,"date":"2026-10-15"},
                "programs":{"ell":true,"iep":false,"section_504":false}}"#,
        )
        .unwrap();
        let v = serde_json::to_value(&full).unwrap();
        for (path, _) in FIELDS {
            let found = match path.split_once('.') {
                None => v.get(*path).is_some(),
                Some((section, field)) => match &v[section] {
                    serde_json::Value::Array(items) => items[0].get(field).is_some(),
                    s => s.get(field).is_some(),
                },
            };
            assert!(found, "{path} is not a field of a record");
        }
        // And a record has no field the list misses (besides the key and `extra`).
        let mut named = 0;
        for (section, value) in v.as_object().unwrap() {
            if section == "student_id" {
                continue;
            }
            named += 1;
            let item = value.as_array().map_or(value, |a| &a[0]);
            if let Some(fields) = item.as_object() {
                named += fields.len();
            }
        }
        assert_eq!(named, FIELDS.len());
    }
}

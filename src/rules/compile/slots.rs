//! Scope slots: every student field the rules read and every param gets a numbered
//! variable (`_s{i}`, `_p{i}`), so a condition reads its inputs by index.

use crate::record::facts::FieldRef;
use crate::rules::check::{Catalogues, CheckedRule};

/// The scope slots: slot `i` of `fields` is variable `_s{i}`, of `params` `_p{i}`.
#[derive(Debug)]
pub struct Slots {
    /// Student fields the rules read, in order of first use: record fields first,
    /// then plan and history facts (from [`Slots::first_history`] on), so an
    /// evaluation without history computes only the record's.
    pub fields: Vec<FieldRef>,
    /// The first slot of a plan or history fact (`fields.len()` when none).
    pub first_history: usize,
    /// Every param, in name order.
    pub params: Vec<String>,
}

impl Slots {
    /// Give every student field read by any rule, and every param, a slot.
    pub fn assign(rules: &[CheckedRule], cats: &Catalogues) -> Slots {
        let mut fields: Vec<FieldRef> = Vec::new();
        for f in rules.iter().flat_map(|r| &r.condition.reads) {
            if !fields.contains(f) {
                fields.push(f.clone());
            }
        }
        let is_history =
            |f: &FieldRef| matches!(f, FieldRef::Plan { .. } | FieldRef::History { .. });
        let (mut fields, history): (Vec<FieldRef>, Vec<FieldRef>) =
            fields.into_iter().partition(|f| !is_history(f));
        let first_history = fields.len();
        fields.extend(history);
        Slots {
            fields,
            first_history,
            params: cats.params.keys().cloned().collect(),
        }
    }

    /// The slot of field `f`.
    pub fn field(&self, f: &FieldRef) -> Option<usize> {
        self.fields.iter().position(|s| s == f)
    }

    /// The slot of param `name`.
    pub fn param(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|n| n == name)
    }
}

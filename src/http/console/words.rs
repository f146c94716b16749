//! A rule's condition in words, for counselors: "absence rate ≥ 10% and < 20%",
//! "office referrals ≥ 2 and ≤ 5", "academic plan: plan active and plan tier = 2 and
//! weeks active ≥ 6 and …".
//!
//! Read from the compiled condition (its native comparisons, see
//! [`crate::rules::native`]), not from its text: fields by their plain-language
//! labels of [`crate::record::facts`], params at their current values in the rule set
//! (so the page shows "10%", not `params.chronic_absence_rate`), rates as percentages.
//! A condition that is not only threshold comparisons and yes/no facts joined by `&&`
//! and `||` (a helper function, arithmetic, two fields compared with each other) has
//! no words: [`condition_words`] returns `None` and the page shows the condition as
//! written. The words hold catalogue labels, numbers and plan keys only, but a page
//! escapes them like any other text.

use crate::record::facts::{FieldRef, human_number};
use crate::rules::native::{Native, Op, Operand};
use crate::rules::template::display_number;
use crate::rules::{Rule, RuleSet};

/// The condition of `rule` in words, with the params at their values in `rules`
/// (the set the rule belongs to); `None` when the condition is not only threshold
/// comparisons and yes/no facts.
///
/// Comparisons joined by `&&` read "and", by `||` "or", a group inside another in
/// parentheses; two comparisons of one field in a row read as a range ("absence rate
/// ≥ 10% and < 20%"). Counts read with `≥` and `≤` (`< 6` is "≤ 5"; `≥ 1 and < 2` is
/// "= 1"). When every field read is a fact of one plan, the plan is named once in
/// front ("academic plan: weeks active ≥ 6"); otherwise each plan fact carries its
/// plan ("weeks active (academic plan)").
pub fn condition_words(rule: &Rule, rules: &RuleSet) -> Option<String> {
    let term = term(rule.native()?, rules)?;
    let mut fields = Vec::new();
    term.fields(&mut fields);
    let plan_key = one_plan_key(&fields);
    let labels = Labels {
        bare_plan_facts: plan_key.is_some(),
    };
    let text = labels.render(&term, false);
    Some(match plan_key {
        Some(key) => format!("{} plan: {text}", key.replace('_', " ")),
        None => text,
    })
}

/// A condition as the words read it: fields resolved, params at their values.
#[derive(Debug, Clone, PartialEq)]
enum Term<'r> {
    /// `field op value`, with the field on the left.
    Cmp(&'r FieldRef, Op, f64),
    /// A yes/no fact that must be `yes` (or `no`).
    Flag(&'r FieldRef, bool),
    All(Vec<Term<'r>>),
    Any(Vec<Term<'r>>),
}

impl<'r> Term<'r> {
    fn fields(&self, out: &mut Vec<&'r FieldRef>) {
        match self {
            Term::Cmp(f, ..) | Term::Flag(f, _) => out.push(f),
            Term::All(ts) | Term::Any(ts) => ts.iter().for_each(|t| t.fields(out)),
        }
    }
}

/// The plan key when every field is a fact of that one plan.
fn one_plan_key<'r>(fields: &[&'r FieldRef]) -> Option<&'r str> {
    let mut key = None;
    for f in fields {
        match f {
            FieldRef::Plan { key: k, .. } if key.is_none_or(|seen| seen == k.as_str()) => {
                key = Some(k.as_str());
            }
            _ => return None,
        }
    }
    key
}

fn term<'r>(n: &Native, rules: &'r RuleSet) -> Option<Term<'r>> {
    match n {
        Native::All(xs) => xs
            .iter()
            .map(|x| term(x, rules))
            .collect::<Option<_>>()
            .map(Term::All),
        Native::Any(xs) => xs
            .iter()
            .map(|x| term(x, rules))
            .collect::<Option<_>>()
            .map(Term::Any),
        Native::Cmp(a, op, b) => comparison(*a, *op, *b, rules),
    }
}

fn comparison<'r>(a: Operand, op: Op, b: Operand, rules: &'r RuleSet) -> Option<Term<'r>> {
    let field = |i: usize| rules.fields_read().get(i);
    let number = |o: Operand| match o {
        Operand::Const(c) => Some(c),
        Operand::Param(i) => rules.params.get(rules.param_slot(i)?).map(|p| p.as_f64()),
        _ => None,
    };
    match (a, b) {
        (Operand::Slot(i), other) => cmp(field(i)?, op, number(other)?),
        (other, Operand::Slot(i)) => cmp(field(i)?, op.flipped(), number(other)?),
        (Operand::Flag(i), Operand::Bool(v)) | (Operand::Bool(v), Operand::Flag(i)) => match op {
            Op::Eq => Some(Term::Flag(field(i)?, v)),
            Op::Ne => Some(Term::Flag(field(i)?, !v)),
            _ => None,
        },
        _ => None,
    }
}

/// `field op value`, a count's bounds as `≥` / `≤` whole numbers.
fn cmp(field: &FieldRef, op: Op, value: f64) -> Option<Term<'_>> {
    if !value.is_finite() {
        return None;
    }
    let (op, value) = if field.is_whole_number() {
        match op {
            Op::Lt => (Op::Le, value.ceil() - 1.0),
            Op::Gt => (Op::Ge, value.floor() + 1.0),
            Op::Le => (Op::Le, value.floor()),
            Op::Ge => (Op::Ge, value.ceil()),
            Op::Eq | Op::Ne => (op, value),
        }
    } else {
        (op, value)
    };
    Some(Term::Cmp(field, op, value + 0.0))
}

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Lt => "<",
        Op::Le => "≤",
        Op::Gt => ">",
        Op::Ge => "≥",
        Op::Eq => "=",
        Op::Ne => "≠",
    }
}

struct Labels {
    /// Every field is a fact of one plan, named in front: plan facts by their bare
    /// labels.
    bare_plan_facts: bool,
}

impl Labels {
    fn label(&self, f: &FieldRef) -> String {
        match (f, f.spec()) {
            (FieldRef::Plan { .. }, Some(spec)) if self.bare_plan_facts => spec.label.to_string(),
            (FieldRef::Known(_), Some(spec)) => spec.label.to_string(),
            _ => f.label(),
        }
    }

    fn render(&self, t: &Term, nested: bool) -> String {
        let (parts, joiner) = match t {
            Term::Cmp(f, op, v) => return format!("{} {}", self.label(f), bound(f, *op, *v)),
            Term::Flag(f, true) => return self.label(f),
            Term::Flag(f, false) => return format!("{}: no", self.label(f)),
            Term::All(ts) => (self.ranges(ts), " and "),
            Term::Any(ts) => (ts.iter().map(|t| self.render(t, true)).collect(), " or "),
        };
        let text = parts.join(joiner);
        if nested && parts.len() > 1 {
            format!("({text})")
        } else {
            text
        }
    }

    /// The parts of an `&&` group, two comparisons of one field in a row as one range.
    fn ranges(&self, ts: &[Term]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < ts.len() {
            if let (Term::Cmp(f, op, v), Some(Term::Cmp(g, op2, v2))) = (&ts[i], ts.get(i + 1))
                && f == g
            {
                let label = self.label(f);
                out.push(match (op, op2) {
                    (Op::Ge, Op::Le) | (Op::Le, Op::Ge) if v == v2 => {
                        format!("{label} {}", bound(f, Op::Eq, *v))
                    }
                    _ => format!("{label} {} and {}", bound(f, *op, *v), bound(f, *op2, *v2)),
                });
                i += 2;
            } else {
                out.push(self.render(&ts[i], true));
                i += 1;
            }
        }
        out
    }
}

/// `≥ 10%`: the operator and the value, as a percentage for a rate.
fn bound(f: &FieldRef, op: Op, v: f64) -> String {
    let value = match f.spec() {
        Some(spec) => display_number(v, spec.percent),
        None => human_number(v),
    };
    format!("{} {value}", symbol(op))
}

#[cfg(test)]
#[path = "words_tests.rs"]
mod tests;

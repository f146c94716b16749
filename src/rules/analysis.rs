//! Band analysis: where on one indicator each threshold rule fires, and what that
//! says about the rules of a domain taken together.
//!
//! It reads the native comparisons the compile stage already built
//! ([`super::native`]), never the condition text: a rule is analysed when its
//! condition is one comparison, or comparisons joined by `&&`, of the same numeric
//! student field with params or numbers. Its region is then one interval, exact at
//! the ends (`>=` closed, `>` open). Anything else (`||`, `!=`, two fields, yes/no
//! facts, Rhai) is listed in [`super::RuleSet::not_analysed`] and never guessed at.
//!
//! Within a domain and indicator, among enabled risk rules, it warns of
//! - an **unreachable** rule: empty region, or outside the field's valid range;
//! - a **gap** between two neighbouring bands (values no band covers);
//! - a **shadowed** rule: its region lies inside the union of higher-tier regions;
//! - an **overlap** of two rules at different tiers.

use std::fmt;

use super::model::{BandFinding as Finding, Rule, RuleKind, RuleSet};
use super::native::{Native, Op, Operand};
use crate::record::facts::FieldRef;
use crate::record::ranges;
use crate::source::Diagnostic;

/// The warning kinds, as `allow:` names them.
pub const KINDS: [&str; 4] = ["gap", "overlap", "shadowed", "unreachable"];

/// One end of an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
struct End {
    at: f64,
    closed: bool,
}

/// An interval of one indicator's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    lo: End,
    hi: End,
}

impl Interval {
    const ALL: Interval = Interval {
        lo: End {
            at: f64::NEG_INFINITY,
            closed: false,
        },
        hi: End {
            at: f64::INFINITY,
            closed: false,
        },
    };

    /// Its lower and upper bounds and whether each is included.
    pub fn bounds(&self) -> ((f64, bool), (f64, bool)) {
        ((self.lo.at, self.lo.closed), (self.hi.at, self.hi.closed))
    }

    pub fn contains(&self, x: f64) -> bool {
        let above = x > self.lo.at || (self.lo.closed && x == self.lo.at);
        let below = x < self.hi.at || (self.hi.closed && x == self.hi.at);
        above && below
    }

    pub fn is_empty(&self) -> bool {
        self.lo.at > self.hi.at || (self.lo.at == self.hi.at && !(self.lo.closed && self.hi.closed))
    }

    fn intersect(&self, o: &Interval) -> Interval {
        let lo = if self.lo.at > o.lo.at || (self.lo.at == o.lo.at && !self.lo.closed) {
            self.lo
        } else {
            o.lo
        };
        let hi = if self.hi.at < o.hi.at || (self.hi.at == o.hi.at && !self.hi.closed) {
            self.hi
        } else {
            o.hi
        };
        Interval { lo, hi }
    }

    /// `x op c` as an interval of `x`; `None` for `!=`.
    fn of(op: Op, c: f64) -> Option<Interval> {
        let end = |closed| End { at: c, closed };
        let all = Interval::ALL;
        Some(match op {
            Op::Lt => Interval {
                hi: end(false),
                ..all
            },
            Op::Le => Interval {
                hi: end(true),
                ..all
            },
            Op::Gt => Interval {
                lo: end(false),
                ..all
            },
            Op::Ge => Interval {
                lo: end(true),
                ..all
            },
            Op::Eq => Interval {
                lo: end(true),
                hi: end(true),
            },
            Op::Ne => return None,
        })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |x: f64| {
            if x.is_infinite() {
                if x > 0.0 { "∞".into() } else { "-∞".into() }
            } else {
                format!("{x}")
            }
        };
        let open = if self.lo.closed { '[' } else { '(' };
        let close = if self.hi.closed { ']' } else { ')' };
        write!(f, "{open}{}, {}{close}", num(self.lo.at), num(self.hi.at))
    }
}

/// Where one rule fires: `slot`'s value in `region`.
#[derive(Debug, Clone, Copy)]
pub struct Band {
    pub slot: usize,
    pub region: Interval,
}

/// The rule's band, or `None` when its condition is not one the analysis reads.
/// `numeric(i)` says whether slot `i` holds a number; `param(i)` is param `i`'s value.
pub fn band(native: &Native, param: &dyn Fn(usize) -> f64) -> Option<Band> {
    let parts: Vec<&Native> = match native {
        Native::All(xs) => xs.iter().collect(),
        one => vec![one],
    };
    let mut slot = None;
    let mut region = Interval::ALL;
    for part in parts {
        let Native::Cmp(a, op, b) = part else {
            return None;
        };
        let value = |o: &Operand| match o {
            Operand::Param(i) => Some(param(*i)),
            Operand::Const(c) => Some(*c),
            _ => None,
        };
        let (s, op, c) = match (a, b) {
            (Operand::Slot(s), other) => (*s, *op, value(other)?),
            (other, Operand::Slot(s)) => (*s, op.flipped(), value(other)?),
            _ => return None,
        };
        if slot.is_some_and(|k| k != s) || !c.is_finite() {
            return None;
        }
        slot = Some(s);
        region = region.intersect(&Interval::of(op, c)?);
    }
    Some(Band {
        slot: slot?,
        region,
    })
}

/// The rule set's facts the analysis needs.
pub struct Inputs<'a> {
    pub rules: &'a [Rule],
    /// Field of each slot.
    pub slots: &'a [FieldRef],
    /// Value of each param slot.
    pub params: &'a [f64],
    /// File texts, for the quoted source line.
    pub files: &'a std::collections::BTreeMap<String, String>,
}

/// Every rule's band (`None`: not analysed), in rule order.
pub fn bands(rules: &[Rule], params: &[f64]) -> Vec<Option<Band>> {
    let param = |i: usize| params.get(i).copied().unwrap_or(f64::NAN);
    rules
        .iter()
        .map(|r| r.native().and_then(|n| band(n, &param)))
        .collect()
}

/// What the analysis found.
pub struct Report {
    /// Unreachable, shadowed and overlapping rules.
    pub warnings: Vec<Diagnostic>,
    /// Gaps between neighbouring bands (replaced by gaps against the active version
    /// where there is one: [`RuleSet::compare_bands`]).
    pub gaps: Vec<Diagnostic>,
    /// Ids of the rules it could not read.
    pub not_analysed: Vec<String>,
    /// The gaps and overlaps warned of, each with its indicator and interval.
    pub findings: Vec<Finding>,
}

/// The warnings of the analysis and the ids of the rules it could not read.
pub fn analyse(inp: &Inputs) -> Report {
    let bands = bands(inp.rules, inp.params);
    let mut out = Vec::new();
    let mut not_analysed = Vec::new();
    // A warning at the rule's condition, unless the rule allows its kind.
    let warn = |r: &Rule, kind: &str, message: String, hint: &str| {
        if r.allow.iter().any(|a| a == kind) {
            return None;
        }
        let (line, col) = r.when_at;
        let mut d = Diagnostic::warning(&r.file, line, col, message).hint(hint);
        // An inline condition is underlined whole; a block one at its start.
        if !r.when.contains('\n') {
            d = d.width(underline(inp.files.get(&r.file).map(|t| t.as_str()), r));
        }
        Some(match inp.files.get(&r.file) {
            Some(text) => d.with_source(text),
            None => d,
        })
    };
    let label = |slot: usize| {
        inp.slots
            .get(slot)
            .map_or_else(|| "the value".to_string(), FieldRef::label)
    };
    // Unreachable rules, and the reachable risk bands by domain and indicator.
    let mut live: Vec<(usize, Band)> = Vec::new();
    let mut findings = Vec::new();
    for (i, (r, b)) in inp.rules.iter().zip(&bands).enumerate() {
        let Some(b) = b else {
            not_analysed.push(r.id.clone());
            continue;
        };
        let valid = inp
            .slots
            .get(b.slot)
            .and_then(|f| f.spec())
            .and_then(|s| ranges::of(s.path))
            .map(|(lo, hi)| Interval {
                lo: End {
                    at: lo,
                    closed: true,
                },
                hi: End {
                    at: hi,
                    closed: true,
                },
            });
        if b.region.is_empty() {
            out.extend(warn(
                r,
                "unreachable",
                format!(
                    "`{}` can never fire: no {} is in {}",
                    r.id,
                    label(b.slot),
                    b.region
                ),
                "a band's lower edge must be below its upper edge",
            ));
            continue;
        }
        if let Some(v) = valid
            && b.region.intersect(&v).is_empty()
        {
            out.extend(warn(
                r,
                "unreachable",
                format!(
                    "`{}` can never fire: {} in {} is outside its valid range {}",
                    r.id,
                    label(b.slot),
                    b.region,
                    v
                ),
                "check the threshold's scale (rates are fractions, 0.10 = 10%)",
            ));
            continue;
        }
        if r.kind == RuleKind::Risk && r.enabled {
            let region = valid.map_or(b.region, |v| b.region.intersect(&v));
            live.push((i, Band { region, ..*b }));
        }
    }
    let same = |a: &(usize, Band), b: &(usize, Band)| {
        inp.rules[a.0].domain == inp.rules[b.0].domain && a.1.slot == b.1.slot
    };
    // Shadowed and overlapping rules.
    for x in &live {
        let rx = &inp.rules[x.0];
        let higher: Vec<&(usize, Band)> = live
            .iter()
            .filter(|y| same(x, y) && inp.rules[y.0].tier > rx.tier)
            .collect();
        if let Some(ids) = covered(&x.1.region, &higher, inp.rules) {
            out.extend(warn(rx, "shadowed", format!("`{}` is shadowed: it can only fire when {} also fires, so it never decides the {} tier", rx.id, ids, rx.domain), "move its band so that it starts where the higher tier ends"));
            continue;
        }
        for y in &higher {
            let both = x.1.region.intersect(&y.1.region);
            if !both.is_empty() {
                let ry = &inp.rules[y.0];
                let d = warn(
                    rx,
                    "overlap",
                    format!(
                        "`{}` and `{}` both fire for {} in {}",
                        rx.id,
                        ry.id,
                        label(x.1.slot),
                        both
                    ),
                    "make one band end where the next begins (`<` on one side, `>=` on the other)",
                );
                if let (Some(d), Some(field)) = (d, inp.slots.get(x.1.slot)) {
                    findings.push(Finding {
                        field: field.clone(),
                        bounds: both.bounds(),
                        message: d.message.clone(),
                    });
                    out.push(d);
                }
            }
        }
    }
    // Gaps between neighbouring bands of one domain and indicator.
    let mut gaps = Vec::new();
    let mut done = vec![false; live.len()];
    for k in 0..live.len() {
        if done[k] {
            continue;
        }
        let mut group: Vec<&(usize, Band)> = Vec::new();
        for (j, y) in live.iter().enumerate() {
            if same(&live[k], y) {
                done[j] = true;
                group.push(y);
            }
        }
        group.sort_by(|a, b| {
            (a.1.region.lo.at, !a.1.region.lo.closed)
                .partial_cmp(&(b.1.region.lo.at, !b.1.region.lo.closed))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut reach: Option<(End, usize)> = None;
        for y in group {
            let region = y.1.region;
            if let Some((hi, before)) = reach {
                let gap = Interval {
                    lo: End {
                        at: hi.at,
                        closed: !hi.closed,
                    },
                    hi: End {
                        at: region.lo.at,
                        closed: !region.lo.closed,
                    },
                };
                if !gap.is_empty() {
                    let ry = &inp.rules[y.0];
                    let d = warn(
                        ry,
                        "gap",
                        format!(
                            "{} in {} fires no {} rule: it lies between `{}` and `{}`",
                            label(y.1.slot),
                            gap,
                            ry.domain,
                            inp.rules[before].id,
                            ry.id
                        ),
                        "start this band where the one below it ends",
                    );
                    if let (Some(d), Some(field)) = (d, inp.slots.get(y.1.slot)) {
                        findings.push(Finding {
                            field: field.clone(),
                            bounds: gap.bounds(),
                            message: d.message.clone(),
                        });
                        gaps.push(d);
                    }
                }
            }
            let further = reach.is_none_or(|(hi, _)| {
                region.hi.at > hi.at || (region.hi.at == hi.at && region.hi.closed)
            });
            if further {
                reach = Some((region.hi, y.0));
            }
        }
    }
    Report {
        warnings: out,
        gaps,
        not_analysed,
        findings,
    }
}

/// The ids of `higher` rules whose union covers `region` (as "`a`" or "`a` or
/// `b`"), or `None` when some of it is left.
fn covered(region: &Interval, higher: &[&(usize, Band)], rules: &[Rule]) -> Option<String> {
    let mut parts: Vec<&(usize, Band)> = higher
        .iter()
        .copied()
        .filter(|h| !h.1.region.intersect(region).is_empty())
        .collect();
    if parts.is_empty() {
        return None;
    }
    parts.sort_by(|a, b| {
        (a.1.region.lo.at, !a.1.region.lo.closed)
            .partial_cmp(&(b.1.region.lo.at, !b.1.region.lo.closed))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    // Walk from the region's low end: each part must start at or before what is
    // covered so far.
    let mut from = region.lo;
    for p in &parts {
        let lo = p.1.region.lo;
        let starts_in_time = lo.at < from.at || (lo.at == from.at && (lo.closed || !from.closed));
        if !starts_in_time {
            return None;
        }
        let hi = p.1.region.hi;
        if hi.at > from.at || (hi.at == from.at && hi.closed) {
            from = End {
                at: hi.at,
                closed: !hi.closed,
            };
        }
        let past_end = from.at > region.hi.at
            || (from.at == region.hi.at && (!from.closed || !region.hi.closed));
        if past_end {
            let ids: Vec<String> = parts
                .iter()
                .map(|p| format!("`{}`", rules[p.0].id))
                .collect();
            return Some(ids.join(" or "));
        }
    }
    None
}

/// The values of `a` that none of `cut` (sorted by lower end) holds.
fn minus(a: Interval, cut: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut rest = a;
    for c in cut {
        if rest.is_empty() {
            break;
        }
        if rest.intersect(c).is_empty() {
            continue;
        }
        let left = Interval {
            lo: rest.lo,
            hi: End {
                at: c.lo.at,
                closed: !c.lo.closed,
            },
        };
        if !left.is_empty() {
            out.push(left);
        }
        let after = End {
            at: c.hi.at,
            closed: !c.hi.closed,
        };
        if after.at > rest.lo.at || (after.at == rest.lo.at && !after.closed) {
            rest.lo = after;
        }
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Each enabled, analysed risk rule of `rs` with its domain, indicator path and
/// region (clipped to the indicator's valid range).
fn risk_bands(rs: &RuleSet) -> Vec<(&Rule, &'static str, Interval)> {
    bands(&rs.rules, &rs.param_numbers)
        .into_iter()
        .zip(&rs.rules)
        .filter(|(_, r)| r.kind == RuleKind::Risk && r.enabled)
        .filter_map(|(b, r)| {
            let b = b?;
            let spec = rs.slots.get(b.slot)?.spec()?;
            let region = match ranges::of(spec.path) {
                Some((lo, hi)) => b.region.intersect(&Interval {
                    lo: End {
                        at: lo,
                        closed: true,
                    },
                    hi: End {
                        at: hi,
                        closed: true,
                    },
                }),
                None => b.region,
            };
            (!region.is_empty()).then_some((r, spec.path, region))
        })
        .collect()
}

impl RuleSet {
    /// Gaps against the `active` version instead of between neighbouring bands: an
    /// interval of an indicator where a risk rule of a domain fired in `active` and
    /// none fires now. Each is warned at the rule that fired there before, when this
    /// set still has it, or else at this set's first band of that domain and
    /// indicator.
    pub fn compare_bands(&mut self, active: &RuleSet) {
        let neighbour = std::mem::take(&mut self.neighbour_gaps);
        self.warnings.retain(|w| !neighbour.contains(w));
        self.band_findings
            .retain(|f| !neighbour.iter().any(|w| w.message == f.message));
        let mut findings = Vec::new();
        let now = risk_bands(self);
        let mut found = Vec::new();
        for (before, path, region) in risk_bands(active) {
            let mut cut: Vec<Interval> = now
                .iter()
                .filter(|(r, p, _)| r.domain == before.domain && *p == path)
                .map(|(_, _, i)| *i)
                .collect();
            cut.sort_by(|a, b| {
                (a.lo.at, !a.lo.closed)
                    .partial_cmp(&(b.lo.at, !b.lo.closed))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let at = now
                .iter()
                .find(|(r, _, _)| r.id == before.id)
                .or_else(|| {
                    now.iter()
                        .find(|(r, p, _)| r.domain == before.domain && *p == path)
                })
                .map(|(r, _, _)| *r);
            let label = crate::record::facts::FieldRef::resolve(path)
                .map_or_else(|| path.to_string(), |f| f.label());
            for gap in minus(region, &cut) {
                if at.is_some_and(|r| r.allow.iter().any(|a| a == "gap")) {
                    continue;
                }
                let message = format!(
                    "{label} in {gap} now fires no {} rule; it fired `{}` before",
                    before.domain, before.id
                );
                let d = match at {
                    Some(r) => {
                        let mut d = Diagnostic::warning(&r.file, r.when_at.0, r.when_at.1, message);
                        if !r.when.contains('\n') {
                            d = d.width(underline(self.files.get(&r.file).map(|t| t.as_str()), r));
                        }
                        match self.files.get(&r.file) {
                            Some(text) => d.with_source(text),
                            None => d,
                        }
                    }
                    None => Diagnostic::warning(&before.file, 0, 0, message),
                };
                if let Some(field) = crate::record::facts::FieldRef::resolve(path) {
                    findings.push(Finding {
                        field,
                        bounds: gap.bounds(),
                        message: d.message.clone(),
                    });
                }
                found.push(d.hint("the active version covers these values; start the band where it did, or move its neighbour's edge too"));
            }
        }
        self.warnings.extend(found);
        self.band_findings.extend(findings);
        self.warnings
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    }
}

/// How many characters to underline at `r`'s condition: all of it, but no further
/// than the end of the line it starts on (a folded `>-` condition spans lines).
fn underline(text: Option<&str>, r: &Rule) -> usize {
    let whole = r.when.chars().count();
    let (line, col) = r.when_at;
    let rest = text
        .and_then(|t| t.lines().nth(line.saturating_sub(1)))
        .map(|l| l.chars().count().saturating_sub(col.saturating_sub(1)));
    rest.map_or(whole, |n| n.min(whole)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn shipped() -> BTreeMap<String, String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        RuleSet::file_names(&dir)
            .into_iter()
            .map(|n| {
                let text = std::fs::read_to_string(dir.join(&n)).unwrap_or_default();
                (n, text)
            })
            .collect()
    }

    fn edited(from: &str, to: &str) -> RuleSet {
        let mut files = shipped();
        let pack = files["attendance.yaml"].replacen(from, to, 1);
        assert_ne!(pack, files["attendance.yaml"], "`{from}` not found");
        files.insert("attendance.yaml".into(), pack);
        match RuleSet::from_files(files) {
            Ok(rs) => rs,
            Err(e) => panic!("{e}"),
        }
    }

    fn messages(rs: &RuleSet) -> Vec<&str> {
        rs.warnings.iter().map(|w| w.message.as_str()).collect()
    }

    const CHRONIC_FROM: &str = "student.attendance.absence_rate >= params.chronic_absence_rate\n      && student.attendance.absence_rate < params.severe_absence_rate";

    #[test]
    fn a_gap_against_the_active_version_names_the_rule_that_fired_there() {
        let active = RuleSet::from_files(shipped()).expect("shipped");
        let mut rs = edited(
            CHRONIC_FROM,
            "student.attendance.absence_rate >= 0.12\n      && student.attendance.absence_rate < params.severe_absence_rate",
        );
        assert_eq!(
            messages(&rs),
            [
                "absence rate in [0.1, 0.12) fires no attendance rule: it lies between `attendance-watch` and `chronic-absence`"
            ]
        );
        rs.compare_bands(&active);
        assert_eq!(
            messages(&rs),
            [
                "absence rate in [0.1, 0.12) now fires no attendance rule; it fired `chronic-absence` before"
            ]
        );
    }

    #[test]
    fn moving_both_edges_of_a_band_together_opens_no_gap() {
        let active = RuleSet::from_files(shipped()).expect("shipped");
        let mut files = shipped();
        let params = files["params.yaml"].replacen(
            "chronic_absence_rate:\n  value: 0.10",
            "chronic_absence_rate:\n  value: 0.12",
            1,
        );
        assert_ne!(params, files["params.yaml"]);
        files.insert("params.yaml".into(), params);
        let mut rs = RuleSet::from_files(files).expect("loads");
        rs.compare_bands(&active);
        assert!(rs.warnings.is_empty(), "{:?}", messages(&rs));
    }

    #[test]
    fn closed_and_open_ends_are_kept_apart() {
        let half = |op: Op, c: f64| Interval::of(op, c).unwrap_or(Interval::ALL);
        let band = half(Op::Ge, 0.1).intersect(&half(Op::Lt, 0.2));
        assert_eq!(band.to_string(), "[0.1, 0.2)");
        assert!(band.contains(0.1) && !band.contains(0.2));
        assert!(half(Op::Gt, 0.2).intersect(&half(Op::Le, 0.2)).is_empty());
        assert!(!half(Op::Ge, 0.2).intersect(&half(Op::Le, 0.2)).is_empty());
        let left = minus(half(Op::Ge, 0.05), &[band]);
        let shown: Vec<String> = left.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["[0.05, 0.1)", "[0.2, ∞)"]);
    }
}

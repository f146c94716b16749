//! A student's key indicators over their decisions, drawn by the server: per
//! indicator (absence rate, GPA, office referrals, screener percentiles, SEL
//! T-score, failing courses: those the decisions hold) a line chart of its value at
//! each decision, dated by the record's `as_of` (else the decision's day), with the
//! thresholds the active rules compare it against as dashed reference lines named
//! by their param, and a table (date → value) as its text alternative.
//!
//! Drawn like the plan chart, with its scales, ticks, number words and coordinates
//! ([`super`]): no script, no `style`, a fixed `viewBox`. Values that are not finite
//! are left out when an [`Indicator`] is built, so neither `NaN` nor `inf` reaches
//! the output; magnitudes near `f64::MAX` are scaled without overflow. With one
//! reading the chart is one point; with none, [`Indicator::svg`] draws nothing.

use std::fmt::Write;

use chrono::NaiveDate;

use super::{
    AXIS, BOTTOM, DATE_LABEL, FONT, GRID, HEIGHT, INK, LEFT, RIGHT, TOP, WIDTH, c, escape, height,
    num, ticks, value_range,
};
use crate::record::facts::FieldRef;
use crate::rules::RuleSet;
use crate::rules::native::{Native, Operand};
use crate::rules::template::display_number;

/// The indicators charted, in the page's order (the record indicators a plan's
/// goal can measure).
pub const INDICATORS: [&str; 7] = [
    "attendance.absence_rate",
    "gpa",
    "behavior.office_referrals",
    "reading_percentile",
    "math_percentile",
    "sel.t_score",
    "failing_courses",
];

const LINE: &str = "#1d4f91";
const THRESHOLD: &str = "#8a1c1c";
const THRESHOLD_DASH: &str = "8 6";
/// Points sit this far inside the plot's left and right edges.
const INSET: f64 = 16.0;

/// One value of an indicator: the day it was about and the decision it is from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub date: NaiveDate,
    /// The decision's audit entry.
    pub seq: u64,
    pub value: f64,
}

/// A threshold a rule compares the indicator against: the param and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub name: String,
    pub value: f64,
}

/// The params the enabled rules of `rules` compare the field `path` against in
/// their native comparisons (`student.gpa <= params.low_gpa`), each once, lowest
/// value first. A condition written in Rhai beyond comparisons has none to show.
pub fn thresholds(rules: &RuleSet, path: &str) -> Vec<Threshold> {
    let Some(field) = FieldRef::resolve(path) else {
        return Vec::new();
    };
    let mut out: Vec<Threshold> = Vec::new();
    for rule in rules.rules.iter().filter(|r| r.enabled) {
        if let Some(n) = rule.native() {
            collect(n, rules, &field, &mut out);
        }
    }
    out.sort_by(|a, b| a.value.total_cmp(&b.value));
    out
}

fn collect(n: &Native, rules: &RuleSet, field: &FieldRef, out: &mut Vec<Threshold>) {
    match n {
        Native::All(xs) | Native::Any(xs) => xs.iter().for_each(|x| collect(x, rules, field, out)),
        Native::Cmp(a, _, b) => {
            let param = match (a, b) {
                (Operand::Slot(i), Operand::Param(p)) | (Operand::Param(p), Operand::Slot(i))
                    if rules.fields_read().get(*i) == Some(field) =>
                {
                    rules.param_slot(*p)
                }
                _ => None,
            };
            let Some(name) = param else { return };
            let value = rules.params.get(name).map(|p| p.as_f64());
            if let Some(value) = value.filter(|v| v.is_finite())
                && !out.iter().any(|t| t.name == name)
            {
                out.push(Threshold {
                    name: name.to_string(),
                    value: value + 0.0,
                });
            }
        }
    }
}

/// One indicator over a student's decisions.
pub struct Indicator {
    pub path: String,
    /// "Absence rate".
    pub label: String,
    percent: bool,
    /// Oldest first (by date, then decision); finite values only.
    readings: Vec<Reading>,
    /// Finite values only.
    thresholds: Vec<Threshold>,
    /// Values at the bottom and top edges (`lo < hi`, both finite).
    lo: f64,
    hi: f64,
}

impl Indicator {
    /// The indicator `path` (a field of [`crate::record::facts::FIELDS`]) with its
    /// readings and thresholds, values that are not finite left out.
    pub fn new(path: &str, readings: Vec<Reading>, thresholds: Vec<Threshold>) -> Indicator {
        let spec = FieldRef::resolve(path).and_then(|f| f.spec());
        let label = spec.map_or(path, |s| s.label);
        let mut readings: Vec<Reading> = readings
            .into_iter()
            .filter(|r| r.value.is_finite())
            .map(|r| Reading {
                value: r.value + 0.0,
                ..r
            })
            .collect();
        readings.sort_by_key(|r| (r.date, r.seq));
        let thresholds: Vec<Threshold> = thresholds
            .into_iter()
            .filter(|t| t.value.is_finite())
            .collect();
        let values: Vec<f64> = readings
            .iter()
            .map(|r| r.value)
            .chain(thresholds.iter().map(|t| t.value))
            .collect();
        let (lo, hi) = value_range(&values);
        Indicator {
            path: path.to_string(),
            label: capitalized(label),
            percent: spec.is_some_and(|s| s.percent),
            readings,
            thresholds,
            lo,
            hi,
        }
    }

    pub fn readings(&self) -> &[Reading] {
        &self.readings
    }

    /// An `id` for the chart's title and description.
    fn element_id(&self) -> String {
        let kept: String = self
            .path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(64)
            .collect();
        format!("indicator-{kept}")
    }

    /// A value as the page writes it: a rate as a percentage.
    pub fn value_words(&self, v: f64) -> String {
        let v = v + 0.0;
        if self.percent && v.is_finite() && (v * 100.0).abs() < 1e15 {
            display_number(v, true)
        } else if self.percent {
            format!("{}%", num(v * 100.0))
        } else {
            num(v)
        }
    }

    /// "Absence rate at each decision".
    pub fn title(&self) -> String {
        format!("{} at each decision", self.label)
    }

    /// "3 decisions from 2026-09-01 to 2026-11-20; newest 15% on 2026-11-20; lowest
    /// 5%, highest 15%. Thresholds: chronic_absence_rate 10%."
    pub fn words(&self) -> String {
        let n = self.readings.len();
        let mut out = match (self.readings.first(), self.readings.last()) {
            (Some(first), Some(last)) if n > 1 => {
                let (lo, hi) = self
                    .readings
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), r| {
                        (a.min(r.value), b.max(r.value))
                    });
                format!(
                    "{n} decisions from {} to {}; newest {} on {}; lowest {}, highest {}",
                    first.date,
                    last.date,
                    self.value_words(last.value),
                    last.date,
                    self.value_words(lo),
                    self.value_words(hi)
                )
            }
            (Some(only), _) => format!(
                "1 decision, {} on {}: not enough history for a line",
                self.value_words(only.value),
                only.date
            ),
            _ => "Not enough history: no decision holds it".to_string(),
        };
        if !self.thresholds.is_empty() {
            let named: Vec<String> = self
                .thresholds
                .iter()
                .map(|t| format!("{} {}", t.name, self.value_words(t.value)))
                .collect();
            let _ = write!(out, ". Thresholds: {}", named.join(", "));
        }
        out.push('.');
        out
    }

    fn x(&self, date: NaiveDate) -> f64 {
        let (Some(first), Some(last)) = (self.readings.first(), self.readings.last()) else {
            return (LEFT + RIGHT) / 2.0;
        };
        let span = (last.date - first.date).num_days();
        if span <= 0 {
            return (LEFT + RIGHT) / 2.0;
        }
        let f = (date - first.date).num_days() as f64 / span as f64;
        LEFT + INSET + f.clamp(0.0, 1.0) * (RIGHT - LEFT - 2.0 * INSET)
    }

    fn y(&self, value: f64) -> f64 {
        height(self.lo, self.hi, value)
    }

    /// The chart as an SVG fragment, `role="img"` with a `<title>` and a `<desc>`;
    /// empty when there is no reading.
    pub fn svg(&self) -> String {
        if self.readings.is_empty() {
            return String::new();
        }
        let id = self.element_id();
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" font-family="sans-serif" font-size="{FONT}" fill="{INK}">"#
        );
        let _ = write!(
            s,
            r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
            escape(&self.title()),
            escape(&self.words())
        );
        let _ = write!(
            s,
            r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
        );
        self.draw_value_axis(&mut s);
        self.draw_date_axis(&mut s);
        self.draw_thresholds(&mut s);
        self.draw_line(&mut s);
        self.draw_legend(&mut s);
        s.push_str("</svg>");
        s
    }

    /// The value ticks: a rate's at round percentages.
    fn ticks(&self) -> Vec<(f64, String)> {
        let (lo, hi) = (self.lo * 100.0, self.hi * 100.0);
        if self.percent && lo.is_finite() && hi.is_finite() {
            ticks(lo, hi)
                .into_iter()
                .map(|(v, t)| (v / 100.0, format!("{t}%")))
                .collect()
        } else {
            ticks(self.lo, self.hi)
        }
    }

    fn draw_value_axis(&self, s: &mut String) {
        let _ = write!(s, r#"<text x="8" y="26">{}</text>"#, escape(&self.label));
        for (value, text) in self.ticks() {
            let y = self.y(value);
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{GRID}" stroke-width="1"/><text x="{}" y="{}" text-anchor="end">{}</text>"#,
                c(LEFT),
                c(RIGHT),
                c(LEFT - 8.0),
                c(y + FONT * 0.35),
                escape(&text),
                y = c(y)
            );
        }
        let _ = write!(
            s,
            r#"<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="{AXIS}" stroke-width="1.5"/><line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="{AXIS}" stroke-width="1.5"/>"#,
            l = c(LEFT),
            t = c(TOP),
            b = c(BOTTOM),
            r = c(RIGHT)
        );
    }

    /// Ticks at the first and the newest date (and the one between, for three or
    /// more); a label that would overlap one already placed is left out (every date
    /// is in the table).
    fn draw_date_axis(&self, s: &mut String) {
        let dates: Vec<NaiveDate> = match (self.readings.first(), self.readings.last()) {
            (Some(a), Some(b)) => {
                let mid = self.readings[self.readings.len() / 2].date;
                vec![a.date, b.date, mid]
            }
            _ => Vec::new(),
        };
        let mut placed: Vec<(f64, f64)> = Vec::new();
        for date in dates {
            let x = self.x(date);
            let from = (x - DATE_LABEL / 2.0).clamp(0.0, WIDTH - DATE_LABEL);
            let span = (from - 6.0, from + DATE_LABEL + 6.0);
            if placed.iter().any(|p| span.0 < p.1 && p.0 < span.1) {
                continue;
            }
            placed.push(span);
            let _ = write!(
                s,
                r#"<line x1="{x}" y1="{b}" x2="{x}" y2="{}" stroke="{AXIS}" stroke-width="1.5"/><text x="{}" y="{}">{date}</text>"#,
                c(BOTTOM + 6.0),
                c(from),
                c(BOTTOM + 28.0),
                x = c(x),
                b = c(BOTTOM)
            );
        }
    }

    /// A dashed line per threshold, named at the plot's right edge (on a white halo,
    /// so a line crossing it leaves it readable); a name that would overlap one
    /// already placed is left out (all are in the description and the table's
    /// caption).
    fn draw_thresholds(&self, s: &mut String) {
        let mut placed: Vec<f64> = Vec::new();
        for t in &self.thresholds {
            let y = self.y(t.value);
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{THRESHOLD}" stroke-width="2" stroke-dasharray="{THRESHOLD_DASH}"/>"#,
                c(LEFT),
                c(RIGHT),
                y = c(y)
            );
            // Above its line, or below it when above would leave the plot.
            let label_y = if y - 6.0 - FONT < TOP {
                y + FONT
            } else {
                y - 6.0
            };
            if placed.iter().any(|p| (p - label_y).abs() < FONT) {
                continue;
            }
            placed.push(label_y);
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end" fill="{THRESHOLD}" stroke="#ffffff" stroke-width="5" paint-order="stroke">{} {}</text>"##,
                c(RIGHT - 4.0),
                c(label_y),
                escape(&t.name),
                escape(&self.value_words(t.value))
            );
        }
    }

    fn draw_line(&self, s: &mut String) {
        if self.readings.len() > 1 {
            let points: Vec<String> = self
                .readings
                .iter()
                .map(|r| format!("{},{}", c(self.x(r.date)), c(self.y(r.value))))
                .collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="3"/>"#,
                points.join(" ")
            );
        }
        for r in &self.readings {
            let _ = write!(
                s,
                r##"<circle cx="{}" cy="{}" r="6" fill="{LINE}" stroke="#ffffff" stroke-width="1.5"><title>{}: {}</title></circle>"##,
                c(self.x(r.date)),
                c(self.y(r.value)),
                r.date,
                escape(&self.value_words(r.value))
            );
        }
    }

    /// One row under the date labels: only what is drawn.
    fn draw_legend(&self, s: &mut String) {
        let y = HEIGHT - 14.0;
        let mid = c(y - FONT * 0.35);
        let mut x = 16.0;
        let mut items = vec![(None, "at each decision")];
        if !self.thresholds.is_empty() {
            items.push((Some(THRESHOLD_DASH), "threshold of a rule"));
        }
        for (dash, text) in items {
            let (color, dash) = match dash {
                Some(d) => (THRESHOLD, format!(r#" stroke-dasharray="{d}""#)),
                None => (LINE, String::new()),
            };
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{mid}" x2="{}" y2="{mid}" stroke="{color}" stroke-width="3"{dash}/><text x="{}" y="{}">{text}</text>"#,
                c(x),
                c(x + 28.0),
                c(x + 34.0),
                c(y)
            );
            x += 34.0 + text.len() as f64 * FONT * 0.56 + 24.0;
        }
    }

    /// The chart's text alternative: a `<table>` with a caption (what it shows, the
    /// thresholds), one row per reading, oldest first: date, value, decision.
    pub fn table_html(&self) -> String {
        let mut s = format!(
            "<table class=\"indicator\"><caption>{}: {}</caption>\
             <thead><tr><th scope=\"col\">Date</th><th scope=\"col\">{}</th>\
             <th scope=\"col\">Decision (audit entry)</th></tr></thead><tbody>",
            escape(&self.title()),
            escape(&self.words()),
            escape(&self.label)
        );
        if self.readings.is_empty() {
            s.push_str("<tr><td colspan=\"3\">Not enough history</td></tr>");
        }
        for r in &self.readings {
            let _ = write!(
                s,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                r.date,
                escape(&self.value_words(r.value)),
                r.seq
            );
        }
        s.push_str("</tbody></table>");
        s
    }
}

/// `text` with its first letter in capitals ("absence rate" → "Absence rate").
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[path = "trend_tests.rs"]
mod tests;

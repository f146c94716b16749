//! A plan's progress drawn by the server: an SVG chart (points, aim line, trend
//! line, axes, legend) and the table that is its text alternative. Its scales,
//! ticks and number words also draw the student's indicators over time ([`trend`]).
//!
//! Everything plotted comes from the progress math ([`crate::plans::progress`]): the
//! points as it reads them on `as_of` (dated on or before it, finite, one per date),
//! the aim line of the goal (held at the target after `by`), and the least-squares
//! trend ([`Series::trend`]) drawn through the mean point over the points' dates. The
//! SVG has no script and no `style` attribute (a strict `style-src 'self'` policy
//! allows presentation attributes such as `stroke` and `fill`); it keeps a fixed
//! `viewBox` and scales to the width of its container. Text from data is escaped
//! with [`escape`]. Any plan, even one the validator would refuse, draws without a
//! panic and without `NaN` or `inf` in the output: values that cannot be placed are
//! left out, and coordinates are computed on values scaled to the plot's range so
//! magnitudes near `f64::MAX` do not overflow.

use std::fmt::Write;

use chrono::NaiveDate;

use crate::plans::progress::{Goal, Point, Series, Side};
use crate::plans::report::{gap_words, signed};
use crate::plans::{Plan, ProgressPoint};
use crate::record::facts::human_number;
use crate::rules::record_measure;

/// A student's key indicators over their decisions, drawn with this file's scales.
#[path = "trend.rs"]
pub mod trend;

/// The drawing's coordinate system (`viewBox`); it scales to its container's width.
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 320.0;

/// The plot area inside the viewBox.
const LEFT: f64 = 92.0;
const RIGHT: f64 = 624.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 244.0;
/// Text size in viewBox units: about 11 px when drawn 360 px wide.
const FONT: f64 = 20.0;
/// Width of a `YYYY-MM-DD` label at [`FONT`], for keeping labels apart.
const DATE_LABEL: f64 = 112.0;
/// Longest measure name shown above the plot (the title says it whole).
const MEASURE_CHARS: usize = 48;

const INK: &str = "#222222";
const AXIS: &str = "#333333";
const GRID: &str = "#d9d9d9";
const AIM: &str = "#1d4f91";
const AIM_DASH: &str = "10 6";
const TREND: &str = "#a34700";
const AS_OF: &str = "#595959";
const AS_OF_DASH: &str = "3 5";

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by entities: safe in HTML and
/// SVG text and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The plan's progress on `as_of` as an SVG document fragment (`<svg …>…</svg>`),
/// `role="img"` with a `<title>` and a `<desc>` that say in words what it shows.
pub fn svg(plan: &Plan, as_of: NaiveDate) -> String {
    let v = View::new(plan, as_of);
    let id = element_id(&plan.plan_id);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" font-family="sans-serif" font-size="{FONT}" fill="{INK}">"#
    );
    let _ = write!(
        s,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&v.title(plan)),
        escape(&v.words(plan))
    );
    let _ = write!(
        s,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    v.draw_value_axis(&mut s, plan);
    v.draw_date_axis(&mut s, plan, as_of);
    v.draw_lines(&mut s, as_of);
    v.draw_points(&mut s);
    v.draw_legend(&mut s);
    s.push_str("</svg>");
    s
}

/// The chart's text alternative: a `<table>` with a caption, one row per point the
/// chart plots (date, value, the aim that day, where it stands against the aim,
/// notes), or one row saying there is none.
pub fn table_html(plan: &Plan, as_of: NaiveDate) -> String {
    let v = View::new(plan, as_of);
    let mut s = format!(
        "<table><caption>Progress points of {} as of {as_of}: {}</caption>\
         <thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Value</th>\
         <th scope=\"col\">Aim that day</th><th scope=\"col\">Against the aim</th>\
         <th scope=\"col\">Note</th></tr></thead><tbody>",
        escape(&plan.goal.measure),
        escape(&v.words(plan))
    );
    if v.series.is_empty() {
        s.push_str("<tr><td colspan=\"5\">No progress points yet</td></tr>");
    }
    for p in v.series.points() {
        let raw: Vec<_> = v.known(plan).filter(|r| r.date == p.date).collect();
        let value = match raw.len() {
            0 | 1 => num(p.value),
            n => format!("{} (mean of {n})", num(p.value)),
        };
        let notes: Vec<&str> = raw.iter().filter_map(|r| r.note.as_deref()).collect();
        let (aim, side) = match &v.goal {
            Some(g) => (num(g.aim_at(p.date)), side_words(g.side_of(p))),
            None => ("—".to_string(), "—"),
        };
        let _ = write!(
            s,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.date,
            escape(&value),
            escape(&aim),
            side,
            escape(&notes.join("; "))
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn side_words(side: Side) -> &'static str {
    match side {
        Side::Behind => "off aim (behind)",
        Side::On => "on the aim line",
        Side::Ahead => "on track (ahead)",
    }
}

/// What one drawing shows: the math's reading of the plan and the plot's ranges.
struct View {
    goal: Option<Goal>,
    series: Series,
    /// The trend line's ends, at the first and the newest point's dates.
    trend: Option<[Point; 2]>,
    slope: Option<f64>,
    as_of: NaiveDate,
    /// Dates at the left and right edges.
    x0: NaiveDate,
    x1: NaiveDate,
    /// Values at the bottom and top edges (`lo < hi`, both finite).
    lo: f64,
    hi: f64,
}

impl View {
    fn new(plan: &Plan, as_of: NaiveDate) -> View {
        let g = &plan.goal;
        let goal = Goal::new(g.baseline, g.target, plan.start, g.by).ok();
        let points: Vec<Point> = plan
            .progress
            .iter()
            .map(|p| Point {
                date: p.date,
                value: p.value,
            })
            .collect();
        let series = Series::new(&points, as_of);
        let trend = series.trend().and_then(|t| {
            let (first, last) = (series.points().first()?.date, series.newest()?.date);
            let ends =
                [first, last].map(|date| t.value_at(date).map(|value| Point { date, value }));
            Some([ends[0]?, ends[1]?])
        });
        let first = series.points().first().map_or(plan.start, |p| p.date);
        let x0 = plan.start.min(first);
        let x1 = g.by.max(as_of).max(x0);
        let mut values: Vec<f64> = series.points().iter().map(|p| p.value).collect();
        values.extend(trend.iter().flatten().map(|p| p.value));
        if let Some(goal) = &goal {
            values.extend([goal.baseline(), goal.target()]);
        }
        let (lo, hi) = value_range(&values);
        View {
            slope: series.slope_per_week(),
            goal,
            series,
            trend,
            as_of,
            x0,
            x1,
            lo,
            hi,
        }
    }

    /// The stored points the math reads on `as_of` (several may share a date).
    fn known<'p>(&self, plan: &'p Plan) -> impl Iterator<Item = &'p ProgressPoint> {
        let as_of = self.as_of;
        plan.progress
            .iter()
            .filter(move |p| p.value.is_finite() && p.date <= as_of)
    }

    fn x(&self, date: NaiveDate) -> f64 {
        let span = (self.x1 - self.x0).num_days().max(1) as f64;
        let f = (date - self.x0).num_days() as f64 / span;
        LEFT + f.clamp(0.0, 1.0) * (RIGHT - LEFT)
    }

    fn y(&self, value: f64) -> f64 {
        height(self.lo, self.hi, value)
    }

    fn title(&self, plan: &Plan) -> String {
        let g = &plan.goal;
        match &self.goal {
            Some(goal) => format!(
                "Progress on {}: aim from {} to {} by {}",
                g.measure,
                num(goal.baseline()),
                num(goal.target()),
                goal.by()
            ),
            None => format!("Progress on {}", g.measure),
        }
    }

    /// "6 points; newest 40 on 2026-10-13, 25.2 behind the aim; trend 0 per week.
    /// Aim line from 40 on 2026-09-01 to 82 by 2026-11-10."
    fn words(&self, plan: &Plan) -> String {
        let n = self.series.len();
        let mut out = match self.series.newest() {
            None => "No points yet".to_string(),
            Some(p) => {
                let mut t = format!(
                    "{n} point{}; newest {} on {}",
                    if n == 1 { "" } else { "s" },
                    num(p.value),
                    p.date
                );
                if let Some(gap) = self.goal.as_ref().and_then(|g| self.series.aim_gap(g)) {
                    t.push_str(", ");
                    t.push_str(&gap_words(gap, num));
                }
                t.push_str(&match self.slope {
                    Some(s) => format!("; trend {} per week", signed(s, num)),
                    None => "; a trend needs 3 points on different dates".to_string(),
                });
                t
            }
        };
        out.push_str(&match &self.goal {
            Some(g) => format!(
                ". Aim line from {} on {} to {} by {}.",
                num(g.baseline()),
                g.start(),
                num(g.target()),
                g.by()
            ),
            None => format!(
                ". The goal ({} to {} by {}) cannot be charted: check its numbers.",
                num(plan.goal.baseline),
                num(plan.goal.target),
                plan.goal.by
            ),
        });
        out
    }

    fn draw_value_axis(&self, s: &mut String, plan: &Plan) {
        let measure = &plan.goal.measure;
        let mut label: String = measure.chars().take(MEASURE_CHARS).collect();
        if label.len() < measure.len() {
            label.push('…');
        }
        if let Some(m) = record_measure(measure) {
            let _ = write!(label, " ({})", m.unit);
        }
        let _ = write!(s, r#"<text x="8" y="26">{}</text>"#, escape(&label));
        for (value, text) in ticks(self.lo, self.hi) {
            let y = c(self.y(value));
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{GRID}" stroke-width="1"/><text x="{}" y="{}" text-anchor="end">{}</text>"#,
                c(LEFT),
                c(RIGHT),
                c(LEFT - 8.0),
                c(self.y(value) + FONT * 0.35),
                escape(&text)
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

    /// Ticks at `start`, `by` and `as_of`; a label that would overlap one already
    /// placed is left out (the dates are all in the description and the table).
    fn draw_date_axis(&self, s: &mut String, plan: &Plan, as_of: NaiveDate) {
        let mut placed: Vec<(f64, f64)> = Vec::new();
        for date in [plan.start, plan.goal.by, as_of] {
            let x = self.x(date);
            let _ = write!(
                s,
                r#"<line x1="{x}" y1="{b}" x2="{x}" y2="{}" stroke="{AXIS}" stroke-width="1.5"/>"#,
                c(BOTTOM + 6.0),
                x = c(x),
                b = c(BOTTOM)
            );
            let (anchor, from) = if x - DATE_LABEL / 2.0 < 0.0 {
                ("start", x)
            } else if x + DATE_LABEL / 2.0 > WIDTH {
                ("end", x - DATE_LABEL)
            } else {
                ("middle", x - DATE_LABEL / 2.0)
            };
            let span = (from - 6.0, from + DATE_LABEL + 6.0);
            if placed.iter().any(|p| span.0 < p.1 && p.0 < span.1) {
                continue;
            }
            placed.push(span);
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="{anchor}">{date}</text>"#,
                c(x),
                c(BOTTOM + 28.0)
            );
        }
    }

    fn draw_lines(&self, s: &mut String, as_of: NaiveDate) {
        let x = c(self.x(as_of));
        let _ = write!(
            s,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{AS_OF}" stroke-width="1.5" stroke-dasharray="{AS_OF_DASH}"/>"#,
            c(TOP),
            c(BOTTOM)
        );
        if let Some(g) = &self.goal {
            // Held at the baseline before `start` and at the target after `by`.
            let mut corners = vec![(g.start(), g.baseline()), (g.by(), g.target())];
            if self.x0 < g.start() {
                corners.insert(0, (self.x0, g.baseline()));
            }
            if self.x1 > g.by() {
                corners.push((self.x1, g.target()));
            }
            let points: Vec<String> = corners
                .iter()
                .map(|(d, v)| format!("{},{}", c(self.x(*d)), c(self.y(*v))))
                .collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{AIM}" stroke-width="3" stroke-dasharray="{AIM_DASH}"/>"#,
                points.join(" ")
            );
        }
        if let Some([a, b]) = self.trend {
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{TREND}" stroke-width="3"/>"#,
                c(self.x(a.date)),
                c(self.y(a.value)),
                c(self.x(b.date)),
                c(self.y(b.value))
            );
        }
    }

    fn draw_points(&self, s: &mut String) {
        for p in self.series.points() {
            let side = self.goal.as_ref().map(|g| g.side_of(p));
            let _ = write!(
                s,
                r##"<circle cx="{}" cy="{}" r="6" fill="#111111" stroke="#ffffff" stroke-width="1.5"><title>{}: {}{}</title></circle>"##,
                c(self.x(p.date)),
                c(self.y(p.value)),
                p.date,
                escape(&num(p.value)),
                side.map_or(String::new(), |side| format!(", {}", side_words(side)))
            );
        }
    }

    /// One row under the date labels: only what is drawn.
    fn draw_legend(&self, s: &mut String) {
        let y = HEIGHT - 14.0;
        let mid = c(y - FONT * 0.35);
        let mut items: Vec<(Option<Stroke>, &str)> = Vec::new();
        if self.goal.is_some() {
            items.push((Some((AIM, Some(AIM_DASH), 3.0)), "aim line"));
        }
        if self.trend.is_some() {
            items.push((Some((TREND, None, 3.0)), "trend"));
        }
        if !self.series.is_empty() {
            items.push((None, "points"));
        }
        items.push((Some((AS_OF, Some(AS_OF_DASH), 1.5)), "as of"));
        let mut x = 16.0;
        for (line, text) in items {
            match line {
                Some((color, dash, width)) => {
                    let dash =
                        dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#));
                    let _ = write!(
                        s,
                        r#"<line x1="{}" y1="{mid}" x2="{}" y2="{mid}" stroke="{color}" stroke-width="{width}"{dash}/>"#,
                        c(x),
                        c(x + 28.0)
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        r##"<circle cx="{}" cy="{mid}" r="6" fill="#111111" stroke="#ffffff" stroke-width="1.5"/>"##,
                        c(x + 14.0)
                    );
                }
            }
            let _ = write!(s, r#"<text x="{}" y="{}">{text}</text>"#, c(x + 34.0), c(y));
            x += 34.0 + text.len() as f64 * FONT * 0.56 + 24.0;
        }
    }
}

/// The height of `value` on a plot from `lo` (bottom) to `hi` (top), computed on
/// values divided by the range's magnitude so nothing overflows; inside the plot.
fn height(lo: f64, hi: f64, value: f64) -> f64 {
    let m = lo.abs().max(hi.abs());
    let f = (value / m - lo / m) / (hi / m - lo / m);
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.5
    };
    BOTTOM - f * (BOTTOM - TOP)
}

/// A line's colour, dash pattern and width.
type Stroke = (&'static str, Option<&'static str>, f64);

/// The plot's value range: the values with a margin, `lo < hi`, both finite.
fn value_range(values: &[f64]) -> (f64, f64) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if min > max {
        return (0.0, 1.0);
    }
    // A twentieth of the range on each side, computed on halves so it cannot
    // overflow; a single value gets a tenth of its size (or 1 for 0).
    let pad = if max > min {
        (max / 2.0 - min / 2.0) / 10.0
    } else if min != 0.0 {
        min.abs() / 10.0
    } else {
        1.0
    };
    let clamp = |v: f64| v.clamp(-f64::MAX, f64::MAX);
    let (lo, hi) = (clamp(min - pad), clamp(max + pad));
    if lo < hi {
        (lo + 0.0, hi + 0.0)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

/// Value ticks between `lo` and `hi` at a round step (1, 2 or 5 × a power of ten),
/// with their labels; just the two ends when no round step fits.
fn ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let ends = || vec![(lo, num(lo)), (hi, num(hi))];
    let rough = (hi / 2.0 - lo / 2.0) / 2.0;
    let Some((step, exp)) = round_step(rough) else {
        return ends();
    };
    let (k0, k1) = ((lo / step).ceil(), (hi / step).floor());
    if !(k0.is_finite() && k1.is_finite() && k0 <= k1 && k1 - k0 <= 12.0) {
        return ends();
    }
    // Counted by an integer: at magnitudes past 2^53 `k + 1.0` may equal `k`, and two
    // ticks may then print alike (only the first is kept).
    let mut out: Vec<(f64, String)> = Vec::new();
    for i in 0..=(k1 - k0) as u32 {
        let v = (k0 + f64::from(i)) * step + 0.0;
        if !v.is_finite() {
            continue;
        }
        let text = if (-4..6).contains(&exp) {
            fixed(v, usize::try_from(-exp).unwrap_or(0))
        } else {
            sci(v)
        };
        if out.last().is_none_or(|(_, t)| *t != text) {
            out.push((v, text));
        }
    }
    out
}

/// The round number (1, 2 or 5 × 10^exp) nearest `rough`, and `exp`.
fn round_step(rough: f64) -> Option<(f64, i32)> {
    if !(rough.is_finite() && rough > 0.0) {
        return None;
    }
    let exp = rough.log10().floor();
    let unit = 10f64.powf(exp);
    let f = rough / unit;
    if !(unit > 0.0 && f.is_finite()) {
        return None;
    }
    let (m, exp) = match f {
        f if f < 1.5 => (1.0, exp),
        f if f < 3.5 => (2.0, exp),
        f if f < 7.5 => (5.0, exp),
        _ => (1.0, exp + 1.0),
    };
    let step = m * 10f64.powf(exp);
    (step.is_finite() && step > 0.0).then_some((step, exp as i32))
}

/// `v` with `decimals` decimals, never `-0`.
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v);
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        "0".to_string()
    } else {
        s
    }
}

/// `1.5e300`: three significant digits at most.
fn sci(v: f64) -> String {
    let s = format!("{:.2e}", v + 0.0);
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s,
    }
}

/// A value for people: as the report writes numbers, in scientific notation when
/// very large or very small.
fn num(v: f64) -> String {
    let v = v + 0.0;
    if !v.is_finite() {
        "—".to_string()
    } else if v.abs() >= 1e15 || (v != 0.0 && v.abs() < 0.01) {
        sci(v)
    } else {
        human_number(v)
    }
}

/// A coordinate: one decimal, inside a sane range, never `-0.0`.
fn c(v: f64) -> String {
    let v = if v.is_finite() {
        v.clamp(-10_000.0, 10_000.0)
    } else {
        0.0
    };
    format!("{:.1}", (v * 10.0).round() / 10.0 + 0.0)
}

/// An `id` for the chart's title and description, from the plan id: letters,
/// digits, `-` and `_` only.
fn element_id(plan_id: &str) -> String {
    let kept: String = plan_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    format!("plan-chart-{kept}")
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;

//! The progress math of an intervention plan, in one place: the aim line, the trend,
//! points off the aim line in a row, the aim gap, fidelity, weeks active and whether
//! the goal is met, gathered by [`summarize`] into one [`Summary`] that the rules and
//! the report read. Plain values in, plain values out: no storage, no clock.
//!
//! Conventions (each is tested on a worked example in `progress_tests.rs`):
//!
//! - **Direction** follows from the goal: a target above the baseline is
//!   [`Direction::Increase`] (reading fluency), below it [`Direction::Decrease`]
//!   (absence rate). Equal baseline and target is refused: such a goal has no direction.
//! - **The aim line** runs straight from the baseline at `start` to the target at `by`;
//!   it is held at the baseline before `start` and at the target after `by`.
//! - **Points as the math reads them** ([`Series`]): only points dated on or before
//!   `as_of`, with finite values, sorted by date. Several points on one date are one
//!   measurement occasion: their mean is used, so input order and a repeated point
//!   change nothing.
//! - **On the line.** A value within one part in 10⁹ of the larger of |baseline| and
//!   |target| from the aim counts as exactly on it (so 8 is on an aim computed as
//!   7.999999999999999). A point on the line is neither off aim nor on track: it ends
//!   both runs. Off aim is below the line for an increasing goal, above it for a
//!   decreasing one; on track is the other side.
//! - **Aim gap** is the newest point's distance from the aim at its date, in the
//!   measure's units, signed so that **negative means behind** and positive means ahead,
//!   whatever the direction.
//! - **Trend** is the least-squares slope in measure units per week (dates as days ÷ 7),
//!   given only from 3 dated points on; not flipped for direction (a falling absence
//!   rate has a negative slope).
//! - **Weeks active** are whole weeks completed from `start` to `as_of` (41 days is 5
//!   weeks), 0 before `start`. Sessions are judged on the same completed weeks:
//!   planned = sessions per week × weeks active (at least 1 once a week has passed),
//!   delivered = sessions marked delivered dated in those weeks; fidelity is their
//!   ratio, capped at 1 (extra sessions do not make up for later missed ones), and
//!   missing while nothing is planned yet or the plan has no schedule.
//! - **Robust.** No function panics, and no number is NaN or infinite: a value that
//!   cannot be computed in `f64` (extreme magnitudes) is `None`. Negative zero reads
//!   as zero.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use super::error::ProgressError;

/// Points needed before a trend is given.
pub const MIN_POINTS_FOR_TREND: usize = 3;

/// Closeness to the aim that counts as on the line, relative to the goal's magnitude.
const ON_LINE: f64 = 1e-9;

/// Which way the measure should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The target is above the baseline (higher is better).
    Increase,
    /// The target is below the baseline (lower is better).
    Decrease,
}

/// A measurable goal: from `baseline` at `start` to `target` by `by`. Built only by
/// [`Goal::new`], so every goal has finite values, a direction and `by` after `start`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goal {
    baseline: f64,
    target: f64,
    start: NaiveDate,
    by: NaiveDate,
}

/// One progress-monitoring measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub date: NaiveDate,
    pub value: f64,
}

/// One intervention session, delivered or missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub date: NaiveDate,
    pub minutes: u32,
    pub delivered: bool,
}

/// How often the plan means to meet: `sessions_per_week`, when the plan says.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Schedule {
    sessions_per_week: Option<f64>,
}

fn finite(field: &str, v: f64) -> Result<f64, ProgressError> {
    let field = || ProgressError::NotFinite {
        field: field.into(),
    };
    v.is_finite().then_some(v).ok_or_else(field)
}

impl Goal {
    /// A checked goal: finite `baseline` and `target` that differ, `by` after `start`.
    pub fn new(
        baseline: f64,
        target: f64,
        start: NaiveDate,
        by: NaiveDate,
    ) -> Result<Goal, ProgressError> {
        finite("baseline", baseline)?;
        finite("target", target)?;
        if baseline == target {
            return Err(ProgressError::NoDirection);
        }
        if by <= start {
            return Err(ProgressError::ByNotAfterStart { start, by });
        }
        Ok(Goal {
            baseline,
            target,
            start,
            by,
        })
    }

    pub fn baseline(&self) -> f64 {
        self.baseline
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    pub fn start(&self) -> NaiveDate {
        self.start
    }

    pub fn by(&self) -> NaiveDate {
        self.by
    }

    /// Which way the measure should move, from baseline and target.
    pub fn direction(&self) -> Direction {
        if self.target > self.baseline {
            Direction::Increase
        } else {
            Direction::Decrease
        }
    }

    /// The aim line at `date`: exactly the baseline on or before `start`, exactly the
    /// target on or after `by`, on the straight line between them in between. Always
    /// finite and between baseline and target.
    pub fn aim_at(&self, date: NaiveDate) -> f64 {
        if date <= self.start {
            return self.baseline;
        }
        if date >= self.by {
            return self.target;
        }
        let f = days(self.start, date) / days(self.start, self.by);
        let (lo, hi) = (
            self.baseline.min(self.target),
            self.baseline.max(self.target),
        );
        // A weighted mean of two finite values cannot be NaN; the clamp keeps an
        // overflow at the edge of f64 inside the goal.
        (self.baseline * (1.0 - f) + self.target * f).clamp(lo, hi)
    }

    /// The aim line's slope, in measure units per week.
    pub fn aim_per_week(&self) -> Option<f64> {
        tidy((self.target - self.baseline) / (days(self.start, self.by) / 7.0))
    }

    /// Where `point` stands against the aim line at its date.
    pub fn side_of(&self, point: &Point) -> Side {
        self.side(point.value, self.aim_at(point.date))
    }

    /// Where `value` stands against `reference` for this goal.
    fn side(&self, value: f64, reference: f64) -> Side {
        let d = value - reference;
        if d.abs() <= ON_LINE * self.baseline.abs().max(self.target.abs()) {
            Side::On
        } else if (d > 0.0) == (self.direction() == Direction::Increase) {
            Side::Ahead
        } else {
            Side::Behind
        }
    }

    /// Refuses `point` if its value is not finite or it is dated before `start`.
    pub fn check_point(&self, point: &Point) -> Result<(), ProgressError> {
        self.check_point_at("", point)
    }

    /// Refuses `session` if it is dated before `start`.
    pub fn check_session(&self, session: &Session) -> Result<(), ProgressError> {
        self.not_before_start("date", session.date)
    }

    fn check_point_at(&self, prefix: &str, point: &Point) -> Result<(), ProgressError> {
        finite(&format!("{prefix}value"), point.value)?;
        self.not_before_start(&format!("{prefix}date"), point.date)
    }

    fn not_before_start(&self, field: &str, date: NaiveDate) -> Result<(), ProgressError> {
        if date < self.start {
            return Err(ProgressError::BeforeStart {
                field: field.into(),
                date,
                start: self.start,
            });
        }
        Ok(())
    }
}

/// The first point of `points` that `goal` refuses, named `points[i].value` or `.date`.
pub fn validate_points(goal: &Goal, points: &[Point]) -> Result<(), ProgressError> {
    points
        .iter()
        .enumerate()
        .try_for_each(|(i, p)| goal.check_point_at(&format!("points[{i}]."), p))
}

/// The first session of `sessions` that `goal` refuses, named `sessions[i].date`.
pub fn validate_sessions(goal: &Goal, sessions: &[Session]) -> Result<(), ProgressError> {
    sessions
        .iter()
        .enumerate()
        .try_for_each(|(i, s)| goal.not_before_start(&format!("sessions[{i}].date"), s.date))
}

impl Schedule {
    /// A checked schedule: `sessions_per_week`, when given, finite and more than 0.
    pub fn new(sessions_per_week: Option<f64>) -> Result<Schedule, ProgressError> {
        if let Some(n) = sessions_per_week {
            finite("sessions_per_week", n)?;
            if n <= 0.0 {
                return Err(ProgressError::NotPositive {
                    field: "sessions_per_week".into(),
                });
            }
        }
        Ok(Schedule { sessions_per_week })
    }

    pub fn sessions_per_week(&self) -> Option<f64> {
        self.sessions_per_week
    }
}

/// Where a value stands against the aim line, for the goal's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// On the wrong side of the aim line (off aim).
    Behind,
    /// On the line (within one part in 10⁹ of the goal's magnitude).
    On,
    /// On the right side of the aim line (on track).
    Ahead,
}

/// Points as the math reads them: dated on or before `as_of`, finite, sorted by date,
/// one per date (the mean of that date's values).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    points: Vec<Point>,
}

impl Series {
    pub fn new(points: &[Point], as_of: NaiveDate) -> Series {
        let mut kept: Vec<Point> = points
            .iter()
            .filter(|p| p.value.is_finite() && p.date <= as_of)
            .copied()
            .collect();
        // Sorting by value too makes the mean below independent of input order.
        kept.sort_by(|a, b| a.date.cmp(&b.date).then(a.value.total_cmp(&b.value)));
        let points = kept
            .chunk_by(|a, b| a.date == b.date)
            .map(|day| Point {
                date: day[0].date,
                value: mean(day.iter().map(|p| p.value)) + 0.0,
            })
            .collect();
        Series { points }
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    pub fn newest(&self) -> Option<Point> {
        self.points.last().copied()
    }

    /// The least-squares slope in units per week; `None` under
    /// [`MIN_POINTS_FOR_TREND`] points or when it cannot be computed in `f64`.
    pub fn slope_per_week(&self) -> Option<f64> {
        self.trend().map(|t| t.slope_per_week)
    }

    /// The least-squares line (the slope of [`Series::slope_per_week`] through the
    /// mean point); `None` when there is no slope.
    pub fn trend(&self) -> Option<Trend> {
        if self.points.len() < MIN_POINTS_FOR_TREND {
            return None;
        }
        let first = self.points[0].date;
        let xs: Vec<f64> = self
            .points
            .iter()
            .map(|p| days(first, p.date) / 7.0)
            .collect();
        let mean_x = mean(xs.iter().copied());
        let mean_y = mean(self.points.iter().map(|p| p.value));
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, p) in xs.iter().zip(&self.points) {
            sxy += (x - mean_x) * (p.value - mean_y);
            sxx += (x - mean_x) * (x - mean_x);
        }
        if sxx <= 0.0 {
            return None;
        }
        Some(Trend {
            first,
            mean_weeks: mean_x,
            mean_value: mean_y + 0.0,
            slope_per_week: tidy(sxy / sxx)?,
        })
    }

    /// Points in a row, from the newest, on the wrong side of the aim line.
    pub fn points_off_aim(&self, goal: &Goal) -> usize {
        self.run_from_newest(goal, Side::Behind)
    }

    /// Points in a row, from the newest, on the right side of the aim line.
    pub fn points_on_track(&self, goal: &Goal) -> usize {
        self.run_from_newest(goal, Side::Ahead)
    }

    fn run_from_newest(&self, goal: &Goal, side: Side) -> usize {
        self.points
            .iter()
            .rev()
            .take_while(|p| goal.side(p.value, goal.aim_at(p.date)) == side)
            .count()
    }

    /// The newest point's distance from the aim at its date; negative means behind.
    pub fn aim_gap(&self, goal: &Goal) -> Option<f64> {
        let p = self.newest()?;
        let aim = goal.aim_at(p.date);
        match goal.side(p.value, aim) {
            Side::On => Some(0.0),
            _ if goal.direction() == Direction::Increase => tidy(p.value - aim),
            _ => tidy(aim - p.value),
        }
    }

    /// Whether the newest point reached the target (on it or beyond, in the goal's
    /// direction); `None` without points.
    pub fn goal_met(&self, goal: &Goal) -> Option<bool> {
        let p = self.newest()?;
        Some(goal.side(p.value, goal.target) != Side::Behind)
    }
}

/// The least-squares line of a [`Series`]: through the mean point (`mean_weeks`
/// after the first point's date, `mean_value`) with `slope_per_week`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// The date of the series' first point, where the weeks count from.
    pub first: NaiveDate,
    pub mean_weeks: f64,
    pub mean_value: f64,
    pub slope_per_week: f64,
}

impl Trend {
    /// The line's value at `date`; `None` when it cannot be computed in `f64`.
    pub fn value_at(&self, date: NaiveDate) -> Option<f64> {
        let weeks = days(self.first, date) / 7.0 - self.mean_weeks;
        tidy(self.mean_value + self.slope_per_week * weeks)
    }
}

/// Whole weeks completed from `start` to `as_of`; 0 before `start`.
pub fn weeks_active(start: NaiveDate, as_of: NaiveDate) -> u32 {
    let d = (as_of - start).num_days().max(0) / 7;
    u32::try_from(d).unwrap_or(u32::MAX)
}

/// Sessions planned and delivered over the completed weeks, and fidelity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Delivery {
    /// Sessions per week × weeks active, at least 1 once a week has passed; `None`
    /// without a schedule or before the first week is complete.
    pub planned: Option<f64>,
    /// Sessions marked delivered, dated within the completed weeks.
    pub delivered: usize,
    /// `delivered ÷ planned`, capped at 1; `None` when nothing is planned.
    pub fidelity: Option<f64>,
}

/// Delivery of `sessions` against `schedule` from `start` to `as_of`.
pub fn delivery(
    schedule: &Schedule,
    sessions: &[Session],
    start: NaiveDate,
    as_of: NaiveDate,
) -> Delivery {
    let weeks = weeks_active(start, as_of);
    let end = i64::from(weeks) * 7;
    let delivered = sessions
        .iter()
        .filter(|s| s.delivered && (0..end).contains(&(s.date - start).num_days()))
        .count();
    let planned = match schedule.sessions_per_week {
        Some(n) if weeks > 0 => tidy((n * f64::from(weeks)).max(1.0)),
        _ => None,
    };
    let fidelity = planned.and_then(|p| tidy((delivered as f64 / p).min(1.0)));
    Delivery {
        planned,
        delivered,
        fidelity,
    }
}

/// Everything the rules and the report read about one plan's progress on `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub as_of: NaiveDate,
    pub direction: Direction,
    pub weeks_active: u32,
    /// Dated points on or before `as_of` (several on one date count once).
    pub data_points: usize,
    pub newest: Option<Point>,
    /// The aim at the newest point's date.
    pub aim_at_newest: Option<f64>,
    /// The aim on `as_of`.
    pub aim_now: f64,
    pub aim_per_week: Option<f64>,
    pub slope_per_week: Option<f64>,
    /// Negative means behind the aim line.
    pub aim_gap: Option<f64>,
    pub points_off_aim: usize,
    pub points_on_track: usize,
    pub goal_met: Option<bool>,
    pub sessions_planned: Option<f64>,
    pub sessions_delivered: usize,
    pub fidelity: Option<f64>,
}

/// The progress of a plan with `goal`, `points`, `sessions` and `schedule`, as known on
/// `as_of` (points and sessions dated later are not yet known and are left out).
pub fn summarize(
    goal: &Goal,
    points: &[Point],
    sessions: &[Session],
    schedule: &Schedule,
    as_of: NaiveDate,
) -> Summary {
    let series = Series::new(points, as_of);
    let delivery = delivery(schedule, sessions, goal.start, as_of);
    let newest = series.newest();
    Summary {
        as_of,
        direction: goal.direction(),
        weeks_active: weeks_active(goal.start, as_of),
        data_points: series.len(),
        newest,
        aim_at_newest: newest.and_then(|p| tidy(goal.aim_at(p.date))),
        aim_now: goal.aim_at(as_of) + 0.0,
        aim_per_week: goal.aim_per_week(),
        slope_per_week: series.slope_per_week(),
        aim_gap: series.aim_gap(goal),
        points_off_aim: series.points_off_aim(goal),
        points_on_track: series.points_on_track(goal),
        goal_met: series.goal_met(goal),
        sessions_planned: delivery.planned,
        sessions_delivered: delivery.delivered,
        fidelity: delivery.fidelity,
    }
}

/// Days from `a` to `b` as a float.
fn days(a: NaiveDate, b: NaiveDate) -> f64 {
    (b - a).num_days() as f64
}

/// The mean of finite values: exact sum ÷ n where the sum is finite (so 40, 40, 40
/// give exactly 40), else each value ÷ n summed, which stays finite.
fn mean(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count().max(1) as f64;
    let sum: f64 = values.clone().sum();
    if sum.is_finite() {
        sum / n
    } else {
        values.map(|v| v / n).sum()
    }
}

/// `x` when finite, with negative zero read as zero.
fn tidy(x: f64) -> Option<f64> {
    x.is_finite().then_some(x + 0.0)
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;

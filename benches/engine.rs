//! Engine throughput beside a hand-written baseline, in records per second.
//!
//! ```text
//! cargo bench --bench engine                     # everything
//! cargo bench --bench engine -- evaluate_only    # one group
//! ```
//!
//! 2,000 synthetic students (`support/caseload.rs`, seed 7) go through three
//! implementations of the 16 default rules on the record (the rules on plans read plan
//! facts, which no generated student has; the `history` group measures them):
//!
//! - `baseline`: plain Rust over a typed serde record (`support/baseline.rs`);
//! - `intervene`: `record::parse_record` (parse + validate), then
//!   `Evaluator::evaluate` with the shipped `rules/` (a full `Decision`: ids, explanations,
//!   recommendations);
//! - `naive_map`: the rejected design: the record as a Rhai map, rules and derived
//!   indicators written in Rhai over it (`support/naive_map.rs`).
//!
//! Groups: `parse_only`, `evaluate_only` (records pre-parsed; `naive_map` still builds
//! its map per record, since that is its per-evaluation cost), `parse_and_evaluate`,
//! and `history`: the shipped rules without `plans.yaml` (`without_plan_rules`, what
//! a student cost before rules read plans), `Evaluator::evaluate_with` beside
//! `evaluate_with_history` with no plan facts (what a student without plans costs now:
//! the 12 rules on plans land in `insufficient_data`) and with an academic
//! plan's facts for every student (the rules on plans then run instead of landing in
//! `insufficient_data`).
//! One iteration handles all 2,000 records and the throughput is set to 2,000
//! elements, so criterion's `thrpt` reads as records per second on one core.
//!
//! Before timing, the bench checks that `baseline` uses the thresholds in
//! `rules/params.yaml` and that the three implementations fire the same rules on every
//! record; a difference is printed, since a ratio between different answers means little.

#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/caseload.rs"]
mod caseload;
#[path = "support/naive_map.rs"]
mod naive_map;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use intervene::engine::Evaluator;
use intervene::record::{HistoryFacts, Record, Value, parse_record};
use intervene::rules::RuleSet;

const RECORDS: usize = 2_000;
const SEED: u64 = 7;

/// Everything the benchmarks share, built once.
struct Workload {
    lines: Vec<String>,
    ruleset: RuleSet,
    evaluator: Evaluator,
    /// The same rules with every condition run in Rhai (no native comparisons).
    scripted: Evaluator,
    naive: naive_map::NaiveRules,
}

impl Workload {
    fn new() -> Self {
        let rules_dir = manifest_dir().join("rules");
        let ruleset = RuleSet::load_dir(&rules_dir).unwrap_or_else(|e| {
            panic!("the rule set in {} does not load: {e}", rules_dir.display())
        });
        Self {
            lines: caseload::generate(RECORDS, SEED),
            ruleset,
            evaluator: Evaluator::new(),
            scripted: Evaluator::scripted_only(),
            naive: naive_map::NaiveRules::new(),
        }
    }

    fn baseline_records(&self) -> Vec<baseline::BaselineRecord> {
        let parse = |l: &String| baseline::parse(l).expect("a generated record parses (baseline)");
        self.lines.iter().map(parse).collect()
    }

    fn intervene_records(&self) -> Vec<Record> {
        let parse = |l: &String| parse_record(l).expect("a generated record parses (intervene)");
        self.lines.iter().map(parse).collect()
    }

    fn json_values(&self) -> Vec<serde_json::Value> {
        let parse = |l: &String| serde_json::from_str(l).expect("a generated record is JSON");
        self.lines.iter().map(parse).collect()
    }

    fn intervene_fired(&self, record: &Record) -> Vec<String> {
        let decision = self.evaluator.evaluate(&self.ruleset, record);
        decision.flags.into_iter().map(|f| f.rule_id).collect()
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Panics when `baseline::params` and `rules/params.yaml` disagree: the baseline would
/// then be answering a different question.
fn check_baseline_params(rules_dir: &Path) {
    let path = rules_dir.join("params.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let yaml: serde_yaml::Mapping = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a mapping: {e}", path.display()));
    let mut in_file: Vec<(String, f64)> = yaml
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.get("value")?.as_f64()?)))
        .collect();
    in_file.sort_by(|a, b| a.0.cmp(&b.0));
    let mut in_baseline: Vec<(String, f64)> = baseline::params::ALL
        .iter()
        .map(|&(k, v)| (k.to_owned(), v))
        .collect();
    in_baseline.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        in_file, in_baseline,
        "rules/params.yaml changed: update benches/support/baseline.rs (left: the file, right: the baseline)"
    );
}

/// Reports records on which `intervene` or `naive_map` fire other rules than `baseline`.
fn check_agreement(w: &Workload) {
    let (mut intervene_diff, mut naive_diff) = (0, 0);
    for line in &w.lines {
        let mut expected: Vec<String> =
            baseline::fired(&baseline::parse(line).expect("baseline parses"))
                .into_iter()
                .map(str::to_owned)
                .collect();
        expected.sort();
        let mut by_intervene = w.intervene_fired(&parse_record(line).expect("intervene parses"));
        by_intervene.sort();
        let value = serde_json::from_str(line).expect("a generated record is JSON");
        let mut by_naive: Vec<String> = w
            .naive
            .fired(naive_map::student_map(&value))
            .into_iter()
            .map(str::to_owned)
            .collect();
        by_naive.sort();
        for (name, got, count) in [
            ("intervene", &by_intervene, &mut intervene_diff),
            ("naive_map", &by_naive, &mut naive_diff),
        ] {
            if *got != expected {
                *count += 1;
                if *count <= 3 {
                    eprintln!(
                        "{name} disagrees with baseline: baseline {expected:?}, {name} {got:?} on\n  {line}"
                    );
                }
            }
        }
    }
    eprintln!(
        "agreement with baseline on {} records: intervene differs on {intervene_diff}, naive_map on {naive_diff}",
        w.lines.len()
    );
}

/// A group whose every iteration handles all the records: `thrpt` is records per second.
fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(RECORDS as u64));
    // One iteration of the slow variants takes tens of milliseconds: flat sampling keeps
    // the run short without dropping below a few hundred iterations of the fast ones.
    g.sampling_mode(SamplingMode::Flat);
    g
}

fn parse_only(c: &mut Criterion, w: &Workload) {
    let mut g = group(c, "parse_only");
    g.bench_function("baseline", |b| {
        b.iter(|| {
            for l in &w.lines {
                black_box(baseline::parse(l).expect("parses"));
            }
        })
    });
    g.bench_function("intervene", |b| {
        b.iter(|| {
            for l in &w.lines {
                black_box(parse_record(l).expect("parses"));
            }
        })
    });
    g.bench_function("naive_map", |b| {
        b.iter(|| {
            for l in &w.lines {
                let value: serde_json::Value = serde_json::from_str(l).expect("parses");
                black_box(&naive_map::student_map(&value));
            }
        })
    });
    g.finish();
}

fn evaluate_only(c: &mut Criterion, w: &Workload) {
    let (base, records, values) = (w.baseline_records(), w.intervene_records(), w.json_values());
    let mut g = group(c, "evaluate_only");
    g.bench_function("baseline", |b| {
        b.iter(|| {
            base.iter()
                .map(|r| baseline::fired(black_box(r)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("intervene", |b| {
        b.iter(|| {
            let eval = |r: &Record| w.evaluator.evaluate(&w.ruleset, black_box(r)).flags.len();
            records.iter().map(eval).sum::<usize>()
        })
    });
    g.bench_function("intervene_rhai_only", |b| {
        b.iter(|| {
            let eval = |r: &Record| w.scripted.evaluate(&w.ruleset, black_box(r)).flags.len();
            records.iter().map(eval).sum::<usize>()
        })
    });
    g.bench_function("naive_map", |b| {
        b.iter(|| {
            let eval =
                |v: &serde_json::Value| w.naive.fired(naive_map::student_map(black_box(v))).len();
            values.iter().map(eval).sum::<usize>()
        })
    });
    g.finish();
}

fn parse_and_evaluate(c: &mut Criterion, w: &Workload) {
    let mut g = group(c, "parse_and_evaluate");
    g.bench_function("baseline", |b| {
        b.iter(|| {
            let eval = |l: &String| baseline::fired(&baseline::parse(l).expect("parses")).len();
            w.lines.iter().map(eval).sum::<usize>()
        })
    });
    g.bench_function("intervene", |b| {
        b.iter(|| {
            let eval = |l: &String| {
                let record = parse_record(l).expect("parses");
                w.evaluator.evaluate(&w.ruleset, &record).flags.len()
            };
            w.lines.iter().map(eval).sum::<usize>()
        })
    });
    g.bench_function("naive_map", |b| {
        b.iter(|| {
            let eval = |l: &String| {
                let value: serde_json::Value = serde_json::from_str(l).expect("parses");
                w.naive.fired(naive_map::student_map(&value)).len()
            };
            w.lines.iter().map(eval).sum::<usize>()
        })
    });
    g.finish();
}

/// The facts of a student in week 6 of a tier 2 reading plan that is not working.
fn plan_student() -> HistoryFacts {
    let mut h = HistoryFacts::new();
    for (k, v) in [
        ("active", Value::Bool(true)),
        ("tier", Value::Int(2)),
        ("intervention", Value::Text("small-group-reading".into())),
        ("weeks_active", Value::Int(6)),
        ("data_points", Value::Int(6)),
        ("slope_per_week", Value::Num(0.4)),
        ("aim_gap", Value::Num(-5.0)),
        ("behind_aim", Value::Num(5.0)),
        ("aim_now", Value::Num(62.0)),
        ("points_off_aim", Value::Int(4)),
        ("points_on_track", Value::Int(0)),
        ("fidelity", Value::Num(1.0)),
        ("goal_met", Value::Bool(false)),
    ] {
        h.insert(format!("plans.academic.{k}"), v);
    }
    h.insert("history.academic.prev_tier", Value::Int(2));
    h.insert("history.academic.weeks_at_tier", Value::Int(7));
    h
}

/// The shipped rules without the decision rules on plans (`plans.yaml`), from a
/// temporary copy: what evaluation cost before rules could read plan facts.
fn without_plan_rules() -> RuleSet {
    let dir = tempfile::tempdir().expect("a temp dir");
    let copy = |from: &Path, to: &Path| {
        for e in std::fs::read_dir(from).expect("rules dir").flatten() {
            let (path, name) = (e.path(), e.file_name());
            if name == "plans.yaml" || path.is_dir() {
                continue;
            }
            std::fs::copy(&path, to.join(&name)).expect("copy a rule file");
        }
    };
    let rules = manifest_dir().join("rules");
    copy(&rules, dir.path());
    std::fs::create_dir(dir.path().join("lib")).expect("lib dir");
    copy(&rules.join("lib"), &dir.path().join("lib"));
    RuleSet::load_dir(dir.path()).expect("the rules without plans.yaml load")
}

fn history(c: &mut Criterion, w: &Workload) {
    let records = w.intervene_records();
    let (none, plan) = (HistoryFacts::default(), plan_student());
    let mut g = group(c, "history");
    let before = without_plan_rules();
    g.bench_function("without_plan_rules", |b| {
        b.iter(|| {
            let eval = |r: &Record| {
                let d = w
                    .evaluator
                    .evaluate_with(&before, black_box(r), "d".into(), "t".into());
                d.flags.len()
            };
            records.iter().map(eval).sum::<usize>()
        })
    });
    let run = |history: Option<&HistoryFacts>| {
        let eval = |r: &Record| {
            let d = match history {
                None => w
                    .evaluator
                    .evaluate_with(&w.ruleset, black_box(r), "d".into(), "t".into()),
                Some(h) => w.evaluator.evaluate_with_history(
                    &w.ruleset,
                    black_box(r),
                    black_box(h),
                    "d".into(),
                    "t".into(),
                ),
            };
            d.flags.len()
        };
        records.iter().map(eval).sum::<usize>()
    };
    g.bench_function("without_history", |b| b.iter(|| run(None)));
    g.bench_function("empty_history", |b| b.iter(|| run(Some(&none))));
    g.bench_function("plan_student", |b| b.iter(|| run(Some(&plan))));
    g.finish();
}

fn benches(c: &mut Criterion) {
    check_baseline_params(&manifest_dir().join("rules"));
    let w = Workload::new();
    check_agreement(&w);
    parse_only(c, &w);
    evaluate_only(c, &w);
    parse_and_evaluate(c, &w);
    history(c, &w);
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(6));
    targets = benches
}
criterion_main!(engine);

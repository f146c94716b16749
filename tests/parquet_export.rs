//! `intervene audit export --format parquet`: every Parquet row read back with the
//! parquet crate's Arrow reader and checked against the NDJSON export of the same
//! log (seqs, students, tiers, rule ids, domains, inputs, tombstones), across
//! months, incrementally with `--since` (only new files; their union is the whole
//! log, purges since the last run included), and the options it refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use intervene::audit::{EntryKind, NewEntry, Source as Origin, Store, decision_entry};
use intervene::cli::CliError;
use intervene::cli::parquet::{Source, export as export_to};
use intervene::engine::Evaluator;
use intervene::record::{Record, parse_record};
use intervene::rules::RuleSet;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value, json};

#[path = "support/run.rs"]
mod run;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn intervene(args: &[&str]) -> Out {
    let out = run::run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_intervene"))
            .args(args)
            .current_dir(root()),
        None,
        Duration::from_secs(120),
    );
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn rules() -> RuleSet {
    RuleSet::load_dir(&root().join("rules")).unwrap_or_else(|e| panic!("{e}"))
}

/// The shipped caseload fixture's records (300 students, varied enough that every
/// domain's rules and some strengths fire).
fn records() -> Vec<Record> {
    std::fs::read_to_string(root().join("fixtures/caseload.ndjson"))
        .unwrap()
        .lines()
        .map(|l| parse_record(l).unwrap())
        .collect()
}

/// The same students a few weeks on: lower grades and attendance, so their tiers
/// move.
fn later(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            v["gpa"] = json!(0.8);
            if let Some(a) = v.get_mut("attendance").and_then(Value::as_object_mut)
                && let Some(enrolled) = a.get("days_enrolled").and_then(Value::as_f64)
            {
                a.insert("days_present".into(), json!((enrolled * 0.85).floor()));
            }
            parse_record(&v.to_string()).unwrap()
        })
        .collect()
}

/// Append decisions for `records[range]`, evaluated at `evaluated_at`.
fn decide(store: &Store, rules: &RuleSet, records: &[Record], evaluated_at: &str) {
    let ev = Evaluator::new();
    for (i, r) in records.iter().enumerate() {
        let d = ev.evaluate_with(
            rules,
            r,
            format!("D-{}-{i}", r.student_id),
            evaluated_at.into(),
        );
        let e = decision_entry(
            &d,
            r,
            rules,
            Origin::Import { line: i as u64 + 1 },
            "test",
            "",
        );
        store.append_blocking(e).unwrap();
    }
}

/// A cutoff between the entries appended before and after it.
fn cutoff() -> String {
    std::thread::sleep(Duration::from_millis(5));
    let c = intervene::audit::now();
    std::thread::sleep(Duration::from_millis(5));
    c
}

fn ndjson(data: &Path, since: Option<u64>) -> Vec<Value> {
    let mut args = vec!["audit", "export", "--data", data.to_str().unwrap()];
    let since = since.map(|s| s.to_string());
    if let Some(s) = &since {
        args.extend(["--since", s]);
    }
    let r = intervene(&args);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn export_parquet(data: &Path, out: &Path, since: Option<u64>) -> Out {
    let mut args = vec![
        "audit",
        "export",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "parquet",
        "--out",
        out.to_str().unwrap(),
    ];
    let since = since.map(|s| s.to_string());
    if let Some(s) = &since {
        args.extend(["--since", s]);
    }
    intervene(&args)
}

// ---------------------------------------------------------------------------------
// What the rows must be, from the NDJSON lines

fn millis(t: &str) -> Value {
    json!(
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    )
}

fn month(e: &Value) -> String {
    e["at"].as_str().unwrap()[..7].to_string()
}

/// The `decisions` row of a `decision` entry.
fn decision_row(e: &Value) -> Value {
    let p = &e["payload"];
    let mut row = json!({
        "seq": e["seq"], "entry_at": millis(e["at"].as_str().unwrap()), "hash": e["hash"],
        "purged_by": e.get("purged_by").cloned().unwrap_or(Value::Null),
        "actor": e["actor"],
    });
    let cols = row.as_object_mut().unwrap();
    let names = [
        "decision_id",
        "student_id",
        "school_id",
        "grade_level",
        "evaluated_at",
        "ruleset_version",
        "highest_tier",
        "tier_attendance",
        "tier_academic",
        "tier_behavioral",
        "tier_social_emotional",
        "rule_ids",
        "strengths",
        "source_kind",
        "source_event_id",
        "source_event_type",
        "source_line",
        "record_sha256",
    ];
    if p.is_null() {
        for n in names {
            cols.insert(n.into(), Value::Null);
        }
        return row;
    }
    let d = &p["decision"];
    let tiers = d["tiers"].as_object().unwrap();
    let ids = |list: &Value| {
        json!(
            list.as_array()
                .map(|a| a.iter().map(|f| f["rule_id"].clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        )
    };
    let values = [
        p["decision_id"].clone(),
        p["student_id"].clone(),
        p.get("school_id").cloned().unwrap_or(Value::Null),
        p.get("grade_level").cloned().unwrap_or(Value::Null),
        millis(d["evaluated_at"].as_str().unwrap()),
        p["ruleset_version"].clone(),
        json!(tiers.values().filter_map(Value::as_i64).max().unwrap_or(0)),
        tiers["attendance"].clone(),
        tiers["academic"].clone(),
        tiers["behavioral"].clone(),
        tiers["social_emotional"].clone(),
        ids(&d["flags"]),
        ids(&d["strengths"]),
        p["source"]["kind"].clone(),
        p["source"].get("event_id").cloned().unwrap_or(Value::Null),
        p["source"]
            .get("event_type")
            .cloned()
            .unwrap_or(Value::Null),
        p["source"].get("line").cloned().unwrap_or(Value::Null),
        p["record_sha256"].clone(),
    ];
    for (n, v) in names.into_iter().zip(values) {
        cols.insert(n.into(), v);
    }
    row
}

/// The `flags` rows of a `decision` entry (none for a tombstone).
fn flag_rows(e: &Value) -> Vec<Value> {
    let p = &e["payload"];
    if p.is_null() {
        return Vec::new();
    }
    let d = &p["decision"];
    d["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut numbers = Map::new();
            let mut texts = Map::new();
            for (k, v) in f["inputs"].as_object().unwrap() {
                match v.as_f64() {
                    Some(n) => numbers.insert(k.clone(), json!(n)),
                    None => texts.insert(k.clone(), json!(v.to_string())),
                };
            }
            json!({
                "seq": e["seq"], "decision_id": p["decision_id"], "student_id": p["student_id"],
                "school_id": p.get("school_id").cloned().unwrap_or(Value::Null),
                "grade_level": p.get("grade_level").cloned().unwrap_or(Value::Null),
                "evaluated_at": millis(d["evaluated_at"].as_str().unwrap()),
                "rule_id": f["rule_id"], "domain": f["domain"], "tier": f["tier"],
                "inputs": numbers,
                "inputs_text": if texts.is_empty() { Value::Null } else { Value::Object(texts) },
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Reading the files back

/// One cell as JSON: integers and timestamps as numbers (milliseconds), strings,
/// lists as arrays, maps as objects.
fn cell(a: &ArrayRef, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Int64 => json!(a.as_primitive::<Int64Type>().value(i)),
        DataType::Int32 => json!(a.as_primitive::<Int32Type>().value(i)),
        DataType::Float64 => json!(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => json!(a.as_string::<i32>().value(i)),
        DataType::Timestamp(_, tz) => {
            assert_eq!(tz.as_deref(), Some("UTC"), "timestamps are UTC");
            json!(a.as_primitive::<TimestampMillisecondType>().value(i))
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>().value(i);
            Value::Array((0..l.len()).map(|j| cell(&l, j)).collect())
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let entries = m.value(i);
            let (k, v) = (entries.column(0), entries.column(1));
            let mut out = Map::new();
            for j in 0..entries.len() {
                out.insert(cell(k, j).as_str().unwrap().to_string(), cell(v, j));
            }
            Value::Object(out)
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// A part file read back: where it is, what its name says, its rows.
#[derive(Debug)]
struct Part {
    path: PathBuf,
    month: String,
    first: u64,
    last: u64,
    rows: Vec<Value>,
}

/// Every `part-*.parquet` of `dataset` under `out`, in name order; asserts nothing
/// else (a temporary file) was left there.
fn parts(out: &Path, dataset: &str) -> Vec<Part> {
    let mut found = Vec::new();
    let dir = out.join(dataset);
    if !dir.exists() {
        return found;
    }
    for m in std::fs::read_dir(&dir).unwrap() {
        let m = m.unwrap().path();
        let name = m.file_name().unwrap().to_str().unwrap().to_string();
        let month = name.strip_prefix("month=").expect("hive-style directory");
        for f in std::fs::read_dir(&m).unwrap() {
            let path = f.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_string();
            let stem = file
                .strip_prefix("part-")
                .and_then(|s| s.strip_suffix(".parquet"))
                .unwrap_or_else(|| panic!("not a part file: {}", path.display()));
            let mut range = stem.split(['-']);
            let first = range.next().unwrap().parse().unwrap();
            let last = range.next().unwrap().parse().unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                .unwrap()
                .build()
                .unwrap();
            let mut rows = Vec::new();
            for batch in reader {
                let batch = batch.unwrap();
                let schema = batch.schema();
                for i in 0..batch.num_rows() {
                    let mut row = Map::new();
                    for (c, f) in batch.columns().iter().zip(schema.fields()) {
                        row.insert(f.name().clone(), cell(c, i));
                    }
                    rows.push(Value::Object(row));
                }
            }
            found.push(Part {
                path,
                month: month.to_string(),
                first,
                last,
                rows,
            });
        }
    }
    found.sort_by_key(|p| (p.first, p.path.clone()));
    found
}

/// Each part's name tells its month and the first and last seq of its rows, in
/// ascending order; `month_of` gives each seq's month.
fn check_names(parts: &[Part], month_of: &BTreeMap<u64, String>) {
    for p in parts {
        let seqs: Vec<u64> = p.rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
        assert!(!seqs.is_empty(), "{} is empty", p.path.display());
        assert!(seqs.is_sorted(), "{} not in seq order", p.path.display());
        assert_eq!(
            (seqs[0], *seqs.last().unwrap()),
            (p.first, p.last),
            "{}",
            p.path.display()
        );
        for s in seqs {
            assert_eq!(month_of[&s], p.month, "entry {s} in {}", p.path.display());
        }
    }
}

fn rows(parts: &[Part]) -> Vec<Value> {
    parts.iter().flat_map(|p| p.rows.clone()).collect()
}

/// The Parquet files under `out` hold exactly the decisions and flags of `entries`
/// (an NDJSON export), row for row.
fn check_against(out: &Path, entries: &[Value]) {
    let decisions: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "decision").collect();
    let month_of: BTreeMap<u64, String> = decisions
        .iter()
        .map(|e| (e["seq"].as_u64().unwrap(), month(e)))
        .collect();
    let d = parts(out, "decisions");
    let f = parts(out, "flags");
    check_names(&d, &month_of);
    check_names(&f, &month_of);
    let want: Vec<Value> = decisions.iter().map(|e| decision_row(e)).collect();
    let got = rows(&d);
    assert_eq!(got.len(), want.len(), "decision rows");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    let want: Vec<Value> = decisions.iter().flat_map(|e| flag_rows(e)).collect();
    let got = rows(&f);
    assert_eq!(got.len(), want.len(), "flag rows");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

// ---------------------------------------------------------------------------------
// Tests

/// A store in a temporary directory: 40 decisions, the first 15 purged (tombstones),
/// a non-decision entry between them, then 25 more decisions.
fn store_with_tombstones(rules: &RuleSet, records: &[Record]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = Store::open(&data, None).unwrap();
    decide(&store, rules, &records[..15], "2026-09-14T08:00:00Z");
    let cut = cutoff();
    store
        .append_blocking(NewEntry::new(
            EntryKind::AuditRead,
            "test",
            "",
            json!({"what": "not a decision"}),
        ))
        .unwrap();
    decide(&store, rules, &records[15..40], "2026-10-02T08:00:00Z");
    let purged = store.purge_before(&cut, "test", "").unwrap();
    assert_eq!(purged.purged, 15);
    decide(
        &store,
        rules,
        &later(&records[15..40]),
        "2026-10-03T08:00:00Z",
    );
    store.shutdown();
    (tmp, data)
}

#[test]
fn the_cli_writes_every_decision_and_flag_of_the_ndjson_export() {
    let (rules, records) = (rules(), records());
    let (tmp, data) = store_with_tombstones(&rules, &records);
    let out = tmp.path().join("warehouse");
    let r = export_parquet(&data, &out, None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let entries = ndjson(&data, None);
    let head = entries.last().unwrap()["seq"].as_u64().unwrap();
    check_against(&out, &entries);

    let tombstones = rows(&parts(&out, "decisions"))
        .into_iter()
        .filter(|r| !r["purged_by"].is_null())
        .count();
    assert_eq!(tombstones, 15);
    let flags = rows(&parts(&out, "flags"));
    assert!(flags.len() > 50, "{} flags", flags.len());
    let domains: BTreeSet<&str> = flags
        .iter()
        .map(|f| f["domain"].as_str().unwrap())
        .collect();
    assert!(domains.len() >= 3, "{domains:?}");
    assert!(
        r.stdout.contains(&format!("--since {head}")),
        "tells the next --since: {}",
        r.stdout
    );
    assert!(r.stdout.contains("15 purged decisions"), "{}", r.stdout);
    assert!(
        r.stdout.contains("wrote decisions/month="),
        "names the files: {}",
        r.stdout
    );
}

/// The store's lines, with the entries up to each bound moved to an earlier month
/// (the store stamps `at` with the clock, so one run cannot span months).
struct Shifted {
    store: Store,
    months: Vec<(u64, &'static str)>,
}

impl Source for Shifted {
    fn head(&self) -> Result<u64, CliError> {
        self.store.head()
    }

    fn lines_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, CliError> {
        let lines = self.store.lines_after(after, limit)?;
        Ok(lines
            .into_iter()
            .map(|(seq, line)| {
                let Some((_, m)) = self.months.iter().find(|(upto, _)| seq <= *upto) else {
                    return (seq, line);
                };
                let text = String::from_utf8(line).unwrap();
                let at = text.find("\"at\":\"").unwrap() + 6;
                let shifted = format!("{}{m}{}", &text[..at], &text[at + 7..]);
                (seq, shifted.into_bytes())
            })
            .collect())
    }
}

fn lines_of(source: &impl Source) -> Vec<Value> {
    source
        .lines_after(0, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|(_, l)| serde_json::from_slice(&l).unwrap())
        .collect()
}

#[test]
fn entries_of_three_months_go_to_three_partitions() {
    let (rules, records) = (rules(), records());
    let (tmp, data) = store_with_tombstones(&rules, &records);
    let source = Shifted {
        store: Store::open_to_inspect(&data).unwrap(),
        months: vec![(10, "2026-08"), (30, "2026-09")],
    };
    let out = tmp.path().join("warehouse");
    let summary = export_to(&source, &out, 0).unwrap();
    // To look at the files with DuckDB (the notes' sample output): set this.
    if let Some(keep) = std::env::var_os("PARQUET_EXPORT_KEEP") {
        export_to(&source, Path::new(&keep), 0).unwrap();
    }
    let entries = lines_of(&source);
    check_against(&out, &entries);
    let months: BTreeSet<String> = parts(&out, "decisions")
        .iter()
        .map(|p| p.month.clone())
        .collect();
    assert_eq!(months.len(), 3, "{months:?}");
    assert!(months.contains("2026-08") && months.contains("2026-09"));
    assert_eq!(summary.decisions + summary.tombstones, 65);
    assert_eq!(summary.tombstones, 15);
    // The non-decision entry and the purge entry.
    assert_eq!(summary.other_entries, 2);
    let files: BTreeSet<PathBuf> = summary.files.iter().map(|w| out.join(&w.path)).collect();
    let on_disk: BTreeSet<PathBuf> = parts(&out, "decisions")
        .into_iter()
        .chain(parts(&out, "flags"))
        .map(|p| p.path)
        .collect();
    assert_eq!(files, on_disk);
}

#[test]
fn inputs_that_are_not_numbers_go_to_inputs_text() {
    // A rule set of a district may read a flag or a code; the shipped rules read
    // only numbers, so this decision line is written by hand in the logged shape.
    struct One(Vec<u8>);
    impl Source for One {
        fn head(&self) -> Result<u64, CliError> {
            Ok(1)
        }
        fn lines_after(&self, after: u64, _: usize) -> Result<Vec<(u64, Vec<u8>)>, CliError> {
            Ok(if after == 0 {
                vec![(1, self.0.clone())]
            } else {
                vec![]
            })
        }
    }
    let line = json!({
        "seq": 1, "kind": "decision", "at": "2026-09-30T23:59:59.999Z", "actor": "api",
        "request_id": "r", "payload": {
            "student_id": "S1", "decision_id": "D1", "ruleset_version": "v", "rule_ids": ["ell"],
            "source": {"kind": "event", "event_id": "E1", "event_type": "attendance"},
            "record_sha256": "ab", "record": {"student_id": "S1"},
            "decision": {
                "decision_id": "D1", "student_id": "S1", "evaluated_at": "2026-10-01T00:00:00Z",
                "ruleset_version": "v", "recommendations": [], "insufficient_data": [],
                "rule_errors": [],
                "tiers": {"attendance": 0, "academic": 3, "behavioral": 0, "social_emotional": 0},
                "flags": [{"rule_id": "ell", "domain": "academic", "tier": 3, "explanation": "x",
                           "inputs": {"student.programs.ell": true, "student.code": "X1",
                                      "student.gpa": 1.5, "params.min": 2}}]
            }
        },
        "prev_hash": "00", "hash": "11"
    });
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("w");
    export_to(&One(line.to_string().into_bytes()), &out, 0).unwrap();
    check_against(&out, &[line]);
    let f = rows(&parts(&out, "flags"));
    assert_eq!(
        f[0]["inputs"],
        json!({"student.gpa": 1.5, "params.min": 2.0})
    );
    assert_eq!(
        f[0]["inputs_text"],
        json!({"student.programs.ell": "true", "student.code": "\"X1\""})
    );
    // Partitioned by the entry's `at` (September), not `evaluated_at` (October).
    assert_eq!(parts(&out, "flags")[0].month, "2026-09");
    let d = rows(&parts(&out, "decisions"));
    assert_eq!(d[0]["source_event_id"], "E1");
    assert_eq!(d[0]["highest_tier"], 3);
}

#[test]
fn since_writes_only_new_parts_and_their_union_is_the_whole_log() {
    let (rules, records) = (rules(), records());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("warehouse");

    // Night 1: 10 decisions purged, 20 kept.
    let store = Store::open(&data, None).unwrap();
    decide(&store, &rules, &records[..10], "2026-09-01T08:00:00Z");
    let cut1 = cutoff();
    decide(&store, &rules, &records[10..30], "2026-09-02T08:00:00Z");
    store.purge_before(&cut1, "test", "").unwrap();
    store.shutdown();
    drop(store);
    let r = export_parquet(&data, &out, None);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let night1 = ndjson(&data, None);
    check_against(&out, &night1);
    let head1 = night1.last().unwrap()["seq"].as_u64().unwrap();
    assert!(
        r.stdout.contains(&format!("--since {head1}")),
        "{}",
        r.stdout
    );
    let before: BTreeMap<PathBuf, Vec<u8>> = parts(&out, "decisions")
        .into_iter()
        .chain(parts(&out, "flags"))
        .map(|p| {
            let bytes = std::fs::read(&p.path).unwrap();
            (p.path, bytes)
        })
        .collect();

    // Day 2: 20 more decisions, then a purge that takes the 20 kept last night (late
    // tombstones) and the first 8 of today's (tombstones in the new window).
    let store = Store::open(&data, None).unwrap();
    decide(&store, &rules, &records[30..38], "2026-09-03T08:00:00Z");
    let cut2 = cutoff();
    decide(&store, &rules, &records[38..50], "2026-09-03T09:00:00Z");
    let report = store.purge_before(&cut2, "test", "").unwrap();
    assert_eq!(report.purged, 28);
    store.shutdown();
    drop(store);

    let r = export_parquet(&data, &out, Some(head1));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("20 tombstones for decisions exported before"),
        "{}",
        r.stdout
    );

    // Last night's files are untouched; every other file is new.
    let all: Vec<Part> = parts(&out, "decisions")
        .into_iter()
        .chain(parts(&out, "flags"))
        .collect();
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }
    let new: Vec<&Part> = all
        .iter()
        .filter(|p| !before.contains_key(&p.path))
        .collect();
    assert!(!new.is_empty());

    // The new files against tonight's NDJSON after head1 ...
    let window = ndjson(&data, Some(head1));
    assert!(window.iter().all(|e| e["seq"].as_u64().unwrap() > head1));
    let late: Vec<&Part> = new
        .iter()
        .copied()
        .filter(|p| p.path.to_str().unwrap().contains("-purged-by-"))
        .collect();
    assert_eq!(late.iter().map(|p| p.rows.len()).sum::<usize>(), 20);
    let fresh_decisions: Vec<Value> = new
        .iter()
        .filter(|p| {
            p.path.starts_with(out.join("decisions")) && !late.iter().any(|l| l.path == p.path)
        })
        .flat_map(|p| p.rows.clone())
        .collect();
    let want: Vec<Value> = window
        .iter()
        .filter(|e| e["kind"] == "decision")
        .map(decision_row)
        .collect();
    assert_eq!(fresh_decisions, want);

    // ... and the union, each seq's tombstone winning over a row exported before
    // its purge, is the whole log as it is now.
    let now = ndjson(&data, None);
    let mut union: BTreeMap<u64, Value> = BTreeMap::new();
    for row in rows(&parts(&out, "decisions")) {
        let seq = row["seq"].as_u64().unwrap();
        let purged = !row["purged_by"].is_null();
        if purged || !union.contains_key(&seq) {
            union.insert(seq, row);
        }
    }
    let want: BTreeMap<u64, Value> = now
        .iter()
        .filter(|e| e["kind"] == "decision")
        .map(|e| (e["seq"].as_u64().unwrap(), decision_row(e)))
        .collect();
    assert_eq!(union.len(), want.len());
    for (seq, w) in &want {
        assert_eq!(&union[seq], w, "entry {seq}");
    }
    let purged: BTreeSet<u64> = union
        .iter()
        .filter(|(_, r)| !r["purged_by"].is_null())
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(purged.len(), 38);
    let live_flags: Vec<Value> = rows(&parts(&out, "flags"))
        .into_iter()
        .filter(|f| !purged.contains(&f["seq"].as_u64().unwrap()))
        .collect();
    let want: Vec<Value> = now
        .iter()
        .filter(|e| e["kind"] == "decision")
        .flat_map(flag_rows)
        .collect();
    assert_eq!(live_flags, want);

    // Nothing new: nothing written.
    let head2 = now.last().unwrap()["seq"].as_u64().unwrap();
    let r = export_parquet(&data, &out, Some(head2));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("nothing to export"), "{}", r.stdout);
    assert_eq!(
        parts(&out, "decisions").len() + parts(&out, "flags").len(),
        all.len()
    );
}

#[test]
fn refuses_since_past_the_head_an_out_that_is_a_file_and_a_range_exported_before() {
    let (rules, records) = (rules(), records());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = Store::open(&data, None).unwrap();
    decide(&store, &rules, &records[..5], "2026-09-01T08:00:00Z");
    store.shutdown();
    drop(store);
    let out = tmp.path().join("warehouse");

    let r = export_parquet(&data, &out, Some(6));
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("`--since 6` is past the end of the audit log (its last entry is 5)"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "nothing written");
    let ndjson = intervene(&[
        "audit",
        "export",
        "--data",
        data.to_str().unwrap(),
        "--since",
        "9",
    ]);
    assert_eq!(ndjson.code, Some(1));
    assert!(
        ndjson.stderr.contains("`--since 9` is past the end"),
        "{}",
        ndjson.stderr
    );
    assert!(ndjson.stdout.is_empty());

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let r = export_parquet(&data, &file, None);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("`--out") && r.stderr.contains("is a file"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"x");

    let r = intervene(&[
        "audit",
        "export",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "parquet",
    ]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("needs `--out DIR`"), "{}", r.stderr);
    let r = intervene(&[
        "audit",
        "export",
        "--data",
        data.to_str().unwrap(),
        "--out",
        "x",
    ]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("`--out` is for `--format parquet`"),
        "{}",
        r.stderr
    );

    // The same range again: refused, and the part written first is kept as it was.
    assert_eq!(export_parquet(&data, &out, Some(2)).code, Some(0));
    let first = parts(&out, "decisions");
    let bytes = std::fs::read(&first[0].path).unwrap();
    let r = export_parquet(&data, &out, Some(2));
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(std::fs::read(&first[0].path).unwrap(), bytes);
    // Rows 3 to 5 only, and no temporary file left behind.
    let seqs: Vec<u64> = rows(&first)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(parts(&out, "decisions").len(), 1);
    for m in std::fs::read_dir(out.join("flags")).unwrap() {
        for f in std::fs::read_dir(m.unwrap().path()).unwrap() {
            let name = f.unwrap().file_name();
            assert!(
                !name.to_str().unwrap().starts_with('.'),
                "{name:?} left behind"
            );
        }
    }
}

#[test]
fn a_long_log_goes_out_in_row_groups_of_65536() {
    // 70,000 decisions of one month: two row groups per file, every seq once.
    struct Many(u64);
    impl Source for Many {
        fn head(&self) -> Result<u64, CliError> {
            Ok(self.0)
        }
        fn lines_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, CliError> {
            Ok((after + 1..=self.0.min(after + limit as u64))
                .map(|seq| {
                    let line = format!(
                        r#"{{"seq":{seq},"kind":"decision","at":"2026-11-02T10:00:00.000Z","actor":"api","request_id":"","payload":{{"student_id":"S{seq}","decision_id":"D{seq}","ruleset_version":"v","rule_ids":["r"],"source":{{"kind":"api"}},"record_sha256":"h","record":{{}},"decision":{{"evaluated_at":"2026-11-02T10:00:00Z","tiers":{{"academic":1}},"flags":[{{"rule_id":"r","domain":"academic","tier":1,"inputs":{{"x":{seq}}}}}]}}}},"prev_hash":"p","hash":"h{seq}"}}"#
                    );
                    (seq, line.into_bytes())
                })
                .collect())
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("w");
    let summary = export_to(&Many(70_000), &out, 0).unwrap();
    assert_eq!((summary.decisions, summary.flags), (70_000, 70_000));
    for dataset in ["decisions", "flags"] {
        let path = out.join(dataset).join("month=2026-11/part-1-70000.parquet");
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [65_536, 70_000 - 65_536], "{dataset}");
        let mut next = 1;
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let seqs = batch
                .column_by_name("seq")
                .unwrap()
                .as_primitive::<Int64Type>();
            for s in seqs.values() {
                assert_eq!(*s, next);
                next += 1;
            }
        }
        assert_eq!(next, 70_001);
    }
}

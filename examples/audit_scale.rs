//! The audit log at district scale: builds a store of millions of decision entries
//! through the real writer, then measures what an operator and an auditor feel.
//!
//! ```text
//! cargo run --release --example audit_scale -- --data /var/tmp/scale [--entries 5000000]
//!     [--students 250000] [--samples 2000] [--seed 7] [--skip-build]
//! ```
//!
//! **Build** (skipped with `--skip-build`, or when the store already holds the
//! entries): the synthetic caseload of `benches/support/caseload.rs` (`--students`
//! students, 40 schools, grades 6–12), each student re-evaluated once per simulated
//! school-day snapshot (`as_of` from September to June, attendance accumulating) until
//! `--entries` decisions are written. Every record is evaluated by the real engine on
//! the shipped rules and appended through the real group-commit writer in groups of
//! 2,000 with the caseload follower attached, as the server does.
//!
//! **Measure** (on the closed store, reopened): bytes on disk per entry (every file of
//! the data directory, all trees, both as file lengths and as allocated blocks);
//! startup (open and recover, with the caseload follower, median of 3); the first page
//! (100 entries, the API's default) of a random student's history, of one rule, and of
//! a time range, each `--samples` times (a tenth of that for time ranges) (p50, p99, max); `verify` (entries/s);
//! export (every entry as its NDJSON line, MB/s).
//!
//! Prints one `metric<TAB>value<TAB>unit` line per figure on stdout (progress on
//! stderr), so two builds can be compared side by side.

#[path = "../benches/support/caseload.rs"]
mod caseload_gen;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use intervene::audit::{Options, Query, Source, Store, decision_entry};
use intervene::caseload;
use intervene::engine::Evaluator;
use intervene::record::parse_record;
use intervene::rules::RuleSet;
use rayon::prelude::*;

const GROUP: usize = 2_000;
const PAGE: usize = 100;

struct Args {
    data: PathBuf,
    entries: u64,
    students: u64,
    samples: usize,
    seed: u64,
    skip_build: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        data: PathBuf::new(),
        entries: 5_000_000,
        students: 250_000,
        samples: 2_000,
        seed: 7,
        skip_build: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |v: String, name: &str| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(value("--data")?),
            "--entries" => a.entries = num(value("--entries")?, "--entries")?,
            "--students" => a.students = num(value("--students")?, "--students")?,
            "--samples" => a.samples = num(value("--samples")?, "--samples")? as usize,
            "--seed" => a.seed = num(value("--seed")?, "--seed")?,
            "--skip-build" => a.skip_build = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.data.as_os_str().is_empty() {
        return Err("--data DIR is required".into());
    }
    if a.students == 0 || a.entries == 0 || a.samples == 0 {
        return Err("--entries, --students and --samples must be positive".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "audit_scale: {e}\nusage: audit_scale --data DIR [--entries N] [--students N] [--samples N] [--seed N] [--skip-build]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit_scale: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn open(dir: &Path) -> Res<Store> {
    // INTERVENE_SCALE_NO_CASELOAD=1: the log alone, to see what the caseload costs.
    let caseload = std::env::var_os("INTERVENE_SCALE_NO_CASELOAD").is_none();
    let options = Options {
        follow: caseload.then(caseload::attach),
        ..Default::default()
    };
    Ok(Store::open_with(dir, options)?)
}

fn out(metric: &str, value: f64, unit: &str) {
    println!("{metric}\t{value:.3}\t{unit}");
    let _ = std::io::stdout().flush();
}

fn run(a: &Args) -> Res<()> {
    if !a.skip_build {
        build(a)?;
    }
    let (len, blocks) = disk_usage(&a.data)?;
    let mut startups = Vec::new();
    let mut store = None;
    for i in 0..3 {
        let t = Instant::now();
        let s = open(&a.data)?;
        startups.push(t.elapsed());
        if i < 2 {
            s.shutdown();
        } else {
            store = Some(s);
        }
    }
    let store = store.ok_or("no store")?;
    let entries = store.head_seq()?;
    out("entries", entries as f64, "entries");
    out("disk_bytes_per_entry", len as f64 / entries as f64, "B");
    out(
        "disk_allocated_bytes_per_entry",
        blocks as f64 / entries as f64,
        "B",
    );
    tree_bytes(&store)?;
    startups.sort();
    out("startup_median", startups[1].as_secs_f64() * 1e3, "ms");
    out("startup_max", startups[2].as_secs_f64() * 1e3, "ms");

    let mut rng = caseload_rng(a.seed ^ 0x5eed);
    let students = a.students.min(entries);
    let student_q = |r: &mut u64| Query {
        student: Some(format!("S{:07}", next(r) % students)),
        limit: PAGE,
        ..Query::default()
    };
    latencies(&store, "student_first_page", a.samples, &mut rng, student_q)?;
    let rules = [
        "chronic-absence",
        "attendance-watch",
        "course-failure",
        "low-gpa",
        "repeated-referrals",
    ];
    let rule_q = |r: &mut u64| Query {
        rule: Some(rules[(next(r) % rules.len() as u64) as usize].to_string()),
        limit: PAGE,
        ..Query::default()
    };
    latencies(&store, "rule_first_page", a.samples, &mut rng, rule_q)?;
    // A rule page deep in the log: below a random cursor.
    let rule_deep = |r: &mut u64| Query {
        rule: Some(rules[(next(r) % rules.len() as u64) as usize].to_string()),
        before: Some(1 + next(r) % entries),
        limit: PAGE,
        ..Query::default()
    };
    latencies(
        &store,
        "rule_page_at_random_cursor",
        a.samples,
        &mut rng,
        rule_deep,
    )?;
    // Time ranges: one second of writes starting at a random entry's time.
    let mut times = Vec::new();
    for _ in 0..64 {
        if let Some(e) = store.get(1 + next(&mut rng) % entries)? {
            times.push(e.at);
        }
    }
    let time_q = |r: &mut u64| {
        let from = times[(next(r) % times.len() as u64) as usize].clone();
        let to = chrono::DateTime::parse_from_rfc3339(&from)
            .map(|t| {
                (t + chrono::Duration::seconds(1))
                    .to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .unwrap_or_else(|_| from.clone());
        Query {
            from: Some(from),
            to: Some(to),
            limit: PAGE,
            ..Query::default()
        }
    };
    // A tenth of the samples: today's layout answers a time range by scanning.
    let few = (a.samples / 10).max(5);
    latencies(&store, "time_range_first_page", few, &mut rng, time_q)?;

    let t = Instant::now();
    let report = store.verify(&mut |_| {})?;
    let secs = t.elapsed().as_secs_f64();
    if !report.ok {
        return Err(format!("verify failed: {:?}", report.problem).into());
    }
    out(
        "verify_entries_per_s",
        report.entries as f64 / secs,
        "entries/s",
    );
    out("verify_seconds", secs, "s");

    let t = Instant::now();
    let mut sink = std::io::BufWriter::with_capacity(1 << 20, std::io::sink());
    let (mut after, mut bytes) = (0u64, 0u64);
    loop {
        let rows = store.raw_after(after, 1000)?;
        let Some((last, _)) = rows.last() else { break };
        after = *last;
        for (_, b) in rows {
            sink.write_all(&b)?;
            sink.write_all(b"\n")?;
            bytes += b.len() as u64 + 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    out("export_mb_per_s", bytes as f64 / 1e6 / secs, "MB/s");
    out("export_bytes_per_entry", bytes as f64 / entries as f64, "B");
    store.shutdown();
    Ok(())
}

fn latencies(
    store: &Store,
    name: &str,
    samples: usize,
    rng: &mut u64,
    mut query: impl FnMut(&mut u64) -> Query,
) -> Res<()> {
    let mut d: Vec<Duration> = Vec::with_capacity(samples);
    let mut returned = 0usize;
    for _ in 0..samples {
        let q = query(rng);
        let t = Instant::now();
        let page = store.query(&q)?;
        d.push(t.elapsed());
        returned += page.entries.len();
    }
    d.sort();
    let pct = |p: f64| d[((d.len() as f64 * p) as usize).min(d.len() - 1)].as_secs_f64() * 1e3;
    out(&format!("{name}_p50"), pct(0.50), "ms");
    out(&format!("{name}_p99"), pct(0.99), "ms");
    out(&format!("{name}_max"), pct(1.0), "ms");
    out(
        &format!("{name}_mean_entries"),
        returned as f64 / samples as f64,
        "entries",
    );
    Ok(())
}

/// Live bytes (keys + values) per sled tree, per entry: where the disk goes.
fn tree_bytes(store: &Store) -> Res<()> {
    let entries = store.head_seq()?.max(1) as f64;
    for name in store.db().tree_names() {
        let tree = store.db().open_tree(&name)?;
        let (mut keys, mut values, mut n) = (0u64, 0u64, 0u64);
        for kv in tree.iter() {
            let (k, v) = kv?;
            keys += k.len() as u64;
            values += v.len() as u64;
            n += 1;
        }
        let name = String::from_utf8_lossy(&name).replace(['\0', ' '], "_");
        out(&format!("tree_{name}_items"), n as f64, "items");
        out(
            &format!("tree_{name}_live_bytes_per_entry"),
            (keys + values) as f64 / entries,
            "B",
        );
    }
    Ok(())
}

/// Sum of file lengths and of allocated blocks under `dir`.
fn disk_usage(dir: &Path) -> Res<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let (mut len, mut blocks) = (0, 0);
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        if m.is_dir() {
            let (l, b) = disk_usage(&e.path())?;
            len += l;
            blocks += b;
        } else {
            len += m.len();
            blocks += m.blocks() * 512;
        }
    }
    Ok((len, blocks))
}

fn caseload_rng(seed: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// xorshift64*: enough to pick students and cursors.
fn next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The record of `line` as of snapshot `round` of `rounds` in the school year:
/// the as-of date moves from September to June and the attendance counts grow with
/// it (absences in proportion, with a per-round wobble), so successive decisions of
/// a student differ as real ones do.
fn snapshot(line: &str, round: u64, rounds: u64) -> Res<String> {
    let mut v: serde_json::Value = serde_json::from_str(line)?;
    let start = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).ok_or("date")?;
    let day = start + chrono::Duration::days((round * 280 / rounds.max(1)) as i64);
    v["as_of"] = serde_json::json!(day.to_string());
    if let Some(att) = v.get_mut("attendance").filter(|a| a.is_object()) {
        let enrolled = att["days_enrolled"].as_f64().unwrap_or(0.0);
        let present = att["days_present"].as_f64().unwrap_or(0.0);
        let frac = (round + 1) as f64 / rounds as f64;
        let wobble = 1.0 + 0.3 * (((round * 7 + enrolled as u64) % 11) as f64 / 10.0 - 0.5);
        let e = (enrolled * frac).round().max(1.0);
        let absent = ((enrolled - present) * frac * wobble).clamp(0.0, e);
        att["days_enrolled"] = serde_json::json!(e as u64);
        let present = ((e - absent) * 2.0).round() / 2.0;
        att["days_present"] = serde_json::json!(present);
        for (field, cap) in [("unexcused_absences", e - present), ("tardies", e)] {
            let n = (att[field].as_f64().unwrap_or(0.0) * frac).round();
            att[field] = serde_json::json!(n.min(cap.floor()) as u64);
        }
    }
    Ok(v.to_string())
}

fn build(a: &Args) -> Res<()> {
    let store = open(&a.data)?;
    let have = store.head_seq()?;
    if have >= a.entries {
        eprintln!("the store already holds {have} entries");
        store.shutdown();
        return Ok(());
    }
    if have > 0 {
        return Err(format!(
            "`{}` holds {have} entries, fewer than asked: start from an empty directory",
            a.data.display()
        )
        .into());
    }
    let rules = RuleSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))?;
    let ev = Evaluator::new();
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let lines = caseload_gen::generate(a.students as usize, a.seed);
    let rounds = a.entries.div_ceil(a.students);
    let started = Instant::now();
    let mut written = 0u64;
    'rounds: for round in 0..rounds {
        for chunk in lines.chunks(GROUP) {
            let left = (a.entries - written) as usize;
            if left == 0 {
                break 'rounds;
            }
            let chunk = &chunk[..chunk.len().min(left)];
            let entries = chunk
                .par_iter()
                .map(|l| {
                    let r = parse_record(&snapshot(l, round, rounds).map_err(|e| e.to_string())?)
                        .map_err(|e| e.to_string())?;
                    let d = ev.evaluate(&rules, &r);
                    Ok(decision_entry(
                        &d,
                        &r,
                        &rules,
                        Source::Import { line: round },
                        "scale",
                        "",
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?;
            written += entries.len() as u64;
            rt.block_on(store.append_all(entries))?;
            if written % 200_000 < GROUP as u64 {
                let s = started.elapsed().as_secs_f64();
                eprintln!(
                    "{written} entries in {s:.0} s ({:.0}/s)",
                    written as f64 / s
                );
            }
        }
    }
    let s = started.elapsed().as_secs_f64();
    out("build_entries_per_s", written as f64 / s, "entries/s");
    store.shutdown();
    Ok(())
}

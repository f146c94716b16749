//! Caseload queries over 100,000 stored students, each against the time to scan the
//! index once in the same run (the floor any query that reads every student pays).
//!
//! Setup builds the store the way the service does: the real audit store opened with
//! the caseload follower (`caseload::attach`), the synthetic caseload of
//! `benches/support/caseload.rs` (40 schools, grades 6–12) evaluated by the real engine
//! on the shipped rules, and every decision appended through the real writer in
//! groups, so the index is the one the writer keeps. Measured: the library calls the
//! HTTP handlers make (`app::caseload`): the first page of `min_tier=3` for one school
//! (by student id and by tier), the summary, and the whole caseload as CSV.
//!
//! `CASELOAD_STUDENTS=20000 cargo bench --bench caseload` for a quicker run.

#[path = "support/caseload.rs"]
mod caseload_gen;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use intervene::audit::{Options, Source, Store, decision_entry};
use intervene::caseload::{self, CaseloadQuery, Filter, Index, Reference};
use intervene::engine::Evaluator;
use intervene::record::parse_record;
use intervene::rules::RuleSet;

const SEED: u64 = 11;
const GROUP: usize = 2_000;

struct Stored {
    _dir: tempfile::TempDir,
    store: Store,
    index: Index,
    reference: Reference,
}

fn students() -> usize {
    std::env::var("CASELOAD_STUDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
fn build(n: usize) -> Stored {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        follow: Some(caseload::attach()),
        ..Default::default()
    };
    let store = Store::open_with(dir.path(), options).expect("store");
    let rules = RuleSet::load_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rules")
            .as_path(),
    )
    .expect("shipped rules load");
    let ev = Evaluator::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let lines = caseload_gen::generate(n, SEED);
    for chunk in lines.chunks(GROUP) {
        let entries = chunk
            .iter()
            .map(|l| {
                let r = parse_record(l).expect("generated records are valid");
                let d = ev.evaluate(&rules, &r);
                decision_entry(&d, &r, &rules, Source::Import { line: 0 }, "bench", "")
            })
            .collect();
        rt.block_on(store.append_all(entries)).expect("append");
    }
    let index = Index::open(store.db()).expect("index");
    assert_eq!(index.len(), n, "every student is in the caseload");
    let reference = Reference::from_rules(&rules);
    Stored {
        _dir: dir,
        store,
        index,
        reference,
    }
}

fn query(pairs: &[(&str, &str)]) -> CaseloadQuery {
    CaseloadQuery::parse(pairs.iter().copied()).expect("valid query")
}

fn bench(c: &mut Criterion) {
    let n = students();
    let s = build(n);
    let today = chrono::Utc::now().date_naive();
    let mut g = c.benchmark_group(format!("caseload_{n}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("baseline_scan", |b| {
        b.iter(|| black_box(s.index.entries().filter_map(Result::ok).count()))
    });
    let one_school = [("school", "SCH-07"), ("min_tier", "3")];
    let by_student = query(&one_school);
    g.bench_function("first_page_min_tier3_one_school", |b| {
        b.iter(|| black_box(caseload::page(&s.index, &by_student, today).expect("page")))
    });
    let mut by_tier_pairs = one_school.to_vec();
    by_tier_pairs.push(("sort", "tier"));
    let by_tier = query(&by_tier_pairs);
    g.bench_function("first_page_min_tier3_one_school_by_tier", |b| {
        b.iter(|| black_box(caseload::page(&s.index, &by_tier, today).expect("page")))
    });
    let all = Filter::default();
    g.bench_function("summary", |b| {
        b.iter(|| {
            black_box(
                caseload::summarize(s.index.entries(), &all, today, s.reference).expect("sum"),
            )
        })
    });
    g.bench_function("full_csv", |b| {
        b.iter(|| {
            let out = caseload::csv::write_caseload(Vec::new(), s.index.entries(), today);
            black_box(out.expect("csv").len())
        })
    });
    g.finish();
    s.store.shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Evaluating records for a caller: one record (`POST /v1/evaluate`) or NDJSON
//! records in groups (`POST /v1/evaluate/batch`), each decision durable in the audit
//! log before it is returned, unless it is a dry run.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::history::{self, Prepared, Provider};
use super::{AppError, Caller, Service, ndjson};
use crate::audit::{NewEntry, Source, decision_entry_with_json, decision_json};
use crate::engine::{Decision, Evaluator};
use crate::ndjson::{Line, LineError, LineSource};
use crate::record::{Record, parse_record};
use crate::rules::RuleSet;

/// Largest body evaluated on the calling async worker itself (when every rule is
/// native): parsing and evaluating it takes tens of microseconds.
const INLINE_MAX_BYTES: usize = 16 * 1024;

/// Lines evaluated and audited together (one flush for the group).
const GROUP: usize = 256;

/// A decision and the JSON it is answered with (the same the audit entry holds).
pub struct Evaluated {
    pub decision: Decision,
    pub json: Box<RawValue>,
}

/// A decision, its JSON, its audit entry (none in a dry run) and the progress points
/// its record gives the student's open plans (written once it is durable).
type Made = (Decision, Box<RawValue>, Option<NewEntry>, Points);

type Points = Vec<(String, crate::plans::ProgressPoint)>;

/// What evaluating needs, owned, so it can move to the blocking pool.
struct Job {
    rules: Arc<RuleSet>,
    evaluator: Arc<Evaluator>,
    history: Provider,
    actor: String,
    request_id: String,
    dry_run: bool,
}

impl Job {
    fn new(svc: &Service, by: Caller<'_>, dry_run: bool) -> Job {
        Job {
            rules: svc.registry.active(),
            evaluator: svc.evaluator.clone(),
            history: Provider::of(svc),
            actor: by.actor.to_string(),
            request_id: by.request_id.to_string(),
            dry_run,
        }
    }

    fn make(&self, record: &Record) -> Made {
        let Prepared { facts, points } = self.history.prepare(&self.rules, record);
        let d = self.evaluator.evaluate_in(&self.rules, record, &facts);
        let json = decision_json(&d);
        let entry = (!self.dry_run).then(|| {
            let (actor, rid) = (&self.actor, &self.request_id);
            let history = (!facts.is_empty()).then_some(&facts);
            let source = Source::Api;
            decision_entry_with_json(&d, &json, record, history, &self.rules, source, actor, rid)
        });
        let points = if self.dry_run { Vec::new() } else { points };
        (d, json, entry, points)
    }
}

/// Evaluate the record in `text` against the active rule set; unless `dry_run`, the
/// decision is durably audited before this returns.
pub async fn one(
    svc: &Service,
    text: String,
    by: Caller<'_>,
    dry_run: bool,
) -> Result<Evaluated, AppError> {
    let job = Job::new(svc, by, dry_run);
    // A small record under a rule set of native comparisons is bounded, microseconds
    // of work: the hop to the blocking pool would cost more than it (measured: a
    // third of the dry run's throughput). Anything else goes off the worker.
    let inline = text.len() <= INLINE_MAX_BYTES && job.rules.is_native_only();
    let work = move || {
        let record = parse_record(&text).map_err(AppError::InvalidRecord)?;
        Ok::<_, AppError>(job.make(&record))
    };
    let (decision, json, entry, points) = if inline {
        work()?
    } else {
        crate::blocking::run(work).await??
    };
    if let Some(entry) = entry {
        svc.store.append(entry).await?;
    }
    history::write_points(svc, by, points).await;
    Ok(Evaluated { decision, json })
}

/// Evaluate every NDJSON line of `source` in groups, audit each group (unless
/// `dry_run`) and hand its answer lines to `emit` only once they are durable: one
/// decision or error line per input line, in order. `observe` sees each decision.
pub async fn batch(
    svc: &Service,
    source: &mut impl LineSource,
    by: Caller<'_>,
    dry_run: bool,
    observe: &dyn Fn(&Decision),
    mut emit: impl AsyncFnMut(String) -> bool,
) -> Result<(), AppError> {
    ndjson::drive(source, GROUP, async |group| {
        let out = group_answer(svc, by, dry_run, observe, group).await?;
        if emit(out).await {
            Ok(())
        } else {
            Err(AppError::Gone)
        }
    })
    .await
}

/// One group's answer lines, once its decisions are durable.
async fn group_answer(
    svc: &Service,
    by: Caller<'_>,
    dry_run: bool,
    observe: &dyn Fn(&Decision),
    group: Vec<Line>,
) -> Result<String, AppError> {
    let job = Job::new(svc, by, dry_run);
    // Evaluating, hashing and serializing the group is CPU work: off the async worker.
    let mut made: Vec<(u64, Result<Made, _>)> = crate::blocking::run(move || {
        group
            .into_iter()
            .map(|(n, text)| (n, text.and_then(|t| parse_record(&t)).map(|r| job.make(&r))))
            .collect()
    })
    .await?;
    let (mut entries, mut points) = (Vec::new(), Vec::new());
    for (_, r) in &mut made {
        if let Ok((d, _, entry, p)) = r {
            points.append(p);
            observe(d);
            entries.extend(entry.take());
        }
    }
    svc.store.append_all(entries).await?;
    history::write_points(svc, by, points).await;
    let mut out = String::new();
    for (n, r) in made {
        match r {
            // The line is answered with the JSON its audit entry holds.
            Ok((_, json, _, _)) => out.push_str(json.get()),
            Err(e) => out.push_str(&LineError::json(n, &e)),
        }
        out.push('\n');
    }
    Ok(out)
}

//! Reading a student's records or the audit log, together with the entry that
//! records the read: the FERPA policy. A read about one student is recorded as
//! `student.accessed` under that student (so "who looked at this student" is one
//! query); other reads of the log as `audit.read` or `audit.exported`. The entry is
//! durable before the answer is returned; if it cannot be made durable the read
//! fails.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{AppError, Caller, Service, reviews, today};
use crate::audit::{Entry, EntryKind, NewEntry, Query, Store, VerifyReport};
use crate::lifecycle::{Registry, ReplayReport};
use crate::record::StudentId;

/// Record that `by` read `student_id`'s records (`read` names what), with `extra`
/// fields.
pub async fn record_access(
    store: &Store,
    by: Caller<'_>,
    student_id: &str,
    read: &str,
    extra: Value,
) -> Result<(), AppError> {
    let mut payload = json!({"student_id": student_id, "read": read});
    if let (Some(p), Value::Object(more)) = (payload.as_object_mut(), extra) {
        p.extend(more);
    }
    record_read(store, by, EntryKind::StudentAccessed, payload).await
}

/// Record a read of the audit log itself (`audit.read`, `audit.exported`).
pub async fn record_read(
    store: &Store,
    by: Caller<'_>,
    kind: EntryKind,
    payload: Value,
) -> Result<(), AppError> {
    store
        .append(NewEntry::new(kind, by.actor, by.request_id, payload))
        .await?;
    Ok(())
}

/// The student's snapshot and latest decision, as answered.
pub async fn snapshot(svc: &Service, by: Caller<'_>, id: StudentId) -> Result<Value, AppError> {
    let (store, students, index) = (svc.store.clone(), svc.students.clone(), caseload_of(svc));
    let plans = svc.plans.clone();
    let (id, snap, latest, reviews, plans) =
        crate::blocking::run(move || -> Result<_, AppError> {
            let snap = students.get(id.as_str())?;
            let latest = latest_decision(&store, &id)?;
            let seqs: Vec<u64> = latest.iter().map(|e| e.seq).collect();
            let reviews =
                reviews::of_decisions(&store, index.as_ref(), id.as_str(), &seqs, today())?;
            let plans = plans.of_student(id.as_str())?;
            Ok((id, snap, latest, reviews, plans))
        })
        .await??;
    let Some(snap) = snap else {
        return Err(AppError::NotFound(format!(
            "no snapshot for student `{id}`"
        )));
    };
    record_access(&svc.store, by, id.as_str(), "snapshot", json!({})).await?;
    Ok(json!({
        "student_id": id,
        "record": snap.record,
        "versions": snap.versions,
        "plans": plans.iter().map(|p| crate::plans::report::with_summary(p, today())).collect::<Vec<_>>(),
        "latest_decision": latest.map(|e| json!({"seq": e.seq, "at": e.at, "source": e.payload.get("source"), "decision": e.payload.get("decision"), "reviews": reviews_json(&e, reviews.get(&e.seq))})),
    }))
}

/// The caseload index, unless it is behind the log (then reviews are read from
/// the log alone).
pub(super) fn caseload_of(svc: &Service) -> Option<crate::caseload::Index> {
    svc.store
        .follower_lagging()
        .is_none()
        .then(|| svc.caseload.clone())
}

/// The review of every flag of decision entry `e` as answered: rule id → state
/// (`unreviewed` when nobody reviewed it) and the review.
fn reviews_json(
    e: &Entry,
    shown: Option<&std::collections::BTreeMap<String, reviews::Shown>>,
) -> Value {
    let flags = e.payload["rule_ids"].as_array().into_iter().flatten();
    let map: serde_json::Map<String, Value> = flags
        .filter_map(Value::as_str)
        .map(|rule| {
            let v = shown
                .and_then(|s| s.get(rule))
                .map_or_else(|| json!({"state": "unreviewed"}), reviews::Shown::json);
            (rule.to_string(), v)
        })
        .collect();
    Value::Object(map)
}

/// The student's latest decision entry.
fn latest_decision(store: &Store, id: &StudentId) -> Result<Option<Entry>, AppError> {
    let page = store.query(&Query {
        student: Some(id.to_string()),
        kind: Some("decision".into()),
        limit: 1,
        ..Query::default()
    })?;
    Ok(page.entries.into_iter().next())
}

/// A page of the student's decisions, newest first, as answered (JSON).
pub async fn decisions(
    svc: &Service,
    by: Caller<'_>,
    id: &StudentId,
    before: Option<u64>,
    limit: usize,
) -> Result<String, AppError> {
    let query = Query {
        student: Some(id.to_string()),
        kind: Some("decision".into()),
        before,
        limit,
        ..Query::default()
    };
    let (store, index, student) = (svc.store.clone(), caseload_of(svc), id.to_string());
    // A page can hold 500 decisions with their inputs: read and serialize it off
    // the worker too.
    let (body, entries) = crate::blocking::run(move || -> Result<_, AppError> {
        let page = store.query(&query)?;
        let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
        let reviews = reviews::of_decisions(&store, index.as_ref(), &student, &seqs, today())?;
        let decisions: Vec<_> = page
            .entries
            .iter()
            .map(|e| json!({"seq": e.seq, "at": e.at, "actor": e.actor, "source": e.payload.get("source"), "as_of": e.payload["record"].get("as_of"), "indicators": indicators(&e.payload), "decision": e.payload.get("decision"), "reviews": reviews_json(e, reviews.get(&e.seq))}))
            .collect();
        let body = json!({"decisions": decisions, "next_cursor": page.next_cursor}).to_string();
        Ok((body, decisions.len()))
    })
    .await??;
    let extra = json!({"entries": entries});
    record_access(&svc.store, by, id.as_str(), "decisions", extra).await?;
    Ok(body)
}

/// The record indicators a plan's goal can measure
/// ([`crate::rules::measure::RECORD_MEASURES`]: absence rate, screener percentiles,
/// SEL T-score, office referrals, GPA, failing courses) of a decision entry's
/// payload, `{name: value}` for those it has. Read from the record the entry keeps
/// (the sections the rules read); when that does not read as a record (a field
/// masked or hashed by `privacy.yaml`, or purged), from the inputs of the
/// decision's flags (`student.<name>`), which the answer holds anyway. Only finite
/// numbers.
fn indicators(payload: &Value) -> Value {
    use crate::record::facts::{Facts, FieldRef};
    use crate::rules::measure::RECORD_MEASURES;
    let mut out = serde_json::Map::new();
    let kept = payload
        .get("record")
        .cloned()
        .and_then(|r| crate::record::record_from_value(r).ok());
    if let Some(record) = &kept {
        let facts = Facts::new(record);
        for m in &RECORD_MEASURES {
            let value = FieldRef::resolve(m.name)
                .and_then(|f| facts.get(&f))
                .and_then(|v| v.as_f64());
            if let Some(v) = value.filter(|v| v.is_finite()) {
                out.insert(m.name.to_string(), json!(v + 0.0));
            }
        }
    } else {
        let flags = payload["decision"]["flags"]
            .as_array()
            .into_iter()
            .flatten();
        for inputs in flags.filter_map(|f| f["inputs"].as_object()) {
            for m in &RECORD_MEASURES {
                let value = inputs
                    .get(&format!("student.{}", m.name))
                    .and_then(Value::as_f64);
                if let Some(v) = value.filter(|v| v.is_finite()) {
                    out.entry(m.name).or_insert(json!(v + 0.0));
                }
            }
        }
    }
    Value::Object(out)
}

/// The plain-text report on the student's decision at `seq` (default: the latest).
pub async fn report(
    svc: &Service,
    by: Caller<'_>,
    id: &StudentId,
    seq: Option<u64>,
) -> Result<String, AppError> {
    let (store, registry, student) = (svc.store.clone(), svc.registry.clone(), id.clone());
    let (index, plans) = (caseload_of(svc), svc.plans.clone());
    // Reading the entry and compiling the version that made it (a cache miss
    // compiles a whole stored rule set) are blocking work.
    let (text, seq) = crate::blocking::run(move || {
        let (mut text, seq) = report_text(&store, &registry, index.as_ref(), &student, seq)?;
        let plans = plans.of_student(student.as_str())?;
        text.push_str(&crate::plans::report::report_lines(&plans, today()));
        Ok::<_, AppError>((text, seq))
    })
    .await??;
    record_access(&svc.store, by, id.as_str(), "report", json!({"seq": seq})).await?;
    Ok(text)
}

/// Re-evaluate the decision at `seq` under the version that made it.
pub async fn replay(svc: &Service, by: Caller<'_>, seq: u64) -> Result<ReplayReport, AppError> {
    let (store, registry, ev) = (
        svc.store.clone(),
        svc.registry.clone(),
        svc.evaluator.clone(),
    );
    let report = crate::blocking::run(move || -> Result<ReplayReport, AppError> {
        let entry = store
            .get(seq)?
            .ok_or_else(|| AppError::NotFound(format!("no audit entry {seq}")))?;
        Ok(crate::lifecycle::replay(&entry, &registry, &ev)?)
    })
    .await??;
    let student = report.replayed.student_id.clone();
    record_access(&svc.store, by, &student, "replay", json!({"seq": seq})).await?;
    Ok(report)
}

/// A page of the audit log, as answered (JSON). Filtered by `student`, the read is
/// recorded under that student; otherwise as `audit.read` naming `filter` and the
/// students on the page.
pub async fn audit_page(
    svc: &Service,
    by: Caller<'_>,
    query: Query,
    student: Option<&StudentId>,
    filter: Value,
) -> Result<String, AppError> {
    let store = svc.store.clone();
    // A page can hold 500 entries: read and serialize it off the worker.
    let (body, entries, students) = crate::blocking::run(move || -> Result<_, AppError> {
        let page = store.query(&query)?;
        let students: BTreeSet<String> = page
            .entries
            .iter()
            .filter_map(|e| e.student_id().map(str::to_string))
            .collect();
        let body = serde_json::to_string(&page)?;
        Ok((body, page.entries.len(), students))
    })
    .await??;
    match student {
        Some(s) => {
            let extra = json!({"entries": entries});
            record_access(&svc.store, by, s.as_str(), "audit", extra).await?
        }
        None => {
            let payload = json!({"filter": filter, "entries": entries, "students": students});
            record_read(&svc.store, by, EntryKind::AuditRead, payload).await?
        }
    }
    Ok(body)
}

/// Start an export: record it (`audit.exported`, with the last sequence number at
/// its start, so the export includes that entry) and return that number.
pub async fn start_export(svc: &Service, by: Caller<'_>) -> Result<u64, AppError> {
    let store = svc.store.clone();
    let head = crate::blocking::run(move || store.head_seq()).await??;
    record_read(
        &svc.store,
        by,
        EntryKind::AuditExported,
        json!({"through_seq": head}),
    )
    .await?;
    Ok(head)
}

/// The stored bytes of up to `n` entries after `after`, in order.
pub async fn raw_after(
    store: &Store,
    after: u64,
    n: usize,
) -> Result<Vec<(u64, sled::IVec)>, AppError> {
    let store = store.clone();
    Ok(crate::blocking::run(move || store.raw_after(after, n)).await??)
}

/// Check the whole chain (off the worker).
pub async fn verify(store: &Store) -> Result<VerifyReport, AppError> {
    let store = store.clone();
    Ok(crate::blocking::run(move || store.verify(&mut |_| {})).await??)
}

/// Every legal hold.
pub async fn holds(store: &Store) -> Result<Vec<crate::audit::Hold>, AppError> {
    let store = store.clone();
    Ok(crate::blocking::run(move || store.holds()).await??)
}

/// The report on `student`'s decision at `seq` (default: the latest), and its seq.
fn report_text(
    store: &Store,
    registry: &Registry,
    index: Option<&crate::caseload::Index>,
    student: &StudentId,
    seq: Option<u64>,
) -> Result<(String, u64), AppError> {
    let (entry, intact) = decision_entry(store, student, seq)?;
    let decision: crate::engine::Decision =
        serde_json::from_value(entry.payload.get("decision").cloned().unwrap_or_default())
            .map_err(|source| AppError::Unreadable {
                seq: entry.seq,
                source,
            })?;
    let rules = registry.compiled(&decision.ruleset_version)?;
    let mut text = crate::engine::render_report(&decision, &rules);
    if !decision.flags.is_empty() {
        let reviews = reviews::of_decisions(store, index, student.as_str(), &[entry.seq], today())?;
        let flags: Vec<String> = decision.flags.iter().map(|f| f.rule_id.clone()).collect();
        let none = Default::default();
        text.push_str(&reviews::report_lines(
            &flags,
            reviews.get(&entry.seq).unwrap_or(&none),
        ));
    }
    let source = entry.payload["source"]["kind"]
        .as_str()
        .unwrap_or("unknown");
    text.push_str(&format!(
        "\n  Recorded in the audit log as entry {} at {} (from {source}, by {}); {}.\n",
        entry.seq,
        entry.at,
        entry.actor,
        if intact {
            "the entry matches its hash (GET /v1/audit/verify checks the whole chain)"
        } else {
            "the entry does NOT match its hash: report this to the district"
        }
    ));
    text.push_str(
        "  Tiers and interventions are recommendations: the school's team confirms each one.\n",
    );
    Ok((text, entry.seq))
}

/// The decision entry about `student` at `seq` (default: the latest), and whether it
/// matches its hash.
pub(super) fn decision_entry(
    store: &Store,
    student: &StudentId,
    seq: Option<u64>,
) -> Result<(Entry, bool), AppError> {
    let at = match seq {
        Some(seq) => Some(seq),
        None => latest_decision(store, student)?.map(|e| e.seq),
    };
    let found = match at {
        Some(at) => store.get_checked(at)?,
        None => None,
    };
    if let Some((e, _)) = &found
        && e.kind == EntryKind::Decision
        && let Some(by) = e.purged_by
    {
        // Its payload (and so whose it was) is gone.
        return Err(AppError::NotFound(format!(
            "decision {} was removed by the retention purge in audit entry {by}",
            e.seq
        )));
    }
    found
        .filter(|(e, _)| e.kind == EntryKind::Decision && e.student_id() == Some(student.as_str()))
        .ok_or_else(|| {
            AppError::NotFound(match seq {
                Some(seq) => format!("audit entry {seq} is not a decision about `{student}`"),
                None => format!("no decision about `{student}` in the audit log"),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_come_from_the_kept_record() {
        let payload = json!({
            "record": {
                "student_id": "S1", "as_of": "2026-11-20",
                "attendance": {"days_enrolled": 100.0, "days_present": 85.0},
                "gpa": 2.5,
                "behavior": {"office_referrals": 0, "suspensions_in_school": 0, "suspensions_out_of_school": 0},
            },
            "decision": {"flags": []},
        });
        let v = indicators(&payload);
        assert_eq!(v["attendance.absence_rate"], json!(0.15));
        assert_eq!(v["gpa"], json!(2.5));
        assert_eq!(
            v["behavior.office_referrals"],
            json!(0.0),
            "a zero is a value"
        );
        assert!(
            v.get("reading_percentile").is_none(),
            "no assessment, no value: {v}"
        );
    }

    #[test]
    fn a_masked_record_gives_the_flag_inputs_and_nothing_else() {
        let payload = json!({
            "record": {"student_id": "S1", "gpa": "[masked]"},
            "decision": {"flags": [
                {"rule_id": "low-gpa", "inputs": {"student.gpa": 1.5, "params.low_gpa": 2.0}},
                {"rule_id": "x", "inputs": {"student.gpa": 9.0, "student.sel.t_score": null}},
            ]},
        });
        assert_eq!(indicators(&payload), json!({"gpa": 1.5}));
        assert_eq!(indicators(&json!({})), json!({}), "a purged entry");
    }
}

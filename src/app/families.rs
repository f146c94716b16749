//! The family summary of a student, for a family liaison or counselor: built from the
//! student's latest decision under the rule set that made it, the team's reviews and
//! the student's plans; the read is recorded like every other read of a student.

use std::collections::BTreeSet;

use serde_json::json;

use super::reads::{caseload_of, decision_entry, record_access};
use super::{AppError, Caller, Service, today};
use crate::caseload::ReviewState;
use crate::engine::Decision;
use crate::families::{FamilySummary, Sources, build};
use crate::record::{HistoryFacts, StudentId, record_from_value};

/// The summary of `id` in `lang` (one of the district's `family_languages` that the
/// summary has words for; the caller checks it).
pub async fn family_summary(
    svc: &Service,
    by: Caller<'_>,
    id: &StudentId,
    lang: &str,
) -> Result<FamilySummary, AppError> {
    let (store, registry, plans) = (svc.store.clone(), svc.registry.clone(), svc.plans.clone());
    let (index, student, language) = (caseload_of(svc), id.clone(), lang.to_string());
    let (summary, seq) = crate::blocking::run(move || -> Result<_, AppError> {
        let (entry, _) = decision_entry(&store, &student, None)?;
        let p = &entry.payload;
        let unreadable = |source| AppError::Unreadable {
            seq: entry.seq,
            source,
        };
        let decision: Decision =
            serde_json::from_value(p.get("decision").cloned().unwrap_or_default())
                .map_err(unreadable)?;
        let rules = registry.compiled(&decision.ruleset_version)?;
        let record = record_from_value(p.get("record").cloned().unwrap_or_default())
            .map_err(AppError::InvalidRecord)?;
        let history = match p.get("history") {
            Some(h) => HistoryFacts::from_json(h).unwrap_or_default(),
            None => HistoryFacts::new(),
        };
        // Flags the team dismissed on this decision are not told to the family.
        let day = today();
        let dismissed: BTreeSet<String> = match index.as_ref() {
            Some(i) => i
                .get(student.as_str())?
                .filter(|e| e.decision_seq == entry.seq)
                .map(|e| {
                    e.flags
                        .iter()
                        .filter(|f| f.state_on(day) == ReviewState::Dismissed)
                        .map(|f| f.rule_id.clone())
                        .collect()
                })
                .unwrap_or_default(),
            None => BTreeSet::new(),
        };
        let plans = plans.of_student(student.as_str())?;
        let src = Sources {
            decision: &decision,
            rules: &rules,
            record: &record,
            history: &history,
            dismissed: &dismissed,
            plans: &plans,
            today: day,
        };
        Ok((build(&src, &language), entry.seq))
    })
    .await??;
    let extra = json!({"seq": seq, "lang": lang});
    record_access(&svc.store, by, id.as_str(), "family-summary", extra).await?;
    Ok(summary)
}

//! The rule-set lifecycle for a caller: check or preview a candidate, publish
//! changed files, reload the directory, roll back, list stored versions. The
//! activation gate, the files and the version store are [`crate::lifecycle`]'s; this
//! puts the compiling and testing on the blocking pool.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{AppError, Caller, Service};
use crate::lifecycle::{self, LifecycleError, PreviewReport, StoredVersion};
use crate::rules::RuleSet;
use crate::ruletest::Report;

/// A version made active, and the one active before it.
#[derive(Debug, Serialize)]
pub struct Activated {
    pub version: String,
    pub previous: String,
}

/// Every file name of a candidate (checked before its version is compared, so a bad
/// name is refused whichever version is active).
pub fn check_names(changes: &BTreeMap<String, Option<String>>) -> Result<(), AppError> {
    for name in changes.keys() {
        lifecycle::check_file_name(name)?;
    }
    Ok(())
}

/// The active set with `changes` applied, made from `base_version` when given:
/// checked with its tests (the publish gate) when `run_tests`, or only loaded (a
/// threshold change usually breaks the boundary tests until they are updated; a
/// preview shows its effect first).
pub async fn candidate(
    svc: &Service,
    base_version: Option<&str>,
    changes: &BTreeMap<String, Option<String>>,
    run_tests: bool,
) -> Result<RuleSet, AppError> {
    check_names(changes)?;
    let active = svc.registry.active();
    if let Some(raw) = base_version {
        let base = lifecycle::parse_version("`base_version`", raw)?;
        if base != active.version {
            return Err(LifecycleError::Stale {
                based_on: base,
                active: active.version.clone(),
            }
            .into());
        }
    }
    let files = svc.registry.candidate_files(changes)?;
    let registry = svc.registry.clone();
    let mut rs = crate::blocking::run(move || {
        if run_tests {
            registry.check(files)
        } else {
            RuleSet::from_files(files).map_err(|e| LifecycleError::Rejected {
                message: "the rule set has errors".into(),
                diagnostics: e.diagnostics,
            })
        }
    })
    .await??;
    // Gaps are judged against what the active version covered.
    rs.compare_bands(&active);
    Ok(rs)
}

/// What `candidate` would change over the stored caseload (page `page` of `size`
/// student ids per list), and how its tests fare.
pub async fn preview(
    svc: &Service,
    candidate: RuleSet,
    page: usize,
    size: usize,
) -> Result<(PreviewReport, Report), AppError> {
    preview_by(svc, candidate, page, size, None).await
}

/// [`preview`], with each group of the reporting label `by` (`reporting.<name>`)
/// compared before and after.
pub async fn preview_by(
    svc: &Service,
    candidate: RuleSet,
    page: usize,
    size: usize,
    by: Option<&str>,
) -> Result<(PreviewReport, Report), AppError> {
    let by = match by {
        None => None,
        Some(raw) => Some(lifecycle::By {
            label: crate::caseload::equity::label_name(raw)
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "`by` must name a reporting label, like `reporting.ell`".into(),
                    )
                })?
                .to_string(),
            min_group_size: svc.settings.min_group_size,
        }),
    };
    let (registry, students, ev) = (
        svc.registry.clone(),
        svc.students.clone(),
        svc.evaluator.clone(),
    );
    let history = super::history::Provider::of(svc);
    Ok(crate::blocking::run(move || {
        let active = registry.active();
        let records = students.records().filter_map(|r| r.ok());
        let judge = (&*ev, &history as &dyn crate::engine::History);
        let deadline = std::time::Instant::now() + lifecycle::PREVIEW_BOUND;
        let report = lifecycle::preview_grouped(
            &active,
            &candidate,
            records,
            judge,
            (page, size),
            deadline,
            by.as_ref(),
        );
        let tests = crate::ruletest::run(&candidate, &ev);
        (report, tests)
    })
    .await?)
}

/// Publish `changes` made from version `based_on`: checked, tested, written,
/// activated and audited.
pub async fn publish(
    svc: &Service,
    changes: &BTreeMap<String, Option<String>>,
    based_on: &str,
    by: Caller<'_>,
) -> Result<Activated, AppError> {
    let previous = svc.registry.active().version.clone();
    let rs = svc
        .registry
        .publish(changes, based_on, by.actor, by.request_id)
        .await?;
    Ok(Activated {
        version: rs.version.clone(),
        previous,
    })
}

/// Reload the rules directory: a clean set is activated, a broken one refused.
pub async fn reload(svc: &Service, by: Caller<'_>) -> Result<Activated, AppError> {
    let previous = svc.registry.active().version.clone();
    let rs = svc.registry.reload(by.actor, by.request_id).await?;
    Ok(Activated {
        version: rs.version.clone(),
        previous,
    })
}

/// Re-activate the stored `version` and write its files back.
pub async fn rollback(svc: &Service, version: &str, by: Caller<'_>) -> Result<Activated, AppError> {
    let previous = svc.registry.active().version.clone();
    let rs = svc
        .registry
        .rollback(version, by.actor, by.request_id)
        .await?;
    Ok(Activated {
        version: rs.version.clone(),
        previous,
    })
}

/// Every version that was ever active, most recently activated first.
pub async fn versions(svc: &Service) -> Result<Vec<StoredVersion>, AppError> {
    let registry = svc.registry.clone();
    Ok(crate::blocking::run(move || registry.list()).await??)
}

/// One stored version with its files, if it was ever active.
pub async fn version(svc: &Service, version: String) -> Result<Option<StoredVersion>, AppError> {
    let registry = svc.registry.clone();
    Ok(crate::blocking::run(move || registry.stored(&version)).await??)
}

//! Importing whole records (NDJSON) as student snapshots: each changed student is
//! re-evaluated and the decision audited. `POST /v1/students/import` and
//! `intervene import` both run [`run`], with the same settings.

use std::path::Path;
use std::sync::Arc;

use super::{AppError, Caller, Service, ndjson};
use crate::ndjson::LineSource;
use crate::students::{Format, ImportSummary, edfi::Descriptors};

/// Lines imported together.
const CHUNK: usize = 512;

/// The import format named `name` (`canonical` by default, or `edfi`, which reads
/// the descriptor mapping at `descriptors`).
pub async fn format(name: Option<&str>, descriptors: &Path) -> Result<Format, AppError> {
    match name {
        None | Some("canonical") => Ok(Format::Canonical),
        Some("edfi") => {
            let path = descriptors.to_path_buf();
            let d = crate::blocking::run(move || Descriptors::load(&path))
                .await?
                .map_err(|e| AppError::Unavailable(e.to_string()))?;
            Ok(Format::EdFi(Arc::new(d)))
        }
        Some(other) => Err(AppError::BadRequest(format!(
            "unknown import format `{other}`; use `canonical` or `edfi`"
        ))),
    }
}

/// What one imported chunk came to: its error lines and the counts so far.
pub struct Progress {
    pub errors: Vec<String>,
    pub total: ImportSummary,
}

/// Import every line of `source` as `format`, under the active rule set; each
/// chunk's error lines go to `emit` once its changes are durable (`emit` answers
/// `false` when nobody listens any more). Returns the counts.
pub async fn run(
    svc: &Service,
    source: &mut impl LineSource,
    format: &Format,
    by: Caller<'_>,
    mut emit: impl AsyncFnMut(Progress) -> bool,
) -> Result<ImportSummary, AppError> {
    let mut total = ImportSummary::default();
    ndjson::drive(source, CHUNK, async |chunk| {
        let (summary, errors, decided) = svc
            .students
            .import_chunk(
                chunk,
                format,
                svc.registry.active(),
                svc.evaluator.clone(),
                by.actor,
                by.request_id,
            )
            .await?;
        for student in decided {
            super::history::write_record_points_of(svc, by, &student).await;
        }
        total.add(&summary);
        if emit(Progress { errors, total }).await {
            Ok(())
        } else {
            Err(AppError::Gone)
        }
    })
    .await?;
    tracing::info!(
        imported = total.imported,
        unchanged = total.unchanged,
        rejected = total.rejected,
        flagged = total.flagged,
        "import done"
    );
    Ok(total)
}

//! The one loop over NDJSON input: the batch route, the import route and the
//! command line's `eval` and `import` all run it, each with its own step.

use super::AppError;
use crate::ndjson::{Line, LineSource};

/// Read `source` in chunks of at most `size` lines (numbered, blank lines skipped,
/// a line too long or not UTF-8 handed on as an error) and give each chunk to
/// `step`, until the input ends or a step fails.
pub async fn drive(
    source: &mut impl LineSource,
    size: usize,
    mut step: impl AsyncFnMut(Vec<Line>) -> Result<(), AppError>,
) -> Result<(), AppError> {
    loop {
        let chunk = source.next_chunk(size).await?;
        if chunk.is_empty() {
            return Ok(());
        }
        step(chunk).await?;
    }
}

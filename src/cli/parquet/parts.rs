//! Part files: one open file per dataset at a time, for the month of the rows going
//! in, written under a hidden temporary name and linked to its final name only when
//! complete.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::rows::Rows;
use crate::cli::CliError;

/// Rows per row group (and per batch handed to the writer).
pub const ROW_GROUP: usize = 65_536;

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Relative to the output directory, e.g. `flags/month=2026-09/part-1-4100.parquet`.
    pub path: PathBuf,
    pub rows: u64,
}

/// The part files of one dataset written by one export: one open file at a time,
/// for the month of the rows going in.
pub(super) struct Parts<R: Rows> {
    out: PathBuf,
    dataset: &'static str,
    /// Added to each file's name after its seq range.
    suffix: String,
    pub(super) rows: R,
    open: Option<OpenPart>,
    done: Vec<Written>,
}

/// A part file being written under its temporary name.
struct OpenPart {
    month: String,
    dir: PathBuf,
    tmp: PathBuf,
    writer: ArrowWriter<File>,
    first: u64,
    last: u64,
    rows: u64,
}

impl<R: Rows> Parts<R> {
    pub(super) fn new(out: &Path, dataset: &'static str, suffix: String, rows: R) -> Parts<R> {
        Parts {
            out: out.to_path_buf(),
            dataset,
            suffix,
            rows,
            open: None,
            done: Vec::new(),
        }
    }

    /// Make ready for a row of entry `seq` in `month`: a new file when the month
    /// changes, the rows so far written when a batch is full.
    pub(super) fn start_row(&mut self, month: &str, seq: u64) -> Result<(), CliError> {
        if self.open.as_ref().is_some_and(|o| o.month != month) {
            self.close()?;
        }
        if self.open.is_none() {
            self.open = Some(self.create(month, seq)?);
        }
        if self.rows.len() >= ROW_GROUP {
            self.flush()?;
        }
        if let Some(o) = &mut self.open {
            o.last = seq;
            o.rows += 1;
        }
        Ok(())
    }

    fn create(&self, month: &str, first: u64) -> Result<OpenPart, CliError> {
        let dir = self.out.join(self.dataset).join(format!("month={month}"));
        std::fs::create_dir_all(&dir).map_err(|e| CliError::OutDir {
            path: dir.display().to_string(),
            source: e,
        })?;
        let tmp = dir.join(format!(
            ".part-{first}{}.{}.tmp",
            self.suffix,
            std::process::id()
        ));
        let file = File::create(&tmp).map_err(|e| CliError::OutDir {
            path: tmp.display().to_string(),
            source: e,
        })?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("intervene {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, self.rows.schema(), Some(props))?;
        Ok(OpenPart {
            month: month.to_string(),
            dir,
            tmp,
            writer,
            first,
            last: first,
            rows: 0,
        })
    }

    /// Hand the rows so far to the open file.
    fn flush(&mut self) -> Result<(), CliError> {
        if self.rows.len() == 0 {
            return Ok(());
        }
        let batch = self.rows.batch()?;
        if let Some(o) = &mut self.open {
            o.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Complete the open file and give it its name.
    fn close(&mut self) -> Result<(), CliError> {
        self.flush()?;
        let Some(o) = self.open.take() else {
            return Ok(());
        };
        let name = format!("part-{}-{}{}.parquet", o.first, o.last, self.suffix);
        let target = o.dir.join(&name);
        let done = (|| {
            let file = o.writer.into_inner()?;
            file.sync_all()?;
            drop(file);
            // A link fails when the name is taken: an existing part is never replaced.
            std::fs::hard_link(&o.tmp, &target).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    CliError::PartExists(target.display().to_string())
                } else {
                    CliError::Io(e)
                }
            })?;
            std::fs::remove_file(&o.tmp)?;
            File::open(&o.dir)?.sync_all()?;
            Ok::<_, CliError>(())
        })();
        if done.is_err() {
            let _ = std::fs::remove_file(&o.tmp);
        }
        done?;
        self.done.push(Written {
            path: PathBuf::from(self.dataset)
                .join(format!("month={}", o.month))
                .join(name),
            rows: o.rows,
        });
        Ok(())
    }

    /// Complete the open file; the files written.
    pub(super) fn finish(&mut self) -> Result<Vec<Written>, CliError> {
        self.close()?;
        Ok(std::mem::take(&mut self.done))
    }

    /// Remove the file being written (after an error).
    pub(super) fn abandon(&mut self) {
        if let Some(o) = self.open.take() {
            let _ = std::fs::remove_file(&o.tmp);
        }
    }
}

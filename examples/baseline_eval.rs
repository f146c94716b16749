//! The end-to-end yardstick for `intervene eval`: the 16 default rules written by hand
//! in plain Rust, single-threaded.
//!
//! ```text
//! cargo run --release --example baseline_eval -- caseload.ndjson > fired.ndjson
//! target/release/examples/baseline_eval - < caseload.ndjson
//! ```
//!
//! Reads NDJSON records from a file (or stdin when the argument is `-` or absent), parses
//! each line with serde_json, evaluates it and writes `{"student_id":…,"fired":[…]}` per
//! record. A line that does not parse is reported on stderr with its line number and
//! skipped; the exit status is then 1.

#[path = "../benches/support/baseline.rs"]
mod baseline;

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

#[derive(serde::Serialize)]
struct Output<'a> {
    student_id: &'a str,
    fired: Vec<&'static str>,
}

fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| "-".to_owned());
    let input: Box<dyn BufRead> = if path == "-" {
        Box::new(io::stdin().lock())
    } else {
        match File::open(&path) {
            Ok(file) => Box::new(BufReader::with_capacity(1 << 16, file)),
            Err(e) => {
                eprintln!("baseline_eval: cannot open `{path}`: {e}");
                return ExitCode::from(2);
            }
        }
    };
    match evaluate_all(input) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(bad) => {
            eprintln!("baseline_eval: {bad} line(s) could not be read as a student record");
            ExitCode::FAILURE
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline_eval: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Evaluates every line of `input`; returns how many lines were not valid records.
fn evaluate_all(mut input: impl BufRead) -> io::Result<usize> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = String::new();
    let (mut line_no, mut bad) = (0usize, 0usize);
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        match baseline::parse(&line) {
            Ok(record) => {
                let output = Output {
                    student_id: &record.student_id,
                    fired: baseline::fired(&record),
                };
                serde_json::to_writer(&mut out, &output)?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                eprintln!("line {line_no}: {e}");
                bad += 1;
            }
        }
    }
    out.flush()?;
    Ok(bad)
}

//! Writes a synthetic caseload as NDJSON, the Rust twin of `shared/bench/caseload.py`.
//!
//! ```text
//! cargo run --release --example gen_caseload -- [N] [SEED] > caseload.ndjson   # defaults: 100000 7
//! ```
//!
//! The same N and SEED always give the same file (`fixtures/caseload.ndjson` is
//! `gen_caseload 300 7`).

#[path = "../benches/support/caseload.rs"]
mod caseload;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: gen_caseload [N] [SEED] > caseload.ndjson   (defaults: 100000 7)";

fn main() -> ExitCode {
    let (n, seed) = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("gen_caseload: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match write_caseload(n, seed) {
        Ok(()) => ExitCode::SUCCESS,
        // `gen_caseload | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_caseload: cannot write: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<(usize, u64), String> {
    let n = match args.next() {
        Some(a) => a
            .parse()
            .map_err(|_| format!("N must be a whole number, got `{a}`"))?,
        None => 100_000,
    };
    let seed = match args.next() {
        Some(a) => a
            .parse()
            .map_err(|_| format!("SEED must be a whole number, got `{a}`"))?,
        None => 7,
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument `{extra}`")),
        None => Ok((n, seed)),
    }
}

fn write_caseload(n: usize, seed: u64) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    for line in caseload::Caseload::new(seed).take(n) {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

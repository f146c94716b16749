//! Trains the dictionary the audit log compresses entries with
//! (`src/audit/entries.zdict`).
//!
//! ```text
//! cargo run --release --example audit_scale -- --data /var/tmp/dict --entries 100000 --students 25000 --samples 10
//! cargo run --release --example audit_dict -- --data /var/tmp/dict --out src/audit/entries.zdict
//! ```
//!
//! Samples 20,000 entry lines spread evenly over the store (the synthetic caseload
//! evaluated on the shipped rules over a simulated school year, built by
//! `audit_scale`) and trains a 64 KiB zstd dictionary on them. A store keeps every
//! dictionary it has written with, so shipping a new one never makes old entries
//! unreadable.

use std::path::PathBuf;
use std::process::ExitCode;

use intervene::audit::Store;

const SAMPLES: u64 = 20_000;
const DICT_BYTES: usize = 64 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit_dict: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (mut data, mut out) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let (Some(data), Some(out)) = (data, out) else {
        return Err("usage: audit_dict --data DIR --out FILE".into());
    };
    let store = Store::open_to_inspect(&data)?;
    let head = store.head_seq()?;
    if head < SAMPLES {
        return Err(format!("the store holds {head} entries; {SAMPLES} are needed").into());
    }
    let step = head / SAMPLES;
    let mut samples = Vec::with_capacity(SAMPLES as usize);
    for i in 0..SAMPLES {
        if let Some((_, line)) = store.raw_after(i * step, 1)?.pop() {
            samples.push(line.to_vec());
        }
    }
    store.shutdown();
    let dict = zstd::dict::from_samples(&samples, DICT_BYTES)?;
    std::fs::write(&out, &dict)?;
    eprintln!(
        "{} bytes of dictionary from {} samples written to {}",
        dict.len(),
        samples.len(),
        out.display()
    );
    Ok(())
}

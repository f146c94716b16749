//! Signed SIS webhook events for the load benchmark, one request per line:
//! `<X-Intervene-Signature value>\t<JSON body>`.
//!
//! ```text
//! webhook_events snapshots STUDENTS SECRET > snapshots.tsv   # a student.snapshot per student
//! webhook_events mixed STUDENTS EVENTS SECRET > events.tsv   # EVENTS mixed section events
//! ```
//!
//! Signatures carry the current time, so generate right before sending (the server's
//! replay window is 300 s). Every event has its own id; mixed events spread over the
//! students with increasing `occurred_at`, with the types in these shares: attendance
//! 30%, course grade 25%, incident 20%, assessment 15%, SEL 10%.

#[path = "../benches/support/caseload.rs"]
mod caseload;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

const USAGE: &str =
    "usage: webhook_events snapshots STUDENTS SECRET | mixed STUDENTS EVENTS SECRET";

/// A small deterministic PRNG (splitmix64) for picking students and types.
struct Pick(u64);

impl Pick {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn envelope(id: String, kind: &str, at_ms: i64, student: &str, data: Value) -> Value {
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default();
    json!({"event_id": id, "type": kind, "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "student_id": student, "data": data})
}

fn mixed_data(kind: &str, r: &mut Pick) -> Value {
    match kind {
        "attendance.updated" => {
            let enrolled = 40 + r.below(100);
            let absent = r.below(enrolled / 4 + 1);
            json!({"days_enrolled": enrolled, "days_present": enrolled - absent, "tardies": r.below(10)})
        }
        "course_grade.posted" => {
            let subject = ["math", "ela", "science", "other"][r.below(4) as usize];
            json!({"course_id": format!("C{}", r.below(6)), "subject": subject, "grade_pct": 40 + r.below(60)})
        }
        "assessment.scored" => {
            let subject = ["reading", "math"][r.below(2) as usize];
            json!({"name": "Screener", "subject": subject, "percentile": 1 + r.below(99), "date": format!("2026-11-{:02}", 1 + r.below(28))})
        }
        "behavior.incident" => {
            let suspension =
                ["none", "none", "none", "in_school", "out_of_school"][r.below(5) as usize];
            json!({"date": "2026-11-20", "type": "disruption", "referral": r.below(2) == 0, "suspension": suspension})
        }
        _ => json!({"screener": "DESSA-mini", "t_score": 25 + r.below(45), "date": "2026-11-15"}),
    }
}

fn write(out: &mut impl Write, secret: &[u8], t: i64, event: &Value) -> io::Result<()> {
    let body = event.to_string();
    let sig = intervene::http::signature::sign(secret, t, body.as_bytes());
    writeln!(out, "{sig}\t{body}")
}

fn run(args: &[String]) -> Result<(), String> {
    let num = |s: &String| {
        s.parse::<u64>()
            .map_err(|_| format!("`{s}` is not a count"))
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let now = chrono::Utc::now();
    let t = now.timestamp();
    let base_ms = now.timestamp_millis() - 3_600_000;
    let io_err = |e: io::Error| e.to_string();
    match args {
        [mode, students, secret] if mode == "snapshots" => {
            for (i, line) in caseload::Caseload::new(7)
                .take(num(students)? as usize)
                .enumerate()
            {
                let record: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                let student = record["student_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let ev = envelope(
                    format!("evt-snap-{i}"),
                    "student.snapshot",
                    base_ms,
                    &student,
                    record,
                );
                write(&mut out, secret.as_bytes(), t, &ev).map_err(io_err)?;
            }
        }
        [mode, students, events, secret] if mode == "mixed" => {
            let (students, events) = (num(students)?, num(events)?);
            let mut r = Pick(11);
            for i in 0..events {
                let student = format!("S{:07}", r.below(students.max(1)));
                let roll = r.below(100);
                let kind = match roll {
                    0..=29 => "attendance.updated",
                    30..=54 => "course_grade.posted",
                    55..=74 => "behavior.incident",
                    75..=89 => "assessment.scored",
                    _ => "sel.screened",
                };
                let data = mixed_data(kind, &mut r);
                let ev = envelope(
                    format!("evt-mix-{t}-{i}"),
                    kind,
                    base_ms + 1 + i as i64,
                    &student,
                    data,
                );
                write(&mut out, secret.as_bytes(), t, &ev).map_err(io_err)?;
            }
        }
        _ => return Err("unknown arguments".into()),
    }
    out.flush().map_err(io_err)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webhook_events: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

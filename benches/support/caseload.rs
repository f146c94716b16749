//! Deterministic synthetic caseload in the canonical record schema.
//!
//! A Rust port of `shared/bench/caseload.py`: the same fields, key order and
//! distributions, drawn from a small self-contained PRNG (splitmix64 seeding a
//! xoshiro256**), so benchmarks and fixtures need neither Python nor the `rand` crate.
//! It is not bit-identical to Python's `random` module; the same seed always gives the
//! same output here, on every platform.
//!
//! Shared by `benches/engine.rs` and `examples/gen_caseload.rs` through `#[path]`.

use serde::Serialize;

/// Subjects a course is drawn from, as in the Python script.
const SUBJECTS: [&str; 6] = [
    "math",
    "ela",
    "science",
    "social_studies",
    "reading",
    "other",
];

/// `n` synthetic students from `seed`, one compact JSON line each (no trailing newline).
#[allow(
    dead_code,
    reason = "the benchmark uses it; gen_caseload streams from `Caseload` instead"
)]
pub fn generate(n: usize, seed: u64) -> Vec<String> {
    Caseload::new(seed).take(n).collect()
}

/// An endless stream of synthetic students `S0000000`, `S0000001`, … as JSON lines.
pub struct Caseload {
    rng: Rng,
    next_index: u64,
}

impl Caseload {
    /// A stream that always yields the same students for the same `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            next_index: 0,
        }
    }
}

impl Iterator for Caseload {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let student = Student::draw(self.next_index, &mut self.rng);
        self.next_index += 1;
        // Serializing plain structs of strings and numbers cannot fail.
        Some(serde_json::to_string(&student).expect("a generated student serializes"))
    }
}

// ---------------------------------------------------------------------------------
// The record, in the key order of the Python script's output.

#[derive(Serialize)]
struct Student {
    student_id: String,
    school_id: String,
    grade_level: u32,
    as_of: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attendance: Option<Attendance>,
    courses: Vec<Course>,
    gpa: f64,
    assessments: Vec<Assessment>,
    behavior: Behavior,
    programs: Programs,
    #[serde(skip_serializing_if = "Option::is_none")]
    sel: Option<Sel>,
}

#[derive(Serialize)]
struct Attendance {
    days_enrolled: u32,
    days_present: f64,
    unexcused_absences: u32,
    tardies: u32,
}

#[derive(Serialize)]
struct Course {
    course_id: String,
    title: String,
    subject: &'static str,
    grade_pct: f64,
    credits: f64,
}

#[derive(Serialize)]
struct Assessment {
    name: &'static str,
    subject: &'static str,
    percentile: u32,
    date: String,
}

#[derive(Serialize)]
struct Behavior {
    office_referrals: u32,
    suspensions_in_school: u32,
    suspensions_out_of_school: u32,
}

#[derive(Serialize)]
struct Programs {
    ell: bool,
    iep: bool,
    section_504: bool,
}

#[derive(Serialize)]
struct Sel {
    screener: &'static str,
    t_score: u32,
    date: &'static str,
}

impl Student {
    /// Draws one student, consuming random numbers in the order the Python script does.
    fn draw(index: u64, rng: &mut Rng) -> Self {
        let enrolled = rng.int_in(20, 180);
        let mean_absent = f64::from(enrolled) * 0.07;
        let absent = f64::from(enrolled).min(round_to(rng.exponential(1.0 / mean_absent), 2.0));
        let (school, grade_level) = (rng.int_in(1, 40), rng.int_in(6, 12));
        let attendance = Attendance {
            days_enrolled: enrolled,
            days_present: f64::from(enrolled) - absent,
            unexcused_absences: (absent * rng.uniform()) as u32,
            tardies: rng.int_in(0, 15),
        };
        let mut student = Student {
            student_id: format!("S{index:07}"),
            school_id: format!("SCH-{school:02}"),
            grade_level,
            as_of: "2026-11-20",
            attendance: Some(attendance),
            courses: draw_courses(rng),
            gpa: round_to(rng.gauss(2.8, 0.8).clamp(0.0, 4.0), 100.0),
            assessments: draw_assessments(rng),
            behavior: Behavior {
                office_referrals: rng.exponential(0.6) as u32,
                suspensions_in_school: u32::from(rng.chance(0.07)),
                suspensions_out_of_school: u32::from(rng.chance(0.05))
                    + u32::from(rng.chance(0.02)),
            },
            programs: Programs {
                ell: rng.chance(0.12),
                iep: rng.chance(0.13),
                section_504: rng.chance(0.03),
            },
            sel: None,
        };
        if rng.chance(0.8) {
            student.sel = Some(Sel {
                screener: "DESSA-mini",
                t_score: rng.int_in(25, 70),
                date: "2026-10-01",
            });
        }
        if rng.chance(0.03) {
            student.attendance = None;
        }
        student
    }
}

/// 3–7 courses, each with a subject and a grade drawn from gauss(76, 13) clamped to 0–100.
fn draw_courses(rng: &mut Rng) -> Vec<Course> {
    let count = rng.int_in(3, 7);
    (0..count)
        .map(|j| Course {
            course_id: format!("C{j}"),
            title: format!("Course {j}"),
            subject: SUBJECTS[rng.below(SUBJECTS.len())],
            grade_pct: round_to(rng.gauss(76.0, 13.0).clamp(0.0, 100.0), 10.0),
            credits: 1.0,
        })
        .collect()
}

/// 0–2 screener results, reading and math in random order, without repeats.
fn draw_assessments(rng: &mut Rng) -> Vec<Assessment> {
    let count = rng.int_in(0, 2) as usize;
    let mut subjects = ["reading", "math"];
    if rng.chance(0.5) {
        subjects.swap(0, 1);
    }
    subjects[..count]
        .iter()
        .map(|&subject| Assessment {
            name: "Screener",
            subject,
            percentile: rng.int_in(1, 99),
            date: format!("2026-{:02}-{:02}", rng.int_in(8, 10), rng.int_in(1, 28)),
        })
        .collect()
}

/// Rounds to the nearest 1/`scale` (ties to even, like Python's `round`).
fn round_to(value: f64, scale: f64) -> f64 {
    (value * scale).round_ties_even() / scale
}

// ---------------------------------------------------------------------------------
// The random source.

/// xoshiro256** seeded through splitmix64 (Blackman and Vigna's reference algorithms).
struct Rng {
    state: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            state: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits of precision.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (Lemire's multiply-shift; the bias is below 2^-58 for small n).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform integer in low..=high, like Python's `randint`.
    fn int_in(&mut self, low: u32, high: u32) -> u32 {
        low + self.below((high - low + 1) as usize) as u32
    }

    /// True with probability `p`, like `random() < p`.
    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Exponential with rate `lambda` (mean 1/lambda), like `expovariate`.
    fn exponential(&mut self, lambda: f64) -> f64 {
        -(1.0 - self.uniform()).ln() / lambda
    }

    /// Normal with the given mean and standard deviation (Box–Muller).
    fn gauss(&mut self, mean: f64, sd: f64) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1], so ln is finite
        let u2 = self.uniform();
        mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

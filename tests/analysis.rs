//! Issue 17: the band analysis says what the engine does. For random threshold edits
//! of the three attendance bands, every absence rate (in hundredths) inside a
//! reported gap fires none of them, and every one inside a reported overlap fires
//! both rules named, when records with that rate are evaluated by the real engine.

use std::collections::BTreeMap;
use std::path::Path;

use intervene::engine::Evaluator;
use intervene::record::parse_record;
use intervene::rules::RuleSet;
use proptest::prelude::*;
use serde_json::json;

const BANDS: [&str; 3] = [
    "attendance-watch",
    "chronic-absence",
    "severe-chronic-absence",
];

/// The shipped files with `attendance.yaml` replaced by three bands.
fn files(conditions: &[String; 3]) -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files = BTreeMap::new();
    for name in RuleSet::file_names(&dir) {
        let text = std::fs::read_to_string(dir.join(&name)).expect("read shipped file");
        files.insert(name, text);
    }
    let mut pack = String::from("rules:\n");
    for (tier, (id, when)) in BANDS.iter().zip(conditions).enumerate() {
        pack.push_str(&format!(
            "  - id: {id}\n    name: {id}\n    domain: attendance\n    tier: {}\n    when: {when}\n    explain: \"Missed {{student.attendance.absence_rate:%}}\"\n    recommend: [attendance-plan]\n",
            tier + 1
        ));
    }
    files.insert("attendance.yaml".into(), pack);
    files
}

/// `>= 0.07` or `> 0.07` (`lo`), `< 0.12` or `<= 0.12` (`hi`), in hundredths.
fn side(op: &str, k: u32) -> String {
    format!(
        "student.attendance.absence_rate {op} {}",
        f64::from(k) / 100.0
    )
}

/// The interval a message names (`in [0.1, 0.12)`), as a test on hundredths.
fn interval(message: &str) -> impl Fn(f64) -> bool + use<> {
    let start = message.rfind(" in [").or_else(|| message.rfind(" in ("));
    let text = &message[start.expect("an interval in the message") + 4..];
    let closed_lo = text.starts_with('[');
    let end = text.find([')', ']']).expect("interval end");
    let closed_hi = &text[end..=end] == "]";
    let (lo, hi) = text[1..end].split_once(", ").expect("two ends");
    let num = |s: &str| match s {
        "∞" => f64::INFINITY,
        "-∞" => f64::NEG_INFINITY,
        n => n.parse::<f64>().expect("a number"),
    };
    let (lo, hi) = (num(lo), num(hi));
    move |x| (x > lo || (closed_lo && x == lo)) && (x < hi || (closed_hi && x == hi))
}

fn fired(ev: &Evaluator, rs: &RuleSet, hundredths: u32) -> Vec<String> {
    let record = json!({"student_id": "S1", "attendance": {"days_enrolled": 100, "days_present": 100 - hundredths}});
    let record = parse_record(&record.to_string()).expect("record");
    let d = ev.evaluate(rs, &record);
    assert!(d.rule_errors.is_empty(), "{:?}", d.rule_errors);
    d.flags
        .into_iter()
        .map(|f| f.rule_id)
        .filter(|id| BANDS.contains(&id.as_str()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn gaps_fire_no_band_and_overlaps_fire_both(
        watch in (0u32..15, 5u32..25, any::<bool>(), any::<bool>()),
        chronic in (5u32..25, 10u32..40, any::<bool>(), any::<bool>()),
        severe in (10u32..40, any::<bool>()),
    ) {
        let lo = |k, closed: bool| side(if closed { ">=" } else { ">" }, k);
        let hi = |k, closed: bool| side(if closed { "<=" } else { "<" }, k);
        let conditions = [
            format!("{} && {}", lo(watch.0, watch.2), hi(watch.1, watch.3)),
            format!("{} && {}", lo(chronic.0, chronic.2), hi(chronic.1, chronic.3)),
            lo(severe.0, severe.1),
        ];
        let rs = RuleSet::from_files(files(&conditions)).expect("threshold edits load");
        let ev = Evaluator::new();
        let hundredths = |message: &str| {
            let inside = interval(message);
            (0..=100u32).filter(move |k| inside(f64::from(*k) / 100.0))
        };
        for w in &rs.warnings {
            if w.message.contains("fires no attendance rule") {
                let values = hundredths(&w.message);
                for k in values {
                    let f = fired(&ev, &rs, k);
                    prop_assert!(f.is_empty(), "{}: rate {k}% fires {f:?}", w.message);
                }
            } else if w.message.contains("both fire") {
                let named: Vec<&str> = w.message.split('`').skip(1).step_by(2).take(2).collect();
                let values = hundredths(&w.message);
                for k in values {
                    let f = fired(&ev, &rs, k);
                    for id in &named {
                        prop_assert!(f.iter().any(|x| x == id), "{}: rate {k}% fires {f:?}", w.message);
                    }
                }
            }
        }
    }
}

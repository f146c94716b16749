//! The family summary of one student: strengths first, then what the school noticed,
//! what it will do, the goals of open plans with their progress in words, how the
//! family can help, and whom to contact. Built from the student's latest decision, the
//! rule set that made it (its `family:` texts), the record it judged, the team's
//! reviews (a dismissed flag is not told) and the student's plans. No rule ids,
//! params, hashes or tiers reach the words.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::words::{self, Words};
use crate::engine::{Decision, render};
use crate::plans::plan::Plan;
use crate::record::facts::human_number;
use crate::record::{Facts, HistoryFacts, Record};
use crate::rules::{Domain, RuleSet};

/// One open plan, in words.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlanWords {
    /// What the help is (the intervention's family text, or its name).
    pub help: String,
    pub goal: String,
    pub progress: String,
}

/// What a family reads.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FamilySummary {
    pub student_id: String,
    pub lang: String,
    pub strengths: Vec<String>,
    pub noticed: Vec<String>,
    pub will_do: Vec<String>,
    pub plans: Vec<PlanWords>,
    pub help: Vec<String>,
    pub contacts: Vec<String>,
}

/// What a summary is made from.
pub struct Sources<'a> {
    pub decision: &'a Decision,
    /// The rule set that made the decision.
    pub rules: &'a RuleSet,
    /// The record the decision judged, and its plan and history facts.
    pub record: &'a Record,
    pub history: &'a HistoryFacts,
    /// Flags the team dismissed (by rule id): not told.
    pub dismissed: &'a BTreeSet<String>,
    pub plans: &'a [Plan],
    pub today: NaiveDate,
}

/// Push `s` unless it is already there.
fn push_once(v: &mut Vec<String>, s: String) {
    if !s.trim().is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

pub fn build(src: &Sources, lang: &str) -> FamilySummary {
    let facts = Facts::with_history(src.record, src.history);
    let family_text = |rule_id: &str| -> Option<String> {
        let rule = src.rules.rule(rule_id)?;
        let t = rule.family.get(lang)?;
        Some(render(t, src.rules, &facts))
    };
    let mut s = FamilySummary {
        student_id: src.decision.student_id.clone(),
        lang: lang.to_string(),
        strengths: Vec::new(),
        noticed: Vec::new(),
        will_do: Vec::new(),
        plans: Vec::new(),
        help: Vec::new(),
        contacts: Vec::new(),
    };
    for st in &src.decision.strengths {
        // A strength without words in this language is left out rather than told in
        // the rule's own (staff) words.
        if let Some(text) = family_text(&st.rule_id) {
            push_once(&mut s.strengths, text);
        }
    }
    let told: Vec<_> = src
        .decision
        .flags
        .iter()
        .filter(|f| !src.dismissed.contains(&f.rule_id))
        .collect();
    let mut domains: BTreeSet<Domain> = BTreeSet::new();
    for f in &told {
        let text =
            family_text(&f.rule_id).unwrap_or_else(|| words::noticed_in(f.domain, lang).into());
        push_once(&mut s.noticed, text);
        domains.insert(f.domain);
    }
    let intervention_words = |id: &str| -> Option<String> {
        let i = src.rules.intervention(id)?;
        Some(
            i.family
                .get(lang)
                .cloned()
                .unwrap_or_else(|| i.name.clone()),
        )
    };
    for r in &src.decision.recommendations {
        if r.because.iter().any(|id| !src.dismissed.contains(id))
            && let Some(text) = intervention_words(&r.intervention)
        {
            push_once(&mut s.will_do, text);
        }
    }
    for p in src.plans.iter().filter(|p| p.status.is_open()) {
        let help = intervention_words(&p.intervention).unwrap_or_else(|| p.intervention.clone());
        push_once(&mut s.will_do, help.clone());
        s.plans.push(plan_words(p, help, src, lang));
        domains.insert(p.domain);
        push_once(&mut s.contacts, p.owner.clone());
    }
    for d in domains {
        push_once(&mut s.help, words::help_in(d, lang).into());
    }
    if s.contacts.is_empty() {
        s.contacts.push(words::words(lang).contact_default.into());
    }
    s
}

fn plan_words(p: &Plan, help: String, src: &Sources, lang: &str) -> PlanWords {
    let g = &p.goal;
    let (measure, percent) = measure_words(&g.measure, src.rules, lang);
    let num = |x: f64| {
        if percent {
            format!("{}%", human_number((x * 1000.0).round() / 10.0))
        } else {
            human_number(x)
        }
    };
    let goal = words::plan_goal(
        lang,
        &measure,
        &num(g.target),
        &date_words(g.by, lang),
        &num(g.baseline),
    );
    let summary = p.summary(src.today);
    let latest = summary
        .as_ref()
        .and_then(|s| s.newest)
        .map(|pt| (num(pt.value), date_words(pt.date, lang)));
    let on_track = summary.as_ref().and_then(|s| {
        // A trend needs points; the newest point against the aim line says where the
        // student stands.
        (s.data_points >= 3).then_some(())?;
        s.aim_gap.map(|gap| gap >= 0.0)
    });
    let progress = words::plan_progress(
        lang,
        latest.as_ref().map(|(v, d)| (v.as_str(), d.as_str())),
        on_track,
    );
    PlanWords {
        help,
        goal,
        progress,
    }
}

/// A goal's measure as a family reads it, and whether its values are rates (shown as
/// percentages).
fn measure_words(measure: &str, rules: &RuleSet, lang: &str) -> (String, bool) {
    let es = lang == "es";
    let known = match measure {
        "attendance.absence_rate" => Some((
            "the share of school days missed",
            "el porcentaje de días de clase perdidos",
            true,
        )),
        "reading_percentile" => Some((
            "the reading check (percentile)",
            "la evaluación de lectura (percentil)",
            false,
        )),
        "math_percentile" => Some((
            "the math check (percentile)",
            "la evaluación de matemáticas (percentil)",
            false,
        )),
        "sel.t_score" => Some((
            "the social and emotional skills check",
            "la evaluación de habilidades sociales y emocionales",
            false,
        )),
        "behavior.office_referrals" => {
            Some(("trips to the office", "los envíos a la dirección", false))
        }
        "gpa" => Some((
            "the grade point average",
            "el promedio de calificaciones",
            false,
        )),
        "failing_courses" => Some(("classes not passed", "las clases no aprobadas", false)),
        _ => None,
    };
    if let Some((en, sp, pct)) = known {
        return ((if es { sp } else { en }).to_string(), pct);
    }
    match rules.measures.iter().find(|m| m.id == measure) {
        Some(m) => (format!("{} ({})", m.name.to_lowercase(), m.unit), false),
        None => (measure.replace(['-', '_', '.'], " "), false),
    }
}

/// A date as a family reads it: "January 15, 2027" / "15 de enero de 2027".
pub fn date_words(d: NaiveDate, lang: &str) -> String {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const ES: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    let m = d.month0() as usize;
    if lang == "es" {
        format!("{} de {} de {}", d.day(), ES[m], d.year())
    } else {
        format!("{} {}, {}", EN[m], d.day(), d.year())
    }
}

impl FamilySummary {
    /// The fixed words of the summary's language.
    pub fn words(&self) -> &'static Words {
        words::words(&self.lang)
    }

    /// The summary as plain text (what a liaison reads out, pastes or sends).
    pub fn to_text(&self) -> String {
        let w = self.words();
        let mut out = format!("{}\n{}: {}\n", w.title, w.about, self.student_id);
        let mut section = |title: &str, items: &[String], empty: Option<&str>| {
            if items.is_empty() && empty.is_none() {
                return;
            }
            out.push_str(&format!("\n{title}\n"));
            for i in items {
                out.push_str(&format!("- {i}\n"));
            }
            if items.is_empty()
                && let Some(e) = empty
            {
                out.push_str(&format!("{e}\n"));
            }
        };
        section(w.strengths, &self.strengths, Some(w.no_strengths));
        section(w.noticed, &self.noticed, Some(w.nothing_noticed));
        section(w.will_do, &self.will_do, None);
        let plans: Vec<String> = self
            .plans
            .iter()
            .map(|p| format!("{} {} {}", p.help, p.goal, p.progress))
            .collect();
        section(w.plans, &plans, None);
        section(w.help, &self.help, None);
        section(w.contact, &self.contacts, None);
        out.push_str(&format!("\n{}\n", w.footer));
        out
    }
}

//! The student page (`GET /students/{id}`): every flag of the latest decision in
//! plain language with its inputs, what would clear it and its review; the review
//! forms; the key indicators over the decisions shown (charts with the active
//! rules' thresholds, and their tables, from the same decisions read); the
//! decision history as a timeline; each plan with its progress chart (and
//! the chart's table), delivery, and forms to add a point or a session; and, for the
//! roles that may read the log, who has read this student's records.
//!
//! Reads go through the same use cases as the API (`decisions`, `plans`, and the
//! audit page for the read log), so each is recorded under the signed-in person.
//! The forms post to `/students/{id}/reviews`, `/plans/{id}/progress` and
//! `/plans/{id}/sessions`, which call the API's use cases and come back here.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::caseload::{domain_label, path_segment};
use super::chart;
use super::chart::trend::{self, Indicator, Reading};
use super::error::ConsoleError;
use super::layout::Layout;
use super::session::{ConsoleUser, Posted};
use crate::app::plans::{Origin, ProgressRequest, SessionRequest};
use crate::audit::Query;
use crate::caseload::ReviewRequest;
use crate::caseload::review::FlagRequest;
use crate::http::{AppState, request_id};
use crate::plans::Plan;
use crate::record::StudentId;
use crate::rules::{Domain, RuleSet};

/// Decisions shown in the timeline.
const HISTORY: usize = 20;
/// Reads shown in "who has read these records".
const READS: usize = 20;

/// One flag of the latest decision.
struct FlagView {
    rule_id: String,
    domain: String,
    tier: u64,
    explanation: String,
    inputs: Vec<(String, String)>,
    clears: Option<String>,
    state: String,
    /// "confirmed by … on …, because …" (empty when unreviewed).
    review: String,
}

/// One decision of the timeline.
struct DecisionView {
    seq: u64,
    at: String,
    tiers: Vec<(String, u64)>,
    fired: Vec<String>,
    source: String,
}

/// One plan with its chart.
struct PlanView {
    plan_id: String,
    intervention: String,
    domain: String,
    tier: u8,
    status: String,
    open: bool,
    owner: String,
    goal: String,
    svg: String,
    table: String,
    delivery: String,
    start: String,
}

/// One key indicator over the decisions shown, with its table.
struct IndicatorView {
    label: String,
    svg: String,
    table: String,
    /// Only one decision holds it: a point, not a line.
    single: bool,
}

/// The day a decision entry (as answered) was about: its record's `as_of`, else
/// the day it was evaluated.
fn decision_day(entry: &Value) -> Option<NaiveDate> {
    let day = |v: &Value| {
        v.as_str()
            .and_then(|s| s.get(..10))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    day(&entry["as_of"])
        .or_else(|| day(&entry["decision"]["evaluated_at"]))
        .or_else(|| day(&entry["at"]))
}

/// A chart of each key indicator some of the decisions `entries` hold, with the
/// thresholds `rules` compare it against.
fn indicator_views(entries: &[Value], rules: &RuleSet) -> Vec<IndicatorView> {
    trend::INDICATORS
        .iter()
        .filter_map(|path| {
            let readings: Vec<Reading> = entries
                .iter()
                .filter_map(|e| {
                    Some(Reading {
                        value: e["indicators"][*path].as_f64()?,
                        date: decision_day(e)?,
                        seq: e["seq"].as_u64()?,
                    })
                })
                .collect();
            let ind = Indicator::new(path, readings, trend::thresholds(rules, path));
            (!ind.readings().is_empty()).then(|| IndicatorView {
                single: ind.readings().len() == 1,
                svg: ind.svg(),
                table: ind.table_html(),
                label: ind.label,
            })
        })
        .collect()
}

/// One read of the student's records.
struct ReadView {
    at: String,
    actor: String,
    what: String,
}

#[derive(Template)]
#[template(path = "console/student.html")]
struct StudentPage {
    layout: Layout,
    id: String,
    id_path: String,
    latest_seq: Option<u64>,
    latest: Option<DecisionView>,
    /// What the student does well (the latest decision's strengths), in staff words.
    strengths: Vec<(String, String)>,
    /// The family summary's languages, when the user may read it.
    family_languages: Vec<String>,
    flags: Vec<FlagView>,
    history: Vec<DecisionView>,
    indicators: Vec<IndicatorView>,
    plans: Vec<PlanView>,
    can_review: bool,
    can_record: bool,
    reads: Option<Vec<ReadView>>,
    today: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "missing".into(),
        other => other.to_string(),
    }
}

fn domain_words(name: &str) -> String {
    Domain::parse(name).map_or_else(|| name.to_string(), |d| domain_label(d).to_string())
}

fn decision_view(entry: &Value) -> DecisionView {
    let d = &entry["decision"];
    let tiers = d["tiers"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (domain_words(k), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let fired = d["flags"]
        .as_array()
        .map(|fs| fs.iter().map(|f| text(&f["rule_id"])).collect())
        .unwrap_or_default();
    DecisionView {
        seq: entry["seq"].as_u64().unwrap_or(0),
        at: text(&entry["at"]),
        tiers,
        fired,
        source: text(&entry["source"]["kind"]),
    }
}

fn review_words(r: &Value) -> String {
    let Some(review) = r.get("review") else {
        return String::new();
    };
    let mut s = format!(
        "{} by {} on {}",
        text(&r["state"]),
        text(&review["reviewer"]),
        text(&review["at"]).get(..10).unwrap_or_default()
    );
    if let Some(until) = review["until"].as_str() {
        s.push_str(&format!(" (until {until})"));
    }
    if let Some(reason) = review["reason"].as_str() {
        s.push_str(&format!(", because {reason}"));
    }
    s
}

fn flag_views(entry: &Value) -> Vec<FlagView> {
    let flags = entry["decision"]["flags"].as_array().cloned();
    flags
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let rule_id = text(&f["rule_id"]);
            let review = &entry["reviews"][&rule_id];
            FlagView {
                domain: domain_words(f["domain"].as_str().unwrap_or("")),
                tier: f["tier"].as_u64().unwrap_or(0),
                explanation: text(&f["explanation"]),
                inputs: f["inputs"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                    .unwrap_or_default(),
                clears: f["clears"].as_str().map(str::to_string),
                state: review["state"].as_str().unwrap_or("unreviewed").to_string(),
                review: review_words(review),
                rule_id,
            }
        })
        .collect()
}

fn plan_view(p: &Plan, today: NaiveDate) -> PlanView {
    let g = &p.goal;
    let delivery = match p.summary(today) {
        Some(s) => match crate::plans::report::delivery_words(&s) {
            Some(d) => format!("Sessions: {d}."),
            None => "No schedule to judge delivery against yet.".into(),
        },
        None => "The goal cannot be charted.".into(),
    };
    PlanView {
        plan_id: p.plan_id.clone(),
        intervention: p.intervention.clone(),
        domain: domain_label(p.domain).to_string(),
        tier: p.tier,
        status: format!("{:?}", p.status).to_lowercase(),
        open: p.status.is_open(),
        owner: p.owner.clone(),
        goal: format!(
            "{} from {} to {} by {}",
            g.measure,
            crate::record::facts::human_number(g.baseline),
            crate::record::facts::human_number(g.target),
            g.by
        ),
        svg: chart::svg(p, today),
        table: chart::table_html(p, today),
        delivery,
        start: p.start.to_string(),
    }
}

/// `GET /students/{id}`.
pub async fn page(
    user: ConsoleUser,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/students/{id}/decisions")?;
    let id = StudentId::parse(&id).map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let rid = request_id(&req);
    let by = user.caller(&rid);
    let body = crate::app::reads::decisions(&state, by, &id, None, HISTORY).await?;
    let page: Value = serde_json::from_str(&body).map_err(ConsoleError::internal)?;
    let entries = page["decisions"].as_array().cloned().unwrap_or_default();
    let plans = if user.may("GET", "/v1/students/{id}/plans") {
        crate::app::plans::of_student(&state, by, &id).await?
    } else {
        Vec::new()
    };
    let reads = if user.may("GET", "/v1/audit") {
        let query = Query {
            student: Some(id.to_string()),
            kind: Some("student.accessed".into()),
            limit: READS,
            ..Query::default()
        };
        let filter = serde_json::json!({"student": id.as_str(), "kind": "student.accessed"});
        let body = crate::app::reads::audit_page(&state, by, query, Some(&id), filter).await?;
        let v: Value = serde_json::from_str(&body).map_err(ConsoleError::internal)?;
        Some(
            v["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| ReadView {
                    at: text(&e["at"]),
                    actor: text(&e["actor"]),
                    what: text(&e["payload"]["read"]),
                })
                .collect(),
        )
    } else {
        None
    };
    let today = crate::app::today();
    let html = StudentPage {
        layout: user.layout(""),
        id_path: path_segment(id.as_str()),
        id: id.to_string(),
        latest_seq: entries.first().and_then(|e| e["seq"].as_u64()),
        latest: entries.first().map(decision_view),
        strengths: entries
            .first()
            .and_then(|e| e["decision"]["strengths"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|st| (text(&st["rule_id"]), text(&st["explanation"])))
            .collect(),
        family_languages: if user.may("GET", "/v1/students/{id}/family-summary") {
            state
                .settings
                .family_languages
                .iter()
                .filter(|l| crate::families::words::LANGUAGES.contains(&l.as_str()))
                .cloned()
                .collect()
        } else {
            Vec::new()
        },
        flags: entries.first().map(flag_views).unwrap_or_default(),
        history: entries.iter().map(decision_view).collect(),
        indicators: indicator_views(&entries, &state.registry.active()),
        plans: plans.iter().map(|p| plan_view(p, today)).collect(),
        can_review: user.may("POST", "/v1/students/{id}/reviews"),
        can_record: user.may("POST", "/v1/plans/{id}/progress"),
        reads,
        today: today.to_string(),
    }
    .render()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The family-summary query of the console's link.
#[derive(Deserialize)]
pub struct FamilyQuery {
    lang: Option<String>,
}

/// `GET /students/{id}/family-summary?lang=`: the printable page a liaison hands the
/// family (the same page and the same recorded read as the JSON API's).
pub async fn family_summary(
    user: ConsoleUser,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<FamilyQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", "/v1/students/{id}/family-summary")?;
    let id = StudentId::parse(&id).map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let lang = crate::http::routes::family::language(
        q.into_inner().lang,
        &state.settings.family_languages,
    )
    .map_err(ConsoleError::bad_request)?;
    let rid = request_id(&req);
    let s = crate::app::families::family_summary(&state, user.caller(&rid), &id, &lang).await?;
    crate::http::routes::family::page(&s).map_err(ConsoleError::internal)
}

fn back_to(student: &str, anchor: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/students/{}#{anchor}", path_segment(student)),
        ))
        .finish()
}

/// One flag's review as the page's form sends it.
#[derive(Deserialize)]
pub struct ReviewForm {
    decision_seq: u64,
    rule_id: String,
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    until: String,
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `POST /students/{id}/reviews`: the API's review of one flag, then back.
pub async fn review(
    posted: Posted<ReviewForm>,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("POST", "/v1/students/{id}/reviews")?;
    let id = StudentId::parse(&id).map_err(|e| ConsoleError::bad_request(e.to_string()))?;
    let rid = request_id(&req);
    let request = ReviewRequest {
        decision_seq: form.decision_seq,
        flags: vec![FlagRequest {
            rule_id: form.rule_id.clone(),
            action: form.action,
            reason: non_empty(form.reason),
            until: non_empty(form.until),
        }],
        note: None,
    };
    crate::app::caseload::review(&state, user.caller(&rid), &id, request).await?;
    Ok(back_to(id.as_str(), &format!("flag-{}", form.rule_id)))
}

/// A progress point as the page's form sends it.
#[derive(Deserialize)]
pub struct PointForm {
    date: NaiveDate,
    value: f64,
    #[serde(default)]
    note: String,
}

/// A session as the page's form sends it (`delivered` is a checkbox: absent when
/// not ticked).
#[derive(Deserialize)]
pub struct SessionForm {
    date: NaiveDate,
    minutes: f64,
    #[serde(default)]
    delivered: Option<String>,
}

/// `POST /plans/{id}/progress`.
pub async fn progress(
    posted: Posted<PointForm>,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("POST", "/v1/plans/{id}/progress")?;
    let rid = request_id(&req);
    let request = ProgressRequest {
        date: form.date,
        value: form.value,
        note: non_empty(form.note),
    };
    let by = user.caller(&rid);
    let plan =
        crate::app::plans::progress_from(&state, by, &id, request, Origin::of("staff")).await?;
    Ok(back_to(&plan.student_id, &format!("plan-{}", plan.plan_id)))
}

/// `POST /plans/{id}/sessions`.
pub async fn session(
    posted: Posted<SessionForm>,
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let Posted { user, form } = posted;
    user.require("POST", "/v1/plans/{id}/sessions")?;
    let rid = request_id(&req);
    let request = SessionRequest {
        date: form.date,
        minutes: form.minutes,
        delivered: form.delivered.is_some(),
    };
    let by = user.caller(&rid);
    let plan =
        crate::app::plans::session_from(&state, by, &id, request, Origin::of("staff")).await?;
    Ok(back_to(&plan.student_id, &format!("plan-{}", plan.plan_id)))
}

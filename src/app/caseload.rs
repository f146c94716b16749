//! The team's loop, part 1: the caseload, its summary, rosters and review queue,
//! and a person's review of a decision's flags; for the console, the summary and
//! the rosters counted in one pass ([`tally`]) and shown with the read recorded
//! ([`show_rosters`]).
//!
//! Every read that names students (a caseload page, rosters, the queue) appends a
//! `caseload.read` entry with the filter and the students it answered with, durable
//! before the answer (FERPA: who saw which students). The summary is counts only and
//! is not recorded. A review appends `decision.reviewed`; the caseload index takes
//! it in the same durable write (`caseload::attach`), and the append says whether it
//! was superseded by a newer decision.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{AppError, Caller, Service, today};
use crate::audit::{EntryKind, NewEntry};
use crate::caseload::{
    self, CaseEntry, CaseloadError, CaseloadQuery, Filter, GroupsQuery, Index, ParamError,
    QueueQuery, Reference, ReviewError, ReviewRequest, Roster, Rosters, Summary,
};
use crate::record::StudentId;

/// How a list is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// For a spreadsheet (formula-like cells are quoted as text).
    Csv,
}

/// An answer body, the number of students it names, and the cursor of the next
/// page when there is one (a CSV body cannot carry it).
pub struct Listing {
    pub body: Vec<u8>,
    pub students: usize,
    pub next_cursor: Option<String>,
}

impl From<CaseloadError> for AppError {
    fn from(e: CaseloadError) -> Self {
        AppError::Caseload(e)
    }
}

impl From<ParamError> for AppError {
    fn from(e: ParamError) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

/// The index may be read: refused while it is behind the log (its follower failed
/// and the server has not been restarted to rebuild it).
fn current(svc: &Service) -> Result<(), AppError> {
    match svc.store.follower_lagging() {
        Some(why) => Err(AppError::Unavailable(format!(
            "the caseload is behind the audit log ({why}); restart the server to rebuild it"
        ))),
        None => Ok(()),
    }
}

/// A caseload entry as answered: the entry, each flag's review state today, and
/// the student's open plans (`[]` when none) with whether each needs review.
pub fn entry_json(e: &CaseEntry, today: NaiveDate) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    let plans: Vec<Value> = e
        .plans
        .iter()
        .map(|p| {
            let mut m = json!(p);
            m["needs_review"] = json!(p.needs_review(today));
            m
        })
        .collect();
    v["plans"] = json!(plans);
    if let Some(flags) = v.get_mut("flags").and_then(Value::as_array_mut) {
        for (f, entry) in flags.iter_mut().zip(&e.flags) {
            f["review_state"] = json!(entry.state_on(today).as_str());
        }
    }
    v
}

/// Record that `by` read the caseload: the filter as asked and the students
/// answered, in order.
async fn record_read(
    svc: &Service,
    by: Caller<'_>,
    read: &str,
    filter: &str,
    students: Vec<String>,
) -> Result<(), AppError> {
    let payload = json!({"read": read, "filter": filter, "students": students});
    svc.store
        .append(NewEntry::new(
            EntryKind::CaseloadRead,
            by.actor,
            by.request_id,
            payload,
        ))
        .await?;
    Ok(())
}

/// The reads that name students.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `GET /v1/caseload`: one page.
    Caseload,
    /// `GET /v1/groups`: rosters by intervention or rule.
    Groups,
    /// `GET /v1/reviews/queue`: unreviewed flags at `min_tier` and above, oldest first.
    Queue,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::Caseload => "caseload",
            List::Groups => "groups",
            List::Queue => "queue",
        }
    }
}

/// Answer `list` for the query `pairs` (`raw`: the query string as sent, recorded
/// as the filter), as JSON or CSV, and record the read with the students answered.
pub async fn list(
    svc: &Service,
    by: Caller<'_>,
    list: List,
    pairs: Vec<(String, String)>,
    raw: &str,
    format: Format,
) -> Result<Listing, AppError> {
    current(svc)?;
    let index = svc.caseload.clone();
    let work = move || match list {
        List::Caseload => caseload_page(&index, CaseloadQuery::parse(pairs)?, format),
        List::Groups => rosters(&index, GroupsQuery::parse(pairs)?, format),
        List::Queue => queue_page(&index, QueueQuery::parse(pairs)?, format),
    };
    let (body, students, next_cursor) = crate::blocking::run(work).await??;
    let n = students.len();
    record_read(svc, by, list.name(), raw, students).await?;
    Ok(Listing {
        body,
        students: n,
        next_cursor,
    })
}

/// A body, the students it names (in order) and the next page's cursor.
type Answer = Result<(Vec<u8>, Vec<String>, Option<String>), AppError>;

fn caseload_page(index: &Index, query: CaseloadQuery, format: Format) -> Answer {
    let today = today();
    let page = caseload::page(index, &query, today)?;
    let next = page.next_cursor.clone();
    let students = caseload::query::students_on(&page)
        .into_iter()
        .map(str::to_string)
        .collect();
    let body = match format {
        Format::Csv => {
            caseload::csv::write_caseload(Vec::new(), page.entries.into_iter().map(Ok), today)?
        }
        Format::Json => {
            let items: Vec<Value> = page.entries.iter().map(|e| entry_json(e, today)).collect();
            serde_json::to_vec(&json!({"students": items, "next_cursor": page.next_cursor}))?
        }
    };
    Ok((body, students, next))
}

fn rosters(index: &Index, query: GroupsQuery, format: Format) -> Answer {
    let groups = caseload::groups(index.entries(), &query, today())?;
    let mut students: Vec<String> = groups
        .iter()
        .flat_map(|g| g.students.iter().map(|m| m.student_id.clone()))
        .collect();
    students.sort();
    students.dedup();
    let body = match format {
        Format::Csv => caseload::csv::write_groups(Vec::new(), &groups)?,
        Format::Json => serde_json::to_vec(&json!({"groups": groups}))?,
    };
    Ok((body, students, None))
}

fn queue_page(index: &Index, query: QueueQuery, format: Format) -> Answer {
    let page = caseload::queue(index, &query, today())?;
    let next = page.next_cursor.clone();
    let mut students: Vec<String> = page.items.iter().map(|i| i.student_id.clone()).collect();
    students.dedup();
    let body = match format {
        Format::Csv => caseload::csv::write_queue(Vec::new(), &page.items)?,
        Format::Json => {
            serde_json::to_vec(&json!({"items": page.items, "next_cursor": page.next_cursor}))?
        }
    };
    Ok((body, students, next))
}

/// `GET /v1/caseload/summary`: counts only (not a read of any one student).
pub async fn summary(svc: &Service, pairs: Vec<(String, String)>) -> Result<Summary, AppError> {
    current(svc)?;
    let filter = Filter::parse(pairs)?;
    let reference = Reference::from_rules(&svc.registry.active());
    let index = svc.caseload.clone();
    Ok(crate::blocking::run(move || {
        caseload::summarize(index.entries(), &filter, today(), reference)
    })
    .await??)
}

/// Rosters counted for the console, sealed: the students they name are handed out
/// only by [`show_rosters`], which records the read first. Cheap to clone (a
/// page may keep them for its next views).
#[derive(Clone)]
pub struct CountedRosters(std::sync::Arc<Vec<Roster>>);

/// What one pass over the caseload counted for the console.
pub struct Tally {
    pub summary: Option<Summary>,
    pub rosters: Option<CountedRosters>,
}

/// In one pass over the caseload: the summary of the students the filter `summary`
/// selects (counts only, like [`summary`]) and the rosters of those the filter
/// `rosters` selects, with at most `shown` students each (`(pairs, shown)`). Nothing
/// is recorded here: the rosters' students are read through [`show_rosters`].
pub async fn tally(
    svc: &Service,
    summary: Option<Vec<(String, String)>>,
    rosters: Option<(Vec<(String, String)>, usize)>,
) -> Result<Tally, AppError> {
    current(svc)?;
    let scope = summary.map(Filter::parse).transpose()?;
    let rosters = rosters
        .map(|(pairs, shown)| Filter::parse(pairs).map(|f| (f, shown)))
        .transpose()?;
    let active = svc.registry.active();
    let reference = Reference::from_rules(&active);
    let catalogue: caseload::rosters::Catalogue = active
        .interventions
        .iter()
        .map(|i| (i.id.clone(), i.domain))
        .collect();
    let index = svc.caseload.clone();
    let (summary, rosters) = crate::blocking::run(move || {
        let counting = rosters.map(|(f, shown)| Rosters::new(f, shown, &catalogue));
        caseload::tally(
            index.entries(),
            scope.as_ref().map(|f| (f, reference)),
            counting,
            today(),
        )
    })
    .await??;
    Ok(Tally {
        summary,
        rosters: rosters.map(|r| CountedRosters(std::sync::Arc::new(r))),
    })
}

/// The rosters `counted` holds, once the read of the students they name is
/// recorded for `by` (`caseload.read` with `read: "groups"`, as `GET /v1/groups`;
/// `raw`: the filter as asked).
pub async fn show_rosters(
    svc: &Service,
    by: Caller<'_>,
    raw: &str,
    counted: &CountedRosters,
) -> Result<std::sync::Arc<Vec<Roster>>, AppError> {
    let mut students: Vec<String> = counted
        .0
        .iter()
        .flat_map(|r| r.members.iter().map(|m| m.member.student_id.clone()))
        .collect();
    students.sort();
    students.dedup();
    record_read(svc, by, List::Groups.name(), raw, students).await?;
    Ok(counted.0.clone())
}

/// The summary of every school (the metrics' share gauges).
pub async fn summary_by_school(
    svc: &Service,
) -> Result<std::collections::BTreeMap<String, Summary>, AppError> {
    let reference = Reference::from_rules(&svc.registry.active());
    let index = svc.caseload.clone();
    Ok(
        crate::blocking::run(move || caseload::summarize_by_school(index.entries(), reference))
            .await??,
    )
}

/// What a review came to.
#[derive(Debug, serde::Serialize)]
pub struct Reviewed {
    /// The `decision.reviewed` entry.
    pub seq: u64,
    pub hash: String,
    /// The decision is no longer the student's latest: the review is in the log
    /// but did not change the caseload.
    pub superseded: bool,
    pub review: caseload::ReviewPayload,
}

/// `POST /v1/students/{id}/reviews`: check the review against the decision it names
/// and append it.
pub async fn review(
    svc: &Service,
    by: Caller<'_>,
    student: &StudentId,
    request: ReviewRequest,
) -> Result<Reviewed, AppError> {
    current(svc)?;
    let (store, id, reviewer) = (svc.store.clone(), student.to_string(), by.actor.to_string());
    let checked = crate::blocking::run(move || -> Result<_, AppError> {
        let decision = store.get(request.decision_seq)?;
        Ok(request.validate(&id, decision.as_ref(), &reviewer, today()))
    })
    .await??;
    let payload = match checked {
        Ok(p) => p,
        Err(e @ ReviewError::Unreadable(_)) => return Err(AppError::Unavailable(e.to_string())),
        Err(e) if e.is_not_found() => return Err(AppError::NotFound(e.to_string())),
        Err(e) => return Err(AppError::Unprocessable(e.to_string())),
    };
    let appended = svc.store.append(payload.entry(by.request_id)).await?;
    for f in &payload.flags {
        tracing::info!(
            student_id = %payload.student_id,
            decision_seq = payload.decision_seq,
            rule_id = %f.rule_id,
            action = f.action.as_str(),
            superseded = appended.superseded,
            "flag reviewed"
        );
    }
    Ok(Reviewed {
        seq: appended.seq,
        hash: appended.hash,
        superseded: appended.superseded,
        review: payload,
    })
}

/// `GET /v1/reports/equity`: each stored student's latest decision grouped by the
/// reporting label `by` (`reporting.<name>`, from the student's stored snapshot) within
/// the `school`/`grade` filter. Counts only (like the summary, not a read of any one
/// student); small groups suppressed.
pub async fn equity(
    svc: &Service,
    by: &str,
    school: Option<String>,
    grade: Option<i64>,
) -> Result<crate::caseload::equity::EquityReport, AppError> {
    use crate::caseload::equity::{Counted, label_name, report};
    current(svc)?;
    let Some(name) = label_name(by).map(str::to_string) else {
        return Err(AppError::BadRequest(
            "`by` must name a reporting label, like `reporting.ell`".into(),
        ));
    };
    let (index, students, min) = (
        svc.caseload.clone(),
        svc.students.clone(),
        svc.settings.min_group_size,
    );
    let by = by.to_string();
    crate::blocking::run(move || -> Result<_, AppError> {
        let mut entries = Vec::new();
        for e in index.entries() {
            let e = e.map_err(AppError::Caseload)?;
            if school
                .as_ref()
                .is_some_and(|s| e.school.as_ref() != Some(s))
                || grade.is_some_and(|g| e.grade != Some(g))
            {
                continue;
            }
            let group = students
                .get(&e.student_id)?
                .and_then(|snap| snap.record.reporting)
                .and_then(|labels| labels.get(&name).map(crate::record::Label::group));
            entries.push((group, e));
        }
        let counted: Vec<Counted> = entries
            .iter()
            .map(|(group, entry)| Counted {
                group: group.clone(),
                entry,
            })
            .collect();
        Ok(report(&by, &counted, min, today()))
    })
    .await?
}

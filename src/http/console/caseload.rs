//! The caseload page (`GET /`): the MTSS picture per domain against the reference
//! shares, the filter form (the parameters of `GET /v1/caseload`, parsed by the same
//! `CaseloadQuery::parse`), one page of the student table with a link to the next,
//! the group rosters of the filter (for the roles of `GET /v1/groups`; see
//! [`rosters`]), and its CSV (`GET /caseload.csv`). The table and the CSV call
//! `app::caseload::list`, the rosters `app::caseload::show_rosters`; each records
//! the read (`caseload.read`) for the signed-in person, as the API does.

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::Layout;
use super::session::ConsoleUser;
use crate::app::AppError;
use crate::app::caseload::{self as use_case, CountedRosters, Format, List};
use crate::caseload::Summary;
use crate::http::{AppState, request_id};
use crate::rules::Domain;

/// The API route whose roles may see the caseload.
const API: &str = "/v1/caseload";
/// The API route whose roles may see the rosters.
const GROUPS: &str = "/v1/groups";

#[path = "rosters.rs"]
mod rosters;
use rosters::RosterView;

/// The query's pairs without empty values (a form sends its empty fields) and
/// without `format`.
fn pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, String> {
    let all: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| format!("The filter could not be read: {e}"))?;
    Ok(all
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && k != "format")
        .collect())
}

fn query_string(pairs: &[(String, String)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// A path segment with everything but unreserved characters percent-encoded.
pub(super) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The words for a domain.
pub(super) fn domain_label(d: Domain) -> &'static str {
    match d {
        Domain::Attendance => "Attendance",
        Domain::Academic => "Academic",
        Domain::Behavioral => "Behavioral",
        Domain::SocialEmotional => "Social-emotional",
    }
}

fn grade_label(g: Option<i64>) -> String {
    match g {
        None => String::new(),
        Some(-1) => "Pre-K".into(),
        Some(0) => "K".into(),
        Some(g) => g.to_string(),
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// One choice of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(current: &str, options: &[(&str, &str)]) -> Vec<Choice> {
    std::iter::once(("", "Any"))
        .chain(options.iter().copied())
        .map(|(value, label)| Choice {
            value: value.into(),
            label: label.into(),
            selected: value == current,
        })
        .collect()
}

/// The filter form as the request filled it.
pub struct FilterForm {
    pub school: String,
    pub grade: String,
    pub q: String,
    pub rule: String,
    pub intervention: String,
    pub plan: String,
    pub domain: Vec<Choice>,
    pub tier: Vec<Choice>,
    pub review: Vec<Choice>,
    pub needs_review: Vec<Choice>,
    /// `sort` and `limit` as asked, kept as hidden fields.
    pub hidden: Vec<(String, String)>,
}

impl FilterForm {
    fn of(pairs: &[(String, String)]) -> FilterForm {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let domains: Vec<(&str, &str)> = Domain::ALL
            .iter()
            .map(|d| (d.as_str(), domain_label(*d)))
            .collect();
        FilterForm {
            school: get("school"),
            grade: get("grade"),
            q: get("q"),
            rule: get("rule"),
            intervention: get("intervention"),
            plan: get("plan"),
            domain: choices(&get("domain"), &domains),
            tier: choices(
                &get("tier"),
                &[
                    ("0", "0 (nothing fired)"),
                    ("1", "1"),
                    ("2", "2"),
                    ("3", "3"),
                ],
            ),
            review: choices(
                &get("review"),
                &[
                    ("unreviewed", "Unreviewed"),
                    ("confirmed", "Confirmed"),
                    ("dismissed", "Dismissed"),
                    ("deferred", "Deferred"),
                ],
            ),
            needs_review: choices(
                &get("needs_review"),
                &[("true", "Plan review due"), ("false", "No plan review due")],
            ),
            hidden: pairs
                .iter()
                .filter(|(k, _)| k == "sort" || k == "limit")
                .cloned()
                .collect(),
        }
    }
}

/// One row of the MTSS picture.
pub struct PictureRow {
    pub label: &'static str,
    pub students: u64,
    pub tier1: String,
    pub tier2: String,
    pub tier3: String,
    pub tier2_above: bool,
    pub tier3_above: bool,
}

fn picture(s: &Summary) -> Vec<PictureRow> {
    let row = |label, c: &crate::caseload::summary::TierCounts| {
        let n: u64 = c.tiers.iter().sum();
        let t1 = if n == 0 {
            0.0
        } else {
            (c.tiers[0] + c.tiers[1]) as f64 / n as f64
        };
        PictureRow {
            label,
            students: n,
            tier1: percent(t1),
            tier2: percent(c.tier2_share),
            tier3: percent(c.tier3_share),
            tier2_above: c.tier2_above_reference,
            tier3_above: c.tier3_above_reference,
        }
    };
    std::iter::once(row("Any domain (highest tier)", &s.overall))
        .chain(s.by_domain.iter().map(|(d, c)| row(domain_label(*d), c)))
        .collect()
}

/// A student as `GET /v1/caseload` answers it (the fields the table shows).
#[derive(Deserialize)]
struct Listed {
    students: Vec<Listed1>,
}

#[derive(Deserialize)]
struct Listed1 {
    student_id: String,
    school: Option<String>,
    grade: Option<i64>,
    tiers: BTreeMap<Domain, u8>,
    highest_tier: u8,
    flags: Vec<ListedFlag>,
    plans: Vec<ListedPlan>,
}

#[derive(Deserialize)]
pub struct ListedFlag {
    pub rule_id: String,
    pub tier: u8,
    pub review_state: String,
}

#[derive(Deserialize)]
pub struct ListedPlan {
    pub intervention: String,
    pub status: String,
    pub review_due: Option<String>,
    pub needs_review: bool,
}

/// One row of the student table.
pub struct Row {
    pub id: String,
    pub href: String,
    pub school: String,
    pub grade: String,
    pub highest_tier: u8,
    /// The tier in each domain, in [`Domain::ALL`] order.
    pub tiers: Vec<u8>,
    pub flags: Vec<ListedFlag>,
    pub plans: Vec<ListedPlan>,
}

impl From<Listed1> for Row {
    fn from(s: Listed1) -> Row {
        Row {
            href: format!("/students/{}", path_segment(&s.student_id)),
            tiers: Domain::ALL
                .iter()
                .map(|d| s.tiers.get(d).copied().unwrap_or(0))
                .collect(),
            id: s.student_id,
            school: s.school.unwrap_or_default(),
            grade: grade_label(s.grade),
            highest_tier: s.highest_tier,
            flags: s.flags,
            plans: s.plans,
        }
    }
}

/// `console/caseload.html`.
#[derive(Template)]
#[template(path = "console/caseload.html")]
struct CaseloadPage {
    layout: Layout,
    filter: FilterForm,
    /// Why the filter was refused.
    error: Option<String>,
    picture: Vec<PictureRow>,
    tier2_reference: String,
    tier3_reference: String,
    domains: Vec<&'static str>,
    students: Vec<Row>,
    /// The next page's link.
    next: Option<String>,
    /// The CSV of this page.
    csv: String,
    /// When the picture was counted.
    counted_at: String,
    /// The group rosters, for the roles that may read them, on the first page.
    rosters: Option<RosterSection>,
    /// The first page's link, on a later page (where rosters are not repeated).
    first_page: Option<String>,
}

/// The rosters of the filter, as shown.
struct RosterSection {
    views: Vec<RosterView>,
    counted_at: String,
    shown: usize,
}

/// The students of one page and the next page's cursor, the read recorded.
async fn read_page(
    state: &AppState,
    user: &ConsoleUser,
    rid: &str,
    pairs: &[(String, String)],
) -> Result<(Vec<Row>, Option<String>), AppError> {
    let raw = query_string(pairs);
    let by = user.caller(rid);
    let listing = use_case::list(
        state,
        by,
        List::Caseload,
        pairs.to_vec(),
        &raw,
        Format::Json,
    )
    .await?;
    let listed: Listed = serde_json::from_slice(&listing.body)?;
    Ok((
        listed.students.into_iter().map(Row::from).collect(),
        listing.next_cursor,
    ))
}

/// `GET /`: the caseload. A filter the API would refuse is shown as a message
/// beside the form (400), not an error page.
pub async fn page(
    user: ConsoleUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", API)?;
    let rid = request_id(&req);
    let mut error = None;
    let pairs = pairs(&req).unwrap_or_else(|e| {
        error = Some(e);
        Vec::new()
    });
    let (mut students, mut next, mut summary) = (Vec::new(), None, None);
    let mut counted_at = String::new();
    let (mut roster_section, mut first_page) = (None, None);
    if error.is_none() {
        match read_page(&state, &user, &rid, &pairs).await {
            Ok((rows, cursor)) => {
                students = rows;
                next = cursor.map(|c| {
                    let mut p: Vec<_> = pairs
                        .iter()
                        .filter(|(k, _)| k != "cursor")
                        .cloned()
                        .collect();
                    p.push(("cursor".into(), c));
                    format!("/?{}", query_string(&p))
                });
                // The picture is of the students the school and grade select; the
                // rosters of those the whole filter does, on the first page only.
                let scope = pairs
                    .iter()
                    .filter(|(k, _)| k == "school" || k == "grade")
                    .cloned()
                    .collect();
                let later = pairs.iter().any(|(k, _)| k == "cursor");
                let filter = rosters::filter_pairs(&pairs);
                let may_list = user.may("GET", GROUPS);
                let asked = (may_list && !later).then(|| filter.clone());
                if later && may_list {
                    let p: Vec<_> = pairs
                        .iter()
                        .filter(|(k, _)| k != "cursor")
                        .cloned()
                        .collect();
                    first_page = Some(format!("/?{}", query_string(&p)));
                }
                let ((s, at), listed) = state.pictures.get_or_count(&state, scope, asked).await?;
                summary = Some(s);
                counted_at = at;
                if let Some((counted, at)) = listed {
                    let raw = query_string(&filter);
                    let by = user.caller(&rid);
                    let shown = use_case::show_rosters(&state, by, &raw, &counted).await?;
                    roster_section = Some(RosterSection {
                        views: rosters::views(&shown, &filter, &state.registry.active()),
                        counted_at: at,
                        shown: rosters::SHOWN,
                    });
                }
            }
            Err(AppError::BadRequest(m)) => error = Some(m),
            Err(e) => return Err(e.into()),
        }
    }
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let reference = summary.as_ref().map(|s| s.reference).unwrap_or_default();
    let page = CaseloadPage {
        layout: user.layout("/"),
        filter: FilterForm::of(&pairs),
        error,
        picture: summary.as_ref().map(picture).unwrap_or_default(),
        tier2_reference: percent(reference.tier2_share),
        tier3_reference: percent(reference.tier3_share),
        domains: Domain::ALL.iter().map(|d| domain_label(*d)).collect(),
        students,
        next,
        csv: format!("/caseload.csv?{}", query_string(&pairs)),
        counted_at,
        rosters: roster_section,
        first_page,
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// How long a counted picture is shown while the caseload changes under it.
const PICTURE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(15);

/// The pictures (students per tier) and rosters counted lately, by scope (the
/// picture's school and grade, the rosters' whole filter). Counting scans every
/// caseload entry (a third of a second for 100,000 students), so a count is reused
/// while the caseload is unchanged (the index's applied `seq` is the same), or for
/// [`PICTURE_MAX_AGE`] while it changes; the page says when it was counted. What is
/// missing is counted in one pass ([`use_case::tally`]). The student table is always
/// read fresh, and rosters kept here are still shown through
/// [`use_case::show_rosters`], which records each read.
#[derive(Default)]
pub struct Pictures {
    counted: std::sync::Mutex<Vec<Counted<Summary>>>,
    rosters: std::sync::Mutex<Vec<Counted<CountedRosters>>>,
}

struct Counted<T> {
    scope: Vec<(String, String)>,
    applied: Option<u64>,
    at: std::time::Instant,
    wall: String,
    value: T,
}

impl<T> Counted<T> {
    fn new(scope: Vec<(String, String)>, applied: Option<u64>, wall: &str, value: T) -> Self {
        Counted {
            scope,
            applied,
            at: std::time::Instant::now(),
            wall: wall.to_string(),
            value,
        }
    }
}

/// Scopes kept (a school and grade each): enough for a district's schools.
const PICTURES_KEPT: usize = 256;

/// A count of `scope` still good to show, and when it was made.
fn kept<T: Clone>(
    list: &std::sync::Mutex<Vec<Counted<T>>>,
    scope: &[(String, String)],
    applied: Option<u64>,
) -> Option<(T, String)> {
    let c = list.lock().ok()?;
    c.iter()
        .find(|c| c.scope == scope && (c.applied == applied || c.at.elapsed() < PICTURE_MAX_AGE))
        .map(|hit| (hit.value.clone(), hit.wall.clone()))
}

fn keep<T>(list: &std::sync::Mutex<Vec<Counted<T>>>, counted: Counted<T>) {
    if let Ok(mut c) = list.lock() {
        c.retain(|c| c.scope != counted.scope);
        if c.len() >= PICTURES_KEPT {
            c.remove(0);
        }
        c.push(counted);
    }
}

/// A picture, and the rosters when asked, each with when it was counted.
type Shown = ((Summary, String), Option<(CountedRosters, String)>);

impl Pictures {
    /// The picture of `scope` and, when `rosters` names a filter, its rosters:
    /// kept ones while good, the others counted now in one pass.
    async fn get_or_count(
        &self,
        state: &AppState,
        scope: Vec<(String, String)>,
        rosters: Option<Vec<(String, String)>>,
    ) -> Result<Shown, AppError> {
        let applied = state.caseload.applied_seq().ok().flatten();
        let picture = kept(&self.counted, &scope, applied);
        let listed = rosters
            .as_ref()
            .and_then(|f| kept(&self.rosters, f, applied));
        let count_rosters = rosters.filter(|_| listed.is_none());
        let picture = match (picture, &count_rosters) {
            (Some(hit), None) => return Ok((hit, listed)),
            (picture, _) => picture,
        };
        let mut tally = use_case::tally(
            state,
            picture.is_none().then(|| scope.clone()),
            count_rosters.clone().map(|f| (f, rosters::SHOWN)),
        )
        .await?;
        let wall = chrono::Utc::now().format("%H:%M:%S UTC").to_string();
        let picture = match (picture, tally.summary.take()) {
            (Some(hit), _) => hit,
            (None, Some(s)) => {
                keep(
                    &self.counted,
                    Counted::new(scope, applied, &wall, s.clone()),
                );
                (s, wall.clone())
            }
            (None, None) => {
                return Err(AppError::Unavailable("the caseload was not counted".into()));
            }
        };
        let listed = match (listed, count_rosters, tally.rosters.take()) {
            (Some(hit), ..) => Some(hit),
            (None, Some(f), Some(r)) => {
                keep(&self.rosters, Counted::new(f, applied, &wall, r.clone()));
                Some((r, wall.clone()))
            }
            _ => None,
        };
        Ok((picture, listed))
    }
}

/// `GET /caseload.csv`: the page's students as the API's CSV (`?format=csv`).
pub async fn csv(
    user: ConsoleUser,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    user.require("GET", API)?;
    let pairs = pairs(&req).map_err(ConsoleError::bad_request)?;
    let rid = request_id(&req);
    let raw = query_string(&pairs);
    let listing = use_case::list(
        &state,
        user.caller(&rid),
        List::Caseload,
        pairs,
        &raw,
        Format::Csv,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"caseload.csv\"",
        ))
        .body(listing.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_student_id_is_one_path_segment() {
        assert_eq!(path_segment("s-1.a_b~"), "s-1.a_b~");
        assert_eq!(path_segment("a/b c?<"), "a%2Fb%20c%3F%3C");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}

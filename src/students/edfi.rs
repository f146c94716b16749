//! Ed-Fi input: one JSON document per student (an NDJSON line) holding the Ed-Fi
//! resources a district already exports for that student, mapped onto the canonical
//! record through a district-editable descriptor mapping (`config/edfi-descriptors.yaml`).
//!
//! ```json
//! {"studentUniqueId": "604822", "asOf": "2026-11-20", "schoolId": 255901001,
//!  "instructionalDays": 64,
//!  "courses": [...], "assessments": [...],
//!  "studentSchoolAttendanceEvents": [...], "disciplineActions": [...],
//!  "grades": [...], "studentAssessments": [...]}
//! ```
//!
//! Ed-Fi has no single field for the days a student was enrolled (it comes from the
//! school calendar), so the bundle carries `instructionalDays`; absences are summed
//! from the attendance events (by `eventDuration`, one day when absent). Descriptors
//! not in the mapping are reported by name, never guessed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::record::{
    Assessment, Attendance, Behavior, Course, FieldProblem, Record, RecordError, Sel, Subject,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AttendanceCode {
    Present,
    ExcusedAbsence,
    UnexcusedAbsence,
    Tardy,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DisciplineCode {
    OfficeReferral,
    InSchoolSuspension,
    OutOfSchoolSuspension,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MethodCode {
    Percentile,
    TScore,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SubjectCode {
    Math,
    Ela,
    Reading,
    Science,
    SocialStudies,
    Other,
    /// A social-emotional screener: its T-score fills the `sel` section.
    Sel,
}

/// The descriptor mapping: Ed-Fi descriptor URI → our code, per descriptor kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptors {
    #[serde(default)]
    attendance_event_category: HashMap<String, AttendanceCode>,
    #[serde(default)]
    discipline: HashMap<String, DisciplineCode>,
    #[serde(default)]
    assessment_reporting_method: HashMap<String, MethodCode>,
    #[serde(default)]
    academic_subject: HashMap<String, SubjectCode>,
}

/// Why the descriptor mapping file cannot be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorsError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
}

impl Descriptors {
    /// Read the mapping file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Descriptors, DescriptorsError> {
        let shown = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DescriptorsError::Read {
            path: shown(),
            source,
        })?;
        serde_yaml::from_str(&text).map_err(|source| DescriptorsError::Parse {
            path: shown(),
            source,
        })
    }
}

// The Ed-Fi resources, with the fields the mapping reads. Ed-Fi payloads carry many
// more (ids, links, etags); those are ignored.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Bundle {
    student_unique_id: String,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    school_id: Option<serde_json::Value>,
    #[serde(default)]
    instructional_days: Option<f64>,
    #[serde(default)]
    courses: Vec<EdCourse>,
    #[serde(default)]
    assessments: Vec<EdAssessment>,
    #[serde(default)]
    student_school_attendance_events: Vec<AttendanceEvent>,
    #[serde(default)]
    discipline_actions: Vec<DisciplineAction>,
    #[serde(default)]
    grades: Vec<Grade>,
    #[serde(default)]
    student_assessments: Vec<StudentAssessment>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EdCourse {
    course_code: String,
    #[serde(default)]
    course_title: Option<String>,
    #[serde(default)]
    academic_subject_descriptor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EdAssessment {
    assessment_identifier: String,
    #[serde(default)]
    assessment_title: Option<String>,
    #[serde(default)]
    academic_subjects: Vec<SubjectRef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectRef {
    academic_subject_descriptor: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttendanceEvent {
    event_date: String,
    attendance_event_category_descriptor: String,
    #[serde(default)]
    event_duration: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DisciplineAction {
    disciplines: Vec<DisciplineRef>,
    #[serde(default)]
    actual_discipline_action_length: Option<f64>,
    #[serde(default)]
    discipline_action_length: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DisciplineRef {
    discipline_descriptor: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grade {
    student_section_association_reference: SectionRef,
    #[serde(default)]
    grading_period_reference: Option<GradingPeriodRef>,
    #[serde(default)]
    numeric_grade_earned: Option<f64>,
    #[serde(default)]
    letter_grade_earned: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SectionRef {
    local_course_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GradingPeriodRef {
    #[serde(default)]
    period_sequence: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StudentAssessment {
    assessment_reference: AssessmentRef,
    administration_date: String,
    #[serde(default)]
    score_results: Vec<ScoreResult>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssessmentRef {
    assessment_identifier: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoreResult {
    assessment_reporting_method_descriptor: String,
    result: String,
}

/// Longest discipline action accepted, in school days (a whole year).
const MAX_ACTION_DAYS: f64 = 366.0;

/// An action's length in days (the actual one when given), finite and within a year,
/// so the sum stays a number the record can hold.
fn action_length(i: usize, a: &DisciplineAction) -> Result<f64, RecordError> {
    let (name, days) = match (
        a.actual_discipline_action_length,
        a.discipline_action_length,
    ) {
        (Some(d), _) => ("actualDisciplineActionLength", d),
        (None, Some(d)) => ("disciplineActionLength", d),
        (None, None) => return Ok(0.0),
    };
    if !(0.0..=MAX_ACTION_DAYS).contains(&days) {
        return Err(problem(
            format!("disciplineActions[{i}].{name}"),
            format!("must be between 0 and {MAX_ACTION_DAYS} days, got {days}"),
        ));
    }
    Ok(days)
}

/// Course code → (title, subject).
type CourseInfo = HashMap<String, (Option<String>, Option<Subject>)>;

fn problem(field: String, message: String) -> RecordError {
    RecordError {
        problems: vec![FieldProblem {
            field,
            problem: message,
        }],
    }
}

fn lookup<T: Copy>(
    map: &HashMap<String, T>,
    uri: &str,
    field: String,
    kind: &str,
) -> Result<T, RecordError> {
    map.get(uri).copied().ok_or_else(|| problem(field, format!("unknown {kind} descriptor `{uri}`; add it to the Ed-Fi descriptor mapping under `{kind}`")))
}

impl Descriptors {
    /// Map one Ed-Fi bundle (JSON text) onto a validated canonical record.
    pub fn to_record(&self, json: &str) -> Result<Record, RecordError> {
        if json.len() > crate::record::MAX_RECORD_BYTES * 4 {
            return Err(RecordError::message(
                "Ed-Fi document is larger than 1 MiB".into(),
            ));
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let b: Bundle = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let msg = e.inner().to_string();
            problem(
                e.path().to_string(),
                crate::record::without_position(&msg).to_string(),
            )
        })?;
        let courses = self.course_subjects(&b)?;
        let assessments = self.assessment_subjects(&b)?;
        let mut record = Record {
            student_id: b.student_unique_id.clone(),
            as_of: b.as_of.clone(),
            school_id: b
                .school_id
                .as_ref()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            grade_level: None,
            attendance: self.attendance(&b)?,
            courses: grades_to_courses(&b, &courses),
            gpa: None,
            assessments: None,
            behavior: self.behavior(&b)?,
            sel: None,
            programs: None,
            reporting: None,
            extra: None,
        };
        self.scores(&b, &assessments, &mut record)?;
        let suspension_days = self.suspension_days(&b)?;
        if suspension_days > 0.0 {
            record.extra = Some(BTreeMap::from([(
                "suspension_days".to_string(),
                serde_json::json!(suspension_days),
            )]));
        }
        record.validate()?;
        Ok(record)
    }

    fn course_subjects(&self, b: &Bundle) -> Result<CourseInfo, RecordError> {
        let mut out = HashMap::new();
        for (i, c) in b.courses.iter().enumerate() {
            let subject = match &c.academic_subject_descriptor {
                None => None,
                Some(uri) => subject_of(lookup(
                    &self.academic_subject,
                    uri,
                    format!("courses[{i}].academicSubjectDescriptor"),
                    "academic_subject",
                )?),
            };
            out.insert(c.course_code.clone(), (c.course_title.clone(), subject));
        }
        Ok(out)
    }

    fn assessment_subjects(
        &self,
        b: &Bundle,
    ) -> Result<HashMap<String, (String, Option<SubjectCode>)>, RecordError> {
        let mut out = HashMap::new();
        for (i, a) in b.assessments.iter().enumerate() {
            let subject = match a.academic_subjects.first() {
                None => None,
                Some(s) => Some(lookup(
                    &self.academic_subject,
                    &s.academic_subject_descriptor,
                    format!("assessments[{i}].academicSubjects[0].academicSubjectDescriptor"),
                    "academic_subject",
                )?),
            };
            let title = a
                .assessment_title
                .clone()
                .unwrap_or_else(|| a.assessment_identifier.clone());
            out.insert(a.assessment_identifier.clone(), (title, subject));
        }
        Ok(out)
    }

    fn attendance(&self, b: &Bundle) -> Result<Option<Attendance>, RecordError> {
        if b.student_school_attendance_events.is_empty() && b.instructional_days.is_none() {
            return Ok(None);
        }
        let Some(enrolled) = b.instructional_days else {
            return Err(problem("instructionalDays".into(), "attendance events need `instructionalDays` (the instructional days the student was enrolled, from the school calendar)".into()));
        };
        // Ed-Fi's natural key: one event per date and category.
        let mut seen = std::collections::HashSet::new();
        let (mut absent, mut unexcused, mut tardies) = (0.0, 0.0, 0.0);
        for (i, e) in b.student_school_attendance_events.iter().enumerate() {
            let field =
                format!("studentSchoolAttendanceEvents[{i}].attendanceEventCategoryDescriptor");
            let code = lookup(
                &self.attendance_event_category,
                &e.attendance_event_category_descriptor,
                field,
                "attendance_event_category",
            )?;
            if !seen.insert((
                e.event_date.clone(),
                e.attendance_event_category_descriptor.clone(),
            )) {
                continue;
            }
            let days = e.event_duration.unwrap_or(1.0).clamp(0.0, 1.0);
            match code {
                AttendanceCode::ExcusedAbsence => absent += days,
                AttendanceCode::UnexcusedAbsence => {
                    absent += days;
                    unexcused += days;
                }
                AttendanceCode::Tardy => tardies += 1.0,
                AttendanceCode::Present | AttendanceCode::Ignore => {}
            }
        }
        if absent > enrolled {
            return Err(problem(
                "studentSchoolAttendanceEvents".into(),
                format!("{absent} days absent but only {enrolled} instructional days"),
            ));
        }
        Ok(Some(Attendance {
            days_enrolled: enrolled,
            days_present: enrolled - absent,
            unexcused_absences: Some(unexcused),
            tardies: Some(tardies),
        }))
    }

    fn behavior(&self, b: &Bundle) -> Result<Option<Behavior>, RecordError> {
        if b.discipline_actions.is_empty() {
            return Ok(None);
        }
        let mut out = Behavior::default();
        for (i, a) in b.discipline_actions.iter().enumerate() {
            let codes = self.action_codes(i, a)?;
            out.office_referrals += u32::from(codes.contains(&DisciplineCode::OfficeReferral));
            out.suspensions_in_school +=
                u32::from(codes.contains(&DisciplineCode::InSchoolSuspension));
            out.suspensions_out_of_school +=
                u32::from(codes.contains(&DisciplineCode::OutOfSchoolSuspension));
        }
        Ok(Some(out))
    }

    fn action_codes(
        &self,
        i: usize,
        a: &DisciplineAction,
    ) -> Result<Vec<DisciplineCode>, RecordError> {
        a.disciplines
            .iter()
            .enumerate()
            .map(|(j, d)| {
                lookup(
                    &self.discipline,
                    &d.discipline_descriptor,
                    format!("disciplineActions[{i}].disciplines[{j}].disciplineDescriptor"),
                    "discipline",
                )
            })
            .collect()
    }

    fn suspension_days(&self, b: &Bundle) -> Result<f64, RecordError> {
        let mut days = 0.0;
        for (i, a) in b.discipline_actions.iter().enumerate() {
            let codes = self.action_codes(i, a)?;
            if codes.iter().any(|c| {
                matches!(
                    c,
                    DisciplineCode::InSchoolSuspension | DisciplineCode::OutOfSchoolSuspension
                )
            }) {
                days += action_length(i, a)?;
            }
        }
        Ok(days)
    }

    fn scores(
        &self,
        b: &Bundle,
        subjects: &HashMap<String, (String, Option<SubjectCode>)>,
        record: &mut Record,
    ) -> Result<(), RecordError> {
        let mut list = Vec::new();
        let mut sel: Option<Sel> = None;
        for (i, sa) in b.student_assessments.iter().enumerate() {
            let id = &sa.assessment_reference.assessment_identifier;
            let Some((title, subject)) = subjects.get(id) else {
                return Err(problem(
                    format!("studentAssessments[{i}].assessmentReference.assessmentIdentifier"),
                    format!("no `assessments` entry for `{id}` (its subject is needed)"),
                ));
            };
            let date = sa
                .administration_date
                .get(..10)
                .unwrap_or(&sa.administration_date)
                .to_string();
            for (j, r) in sa.score_results.iter().enumerate() {
                let field = format!("studentAssessments[{i}].scoreResults[{j}]");
                let method = lookup(
                    &self.assessment_reporting_method,
                    &r.assessment_reporting_method_descriptor,
                    format!("{field}.assessmentReportingMethodDescriptor"),
                    "assessment_reporting_method",
                )?;
                if method == MethodCode::Ignore {
                    continue;
                }
                let value: f64 = r.result.trim().parse().map_err(|_| {
                    problem(
                        format!("{field}.result"),
                        format!("`{}` is not a number", r.result),
                    )
                })?;
                match (method, subject) {
                    (MethodCode::TScore, Some(SubjectCode::Sel))
                        if sel
                            .as_ref()
                            .is_none_or(|s| s.date.as_deref() <= Some(date.as_str())) =>
                    {
                        sel = Some(Sel {
                            screener: Some(title.clone()),
                            t_score: value,
                            date: Some(date.clone()),
                        });
                    }
                    (MethodCode::Percentile, Some(s)) if *s != SubjectCode::Sel => {
                        list.push(Assessment {
                            name: title.clone(),
                            subject: subject_of(*s).unwrap_or(Subject::Other),
                            percentile: Some(value),
                            date: Some(date.clone()),
                        });
                    }
                    _ => {}
                }
            }
        }
        if !list.is_empty() {
            record.assessments = Some(list);
        }
        record.sel = sel;
        Ok(())
    }
}

fn subject_of(code: SubjectCode) -> Option<Subject> {
    Some(match code {
        SubjectCode::Math => Subject::Math,
        SubjectCode::Ela => Subject::Ela,
        SubjectCode::Reading => Subject::Reading,
        SubjectCode::Science => Subject::Science,
        SubjectCode::SocialStudies => Subject::SocialStudies,
        SubjectCode::Other => Subject::Other,
        SubjectCode::Sel => return None,
    })
}

/// The latest grade per course (highest grading period; later entries win ties).
fn grades_to_courses(b: &Bundle, courses: &CourseInfo) -> Option<Vec<Course>> {
    if b.grades.is_empty() {
        return None;
    }
    let mut latest: BTreeMap<String, (i64, &Grade)> = BTreeMap::new();
    for g in &b.grades {
        let code = &g.student_section_association_reference.local_course_code;
        let seq = g
            .grading_period_reference
            .as_ref()
            .and_then(|p| p.period_sequence)
            .unwrap_or(0);
        if latest.get(code).is_none_or(|(s, _)| seq >= *s) {
            latest.insert(code.clone(), (seq, g));
        }
    }
    Some(
        latest
            .into_iter()
            .map(|(code, (_, g))| {
                let (title, subject) = courses.get(&code).cloned().unwrap_or((None, None));
                Course {
                    course_id: code,
                    title,
                    subject,
                    grade_pct: g.numeric_grade_earned,
                    letter: g.letter_grade_earned.clone(),
                    credits: None,
                }
            })
            .collect(),
    )
}

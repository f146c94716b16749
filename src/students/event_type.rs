//! The kinds of SIS event the service accepts, named as they are on the wire.

/// One kind of SIS event (the envelope's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `student.snapshot`: a whole record.
    Snapshot,
    /// `attendance.updated`: the attendance section.
    Attendance,
    /// `course_grade.posted`: one course.
    CourseGrade,
    /// `assessment.scored`: one assessment.
    Assessment,
    /// `behavior.incident`: one incident, counted on top of the behavior baseline.
    Incident,
    /// `sel.screened`: the SEL section.
    Sel,
    /// `student.withdrawn`: the student leaves; older data is dropped.
    Withdrawn,
    /// `progress.recorded`: one progress point of an intervention plan.
    Progress,
    /// `intervention.session`: one session of an intervention plan.
    Session,
}

impl EventType {
    /// Every kind, in the order error messages list them.
    pub const ALL: [EventType; 9] = [
        EventType::Snapshot,
        EventType::Attendance,
        EventType::CourseGrade,
        EventType::Assessment,
        EventType::Incident,
        EventType::Sel,
        EventType::Withdrawn,
        EventType::Progress,
        EventType::Session,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Snapshot => "student.snapshot",
            EventType::Attendance => "attendance.updated",
            EventType::CourseGrade => "course_grade.posted",
            EventType::Assessment => "assessment.scored",
            EventType::Incident => "behavior.incident",
            EventType::Sel => "sel.screened",
            EventType::Withdrawn => "student.withdrawn",
            EventType::Progress => "progress.recorded",
            EventType::Session => "intervention.session",
        }
    }

    /// True for the kinds written to an intervention plan, not to the snapshot.
    pub fn is_plan(self) -> bool {
        matches!(self, EventType::Progress | EventType::Session)
    }

    /// The kind named `name`, if there is one.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Every name, comma-separated: what an unknown type is told to use instead.
    pub fn names() -> String {
        EventType::ALL.map(EventType::as_str).join(", ")
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

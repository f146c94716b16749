//! What an audit entry records: its kind, one variant per kind this version writes.
//!
//! The kind is stored as its name (`"kind":"decision"`) and that name is hashed with
//! the entry, so the names below are part of the on-disk format: never rename one.
//! A new kind is a new variant here plus its name in [`EntryKind::as_str`] and
//! [`EntryKind::parse`].
//!
//! Reading never fails on a name this version does not know (a log written by a
//! newer version, or a test's own kind): it comes back as [`EntryKind::Other`],
//! which keeps the name exactly as stored. An `Other` is never one of the names
//! above ([`OtherKind`] can only be made by [`EntryKind::parse`]), so a kind has one
//! spelling and comparing two kinds compares what they mean.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of an audit entry (`Entry::kind`, `NewEntry::new`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// An evaluation's decision (`decision`): the entry retention purges.
    Decision,
    /// Someone read a student's records (`student.accessed`, FERPA).
    StudentAccessed,
    /// A student withdrew (`student.withdrawn`).
    StudentWithdrawn,
    /// An SIS event older than the snapshot it would change (`event.stale`).
    EventStale,
    /// Someone read the audit log (`audit.read`).
    AuditRead,
    /// Someone exported the audit log (`audit.exported`).
    AuditExported,
    /// Acknowledged entries were lost and the loss accepted (`audit.gap`).
    AuditGap,
    /// A retention purge removed decisions' content (`audit.purged`).
    AuditPurged,
    /// A legal hold was placed on a student's decisions (`audit.hold.placed`).
    AuditHoldPlaced,
    /// A legal hold was lifted (`audit.hold.lifted`).
    AuditHoldLifted,
    /// A request was refused (`auth.denied`).
    AuthDenied,
    /// Refusals from one address counted instead of audited one by one
    /// (`auth.denied.suppressed`).
    AuthDeniedSuppressed,
    /// The server started serving a rule set (`ruleset.loaded`).
    RulesetLoaded,
    /// A rule set was activated by a reload (`ruleset.reloaded`).
    RulesetReloaded,
    /// A rule set was published (`ruleset.published`).
    RulesetPublished,
    /// A rule set was rolled back to (`ruleset.rolled_back`).
    RulesetRolledBack,
    /// A rule set change was refused (`ruleset.rejected`).
    RulesetRejected,
    /// A person's review of a decision's flags (`decision.reviewed`).
    DecisionReviewed,
    /// A read of the caseload: its filter and the students on the page
    /// (`caseload.read`).
    CaseloadRead,
    /// An intervention plan was opened (`plan.opened`).
    PlanOpened,
    /// A plan's goal, owner or status changed (`plan.updated`).
    PlanUpdated,
    /// A progress point was recorded on a plan (`plan.progress`).
    PlanProgress,
    /// A session of a plan was recorded (`plan.session`).
    PlanSession,
    /// A plan was closed: met, discontinued or escalated (`plan.closed`).
    PlanClosed,
    /// A family notice was acknowledged by the family-messaging webhook.
    NoticeSent,
    /// A kind this version does not write, read back as stored.
    Other(OtherKind),
}

/// The name of a kind this version does not know, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherKind(String);

impl OtherKind {
    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every kind this version writes (a new variant goes here too, or its name would
/// read back as `Other`; the tests check each one's name round-trips).
const KNOWN: [EntryKind; 25] = [
    EntryKind::Decision,
    EntryKind::StudentAccessed,
    EntryKind::StudentWithdrawn,
    EntryKind::EventStale,
    EntryKind::AuditRead,
    EntryKind::AuditExported,
    EntryKind::AuditGap,
    EntryKind::AuditPurged,
    EntryKind::AuditHoldPlaced,
    EntryKind::AuditHoldLifted,
    EntryKind::AuthDenied,
    EntryKind::AuthDeniedSuppressed,
    EntryKind::RulesetLoaded,
    EntryKind::RulesetReloaded,
    EntryKind::RulesetPublished,
    EntryKind::RulesetRolledBack,
    EntryKind::RulesetRejected,
    EntryKind::DecisionReviewed,
    EntryKind::CaseloadRead,
    EntryKind::PlanOpened,
    EntryKind::PlanUpdated,
    EntryKind::PlanProgress,
    EntryKind::PlanSession,
    EntryKind::PlanClosed,
    EntryKind::NoticeSent,
];

impl EntryKind {
    /// Every kind this version writes (not [`EntryKind::Other`]).
    pub fn known() -> &'static [EntryKind] {
        &KNOWN
    }

    /// The name stored in the entry (and hashed with it).
    pub fn as_str(&self) -> &str {
        match self {
            EntryKind::Decision => "decision",
            EntryKind::StudentAccessed => "student.accessed",
            EntryKind::StudentWithdrawn => "student.withdrawn",
            EntryKind::EventStale => "event.stale",
            EntryKind::AuditRead => "audit.read",
            EntryKind::AuditExported => "audit.exported",
            EntryKind::AuditGap => "audit.gap",
            EntryKind::AuditPurged => "audit.purged",
            EntryKind::AuditHoldPlaced => "audit.hold.placed",
            EntryKind::AuditHoldLifted => "audit.hold.lifted",
            EntryKind::AuthDenied => "auth.denied",
            EntryKind::AuthDeniedSuppressed => "auth.denied.suppressed",
            EntryKind::RulesetLoaded => "ruleset.loaded",
            EntryKind::RulesetReloaded => "ruleset.reloaded",
            EntryKind::RulesetPublished => "ruleset.published",
            EntryKind::RulesetRolledBack => "ruleset.rolled_back",
            EntryKind::RulesetRejected => "ruleset.rejected",
            EntryKind::DecisionReviewed => "decision.reviewed",
            EntryKind::CaseloadRead => "caseload.read",
            EntryKind::PlanOpened => "plan.opened",
            EntryKind::PlanUpdated => "plan.updated",
            EntryKind::PlanProgress => "plan.progress",
            EntryKind::PlanSession => "plan.session",
            EntryKind::PlanClosed => "plan.closed",
            EntryKind::NoticeSent => "notice.sent",
            EntryKind::Other(other) => other.as_str(),
        }
    }

    /// The kind a stored name stands for; a name this version does not know is
    /// kept as [`EntryKind::Other`]. Never fails.
    pub fn parse(name: &str) -> EntryKind {
        KNOWN
            .iter()
            .find(|k| k.as_str() == name)
            .cloned()
            .unwrap_or_else(|| EntryKind::Other(OtherKind(name.to_string())))
    }
}

impl From<&str> for EntryKind {
    fn from(name: &str) -> EntryKind {
        EntryKind::parse(name)
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EntryKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EntryKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EntryKind, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(EntryKind::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are the on-disk format: each known kind reads back as itself, and
    /// every variant but `Other` has a name.
    #[test]
    fn every_known_kind_round_trips_through_its_name() {
        let names: std::collections::HashSet<&str> = KNOWN.iter().map(EntryKind::as_str).collect();
        assert_eq!(names.len(), KNOWN.len(), "two kinds share a name");
        for kind in &KNOWN {
            assert!(!matches!(kind, EntryKind::Other(_)));
            assert_eq!(EntryKind::parse(kind.as_str()), *kind);
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn an_unknown_name_is_kept_as_stored() {
        let kind = EntryKind::parse("plan.reviewed");
        assert!(matches!(kind, EntryKind::Other(_)));
        assert_eq!(kind.as_str(), "plan.reviewed");
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, "\"plan.reviewed\"");
        let back: EntryKind = serde_json::from_str(&json).unwrap();
        assert_eq!(back, kind);
        let known: EntryKind = serde_json::from_str("\"audit.purged\"").unwrap();
        assert_eq!(known, EntryKind::AuditPurged);
    }
}

//! Decoding `privacy.yaml` into a [`Policy`], every problem a located diagnostic.
//!
//! `fields:` maps record fields (`sel.screener`, optionally written
//! `student.sel.screener`) to `keep`, `mask` or `hash`. The decoder is told which
//! fields the rules read: a line about a section no rule reads has no effect, and a
//! line hiding a value a condition reads cannot hide it from the decision, and both
//! say so.

use std::collections::BTreeMap;

use super::{Action, FIELDS, Policy, field_kind, hash_weakness, section_of, section_read};
use crate::record::facts::FieldRef;
use crate::source::ctx::{Ctx, parse_yaml};
use crate::source::diag::{Diagnostic, suggest};
use crate::source::yaml::{Kind, Node};

/// The file's name in a rule set.
pub const FILE: &str = "privacy.yaml";

/// Decode `text` (the rule set's `privacy.yaml`). `slots` are the student fields the
/// rules read, in the order they first appear.
pub fn decode(text: &str, slots: &[FieldRef], diags: &mut Vec<Diagnostic>) -> Policy {
    let mut policy = Policy::default();
    let Some(root) = parse_yaml(FILE, text, diags) else {
        return policy;
    };
    let mut ctx = Ctx::new(FILE, text, diags);
    let Some(entries) = field_entries(&mut ctx, &root) else {
        return policy;
    };
    // path → (action, key node), for conflicts between lines.
    let mut seen: BTreeMap<String, (Action, &Node)> = BTreeMap::new();
    for (k, v) in entries {
        let Some((path, action)) = line(&mut ctx, k, v) else {
            continue;
        };
        if conflicts(&mut ctx, &seen, path, action, k) {
            continue;
        }
        warn_no_effect(&mut ctx, slots, path, action, k, v);
        seen.insert(path.to_string(), (action, k));
        policy.set(path, action);
    }
    policy
}

/// The entries of `fields:`; `None` when there are none to read.
fn field_entries<'n>(ctx: &mut Ctx, root: &'n Node) -> Option<&'n [(Node, Node)]> {
    if root.is_null() {
        return None;
    }
    let top = ctx.fields(root, FILE, &["description", "fields"], &["fields"])?;
    if let Some(d) = top.get("description") {
        ctx.string(d, "description");
    }
    let fields = top.get("fields")?;
    if fields.is_null() {
        return None;
    }
    let Kind::Map(entries) = &fields.kind else {
        ctx.error_at(
            fields,
            "`fields` must map record fields to `keep`, `mask` or `hash`, like `sel.screener: mask`",
            None,
        );
        return None;
    };
    Some(entries)
}

/// One line `field: action`, its field known and its action valid.
fn line<'n>(ctx: &mut Ctx, k: &'n Node, v: &Node) -> Option<(&'n str, Action)> {
    let Some(raw) = k.as_str() else {
        ctx.error_at(
            k,
            "keys must be record field names, like `sel.screener`",
            None,
        );
        return None;
    };
    let path = raw.strip_prefix("student.").unwrap_or(raw);
    if path == "student_id" {
        ctx.error_at(
            k,
            "`student_id` is always kept: the audit log finds a student's decisions by it",
            None,
        );
        return None;
    }
    if path == "reporting" || path.starts_with("reporting.") {
        ctx.error_at(
            k,
            "reporting labels never reach the audit log: no rule may read them, so there is nothing to keep, mask or hash",
            Some("remove this line; the labels stay in the student's snapshot for equity reports".into()),
        );
        return None;
    }
    if field_kind(path).is_none() {
        let names = FIELDS
            .iter()
            .map(|(p, _)| *p)
            .chain(std::iter::once("extra.<name>"));
        ctx.error_at(
            k,
            format!("unknown record field `{raw}`"),
            Some(suggest(path, names)),
        );
        return None;
    }
    let Some(action) = v.as_str().and_then(Action::parse) else {
        ctx.error_at(
            v,
            format!(
                "`{path}` must be `keep`, `mask` or `hash`, found {}",
                v.as_str()
                    .map_or_else(|| v.describe().to_string(), |s| format!("`{s}`"))
            ),
            Some(
                "keep stores the value, mask stores `[masked]`, hash stores the value's SHA-256"
                    .into(),
            ),
        );
        return None;
    };
    Some((path, action))
}

/// Report a line that repeats a field, or that masks or hashes a field inside a
/// section another line already masks or hashes (or the other way round).
fn conflicts(
    ctx: &mut Ctx,
    seen: &BTreeMap<String, (Action, &Node)>,
    path: &str,
    action: Action,
    k: &Node,
) -> bool {
    if let Some((_, first)) = seen.get(path) {
        ctx.error_at(
            k,
            format!("`{path}` is set twice (first on line {})", first.pos.line),
            Some("keep one of the two lines".into()),
        );
        return true;
    }
    let section = section_of(path);
    // A whole section masked or hashed, and a field inside it too: say which wins.
    let overlap = seen.iter().find_map(|(p, (a, n))| {
        if *a == Action::Keep || action == Action::Keep {
            None
        } else if p == section && p != path {
            Some((p.clone(), *a, n.pos.line, path.to_string()))
        } else if section_of(p) == path && p != path {
            Some((path.to_string(), action, k.pos.line, p.clone()))
        } else {
            None
        }
    });
    let Some((outer, outer_action, outer_line, inner)) = overlap else {
        return false;
    };
    let how = if outer_action == Action::Mask {
        "masked"
    } else {
        "hashed"
    };
    ctx.error_at(
        k,
        format!("`{inner}` is inside `{outer}`, which line {outer_line} has {how} as a whole"),
        Some(format!(
            "keep either the line for `{outer}` or the one for `{inner}`"
        )),
    );
    true
}

/// Warn about a line that does less than it seems: a hash that hides nothing, a
/// section the log does not keep anyway, a value a condition shows in its flags.
fn warn_no_effect(
    ctx: &mut Ctx,
    slots: &[FieldRef],
    path: &str,
    action: Action,
    k: &Node,
    v: &Node,
) {
    if action == Action::Hash
        && let Some(why) = hash_weakness(path)
    {
        ctx.warn_at(
            v,
            format!("hashing `{path}` does not hide it: {why}"),
            Some(format!("use `{path}: mask`")),
        );
    }
    if action == Action::Keep {
        return;
    }
    // `as_of` is kept with every record (it dates the decision's inputs).
    let kept = path == "as_of" || section_read(path, slots);
    if !kept {
        let unread = if path.starts_with("extra.") {
            path
        } else {
            section_of(path)
        };
        ctx.warn_at(
            k,
            format!("no rule reads `{unread}`, so the audit log does not keep `{path}` anyway"),
            Some("the log keeps only the record sections the rules read; this line takes effect once a rule reads it".into()),
        );
    }
    // A field a condition reads directly is an input of its flags, and the
    // decision is kept whole: the line cannot hide it there.
    let shown = slots.iter().map(FieldRef::full_path).find(|f| {
        f.strip_prefix("student.")
            .is_some_and(|f| f == path || f.strip_prefix(path).is_some_and(|r| r.starts_with('.')))
    });
    if let Some(field) = shown {
        ctx.warn_at(
            k,
            format!("a rule reads `{field}`, so its flags show that value as an input whatever this line says"),
            Some("the decision is kept whole so that every flag can be explained; this line hides the value only in the kept record".into()),
        );
    }
}

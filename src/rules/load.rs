//! Reading a rule-set directory, checking every file, compiling the conditions.
//!
//! Every problem becomes a located [`Diagnostic`]; nothing stops at the first one.
//! The rule set is built only when no error was found.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rhai::{AST, Dynamic, Scope};
use yaml_rust2::scanner::TScalarStyle;

use super::diag::{Diagnostic, Severity, suggest};
use super::expr::{self, Root, Threshold};
use super::native;
use super::sandbox::{self, Limits};
use super::template::{self, Source, TemplateError};
use super::yaml::{self, Kind, Node, Pos};
use super::{Clearing, Domain, Intervention, LoadError, Param, Rule, RuleSet, version_of};
use crate::record::facts::{self, Facts, FieldKind, FieldRef};
use crate::record::privacy::{self, Action, Policy};

/// Most files a rule set may hold.
pub const MAX_FILES: usize = 500;
/// Largest file in a rule set, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Whether `rel` (relative to a rule-set directory) names a rule-set file:
/// top-level `*.yaml`/`*.yml`, `lib/*.rhai`, `tests/*.yaml`/`*.yml`; hidden files
/// (editor temp files, `._x.yaml`) are not part of a set.
pub fn is_rule_set_file(rel: &str) -> bool {
    let (dir, file) = match rel.split_once('/') {
        Some((d, f)) => (Some(d), f),
        None => (None, rel),
    };
    let yaml = file.ends_with(".yaml") || file.ends_with(".yml");
    !file.is_empty()
        && !file.starts_with('.')
        && !file.contains('/')
        && match dir {
            None | Some("tests") => yaml,
            Some("lib") => file.ends_with(".rhai"),
            Some(_) => false,
        }
}

/// What the hint of a refused symbolic link says.
const LINK_HINT: &str = "copy the file into the rules directory instead of linking to it";

/// The rule-set files of a directory: what to read, and the entries refused.
struct Listing {
    /// Relative name and the path to read (inside the directory), sorted by name.
    files: Vec<(String, PathBuf)>,
    /// One error per symbolic link that leaves the directory or leads nowhere,
    /// naming the link (its target is never read).
    refused: Vec<Diagnostic>,
}

/// Where a symbolic link at `path` leads, when that is inside `root` (canonical).
fn inside(root: &Path, path: &Path) -> Result<PathBuf, &'static str> {
    match path.canonicalize() {
        Ok(target) if target.starts_with(root) => Ok(target),
        Ok(_) => Err("is a symbolic link to a place outside the rules directory; it is not read"),
        Err(_) => Err("is a symbolic link whose target does not exist; it is not read"),
    }
}

/// The rule-set files in `dir`, sorted by name. Symbolic links are followed only when
/// they stay inside the directory: a link to `/etc/passwd` named `x.yaml` (or a `lib`
/// linked to another folder) is refused by name, so its content can never reach a
/// diagnostic, `/readyz` or the audit log.
fn list(dir: &Path) -> Listing {
    let mut out = Listing {
        files: Vec::new(),
        refused: Vec::new(),
    };
    let Ok(root) = dir.canonicalize() else {
        return out;
    };
    for sub in ["", "lib", "tests"] {
        let mut folder = root.join(sub);
        if !sub.is_empty() && folder.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            match inside(&root, &folder) {
                Ok(target) => folder = target,
                Err(why) => {
                    out.refused.push(
                        Diagnostic::error(sub, 0, 0, format!("`{sub}` {why}")).hint(LINK_HINT),
                    );
                    continue;
                }
            }
        }
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if sub.is_empty() {
                name
            } else {
                format!("{sub}/{name}")
            };
            if !is_rule_set_file(&rel) {
                continue;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                match inside(&root, &path) {
                    Ok(target) if target.is_file() => out.files.push((rel, target)),
                    Ok(_) => {}
                    Err(why) => out.refused.push(
                        Diagnostic::error(&rel, 0, 0, format!("`{rel}` {why}")).hint(LINK_HINT),
                    ),
                }
            } else if kind.is_file() {
                out.files.push((rel, path));
            }
        }
    }
    out.files.sort();
    out.refused.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Relative names of the rule-set files in `dir`, refused links included (what
/// [`read_dir`] would read or refuse).
pub(super) fn file_names(dir: &Path) -> Vec<String> {
    let Listing { files, refused } = list(dir);
    let mut names: Vec<String> = files.into_iter().map(|(rel, _)| rel).collect();
    // A refused file link is listed (so a publish can replace it); a refused folder
    // link is not (nothing is ever removed through it).
    names.extend(
        refused
            .into_iter()
            .map(|d| d.file)
            .filter(|f| is_rule_set_file(f)),
    );
    names.sort();
    names.dedup();
    names
}

/// Read the rule-set files of `dir`: top-level `*.yaml`, `lib/*.rhai`, `tests/*.yaml`.
pub(super) fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>, LoadError> {
    let fail = |msg: String| LoadError {
        diagnostics: vec![Diagnostic::error(&dir.display().to_string(), 0, 0, msg)],
    };
    if !dir.is_dir() {
        return Err(fail("rule-set directory not found".into()));
    }
    let Listing {
        files: paths,
        refused: mut diags,
    } = list(dir);
    let mut files = BTreeMap::new();
    for (rel, path) in paths {
        if files.len() >= MAX_FILES {
            return Err(fail(format!("more than {MAX_FILES} files in the rule set")));
        }
        match read_file(&path) {
            Ok(text) => {
                files.insert(rel, text);
            }
            Err(msg) => diags.push(Diagnostic::error(&rel, 0, 0, msg)),
        }
    }
    if diags.is_empty() {
        Ok(files)
    } else {
        Err(LoadError { diagnostics: diags })
    }
}

/// The text of one file, at most [`MAX_FILE_BYTES`] (the size is checked on the open
/// file, so a file growing after the check is still bounded).
fn read_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    let too_big = |len: u64| format!("file is {len} bytes; the limit is {MAX_FILE_BYTES}");
    if len > MAX_FILE_BYTES as u64 {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Collects diagnostics for one file.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    diags: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        sev: Severity,
        line: usize,
        col: usize,
        width: usize,
        msg: String,
        hint: Option<String>,
    ) {
        let d = Diagnostic::error(self.file, line, col, msg).width(width);
        let mut d = Diagnostic { severity: sev, ..d }.with_source(self.text);
        d.hint = hint;
        self.diags.push(d);
    }

    fn error(&mut self, pos: Pos, msg: impl Into<String>, hint: Option<String>) {
        self.push(Severity::Error, pos.line, pos.col, 1, msg.into(), hint);
    }

    fn error_at(&mut self, node: &Node, msg: impl Into<String>, hint: Option<String>) {
        self.at(Severity::Error, node, msg.into(), hint);
    }

    fn warn_at(&mut self, node: &Node, msg: impl Into<String>, hint: Option<String>) {
        self.at(Severity::Warning, node, msg.into(), hint);
    }

    /// A diagnostic underlining `node` (a scalar's text, at most 60 characters).
    fn at(&mut self, sev: Severity, node: &Node, msg: String, hint: Option<String>) {
        let width = node.as_str().map_or(1, |s| s.chars().count().clamp(1, 60));
        self.push(sev, node.pos.line, node.pos.col, width, msg, hint);
    }

    /// A mapping with only `allowed` keys and every `required` key.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<HashMap<&'n str, &'n Node>> {
        let Kind::Map(entries) = &node.kind else {
            self.error_at(
                node,
                format!(
                    "{what} must be a mapping of `key: value`, found {}",
                    node.describe()
                ),
                None,
            );
            return None;
        };
        let mut out = HashMap::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.error_at(k, "keys must be plain names", None);
                continue;
            };
            if allowed.contains(&key) {
                out.insert(key, v);
            } else {
                self.error_at(
                    k,
                    format!("unknown key `{key}` in {what}"),
                    Some(suggest(key, allowed.iter().copied())),
                );
            }
        }
        // yaml-rust2 marks a block mapping at its first `:`; point at its first key.
        let at = entries.first().map_or(node.pos, |(k, _)| k.pos);
        for r in required {
            if !out.contains_key(r) {
                self.error(at, format!("{what} is missing `{r}`"), None);
            }
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar(s, _) if !node.is_null() => Some(s.clone()),
            _ => {
                self.error_at(
                    node,
                    format!("`{what}` must be text, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    fn tier(&mut self, node: &Node) -> Option<u8> {
        match node.as_str().and_then(|s| s.parse::<u8>().ok()) {
            Some(t @ 1..=3) => Some(t),
            _ => {
                self.error_at(
                    node,
                    format!(
                        "`tier` must be 1, 2 or 3, found `{}`",
                        node.as_str().unwrap_or("?")
                    ),
                    Some("MTSS tiers: 1 universal, 2 targeted, 3 intensive".into()),
                );
                None
            }
        }
    }

    fn domain(&mut self, node: &Node) -> Option<Domain> {
        let s = node.as_str().unwrap_or_default();
        let d = Domain::parse(s);
        if d.is_none() {
            self.error_at(
                node,
                format!("unknown domain `{s}`"),
                Some(suggest(s, Domain::ALL.iter().map(|d| d.as_str()))),
            );
        }
        d
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Node)> {
        match &node.kind {
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| self.string(i, what).map(|s| (s, i.clone())))
                .collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.error_at(
                    node,
                    format!("`{what}` must be a list, like `[a, b]`"),
                    None,
                );
                Vec::new()
            }
        }
    }
}

fn is_kebab(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn is_param_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// Positions inside a scalar mapped back into the file: the scalar's text with its
/// line structure kept, and where each of its lines starts in the file.
struct SourceMap {
    text: String,
    /// (file line, file column of the first character) per line of `text`.
    lines: Vec<(usize, usize)>,
}

impl SourceMap {
    fn locate(&self, line_idx: usize, char_col: usize) -> (usize, usize) {
        let (l, c) = self
            .lines
            .get(line_idx)
            .or(self.lines.last())
            .copied()
            .unwrap_or((0, 0));
        (l, c + char_col)
    }

    /// File position of a byte offset in `text`.
    fn at_byte(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line_idx = before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.locate(line_idx, before[line_start..].chars().count())
    }

    fn at_rhai(&self, pos: rhai::Position) -> (usize, usize) {
        match (pos.line(), pos.position()) {
            (Some(l), Some(c)) => self.locate(l.saturating_sub(1), c.saturating_sub(1)),
            (Some(l), None) => self.locate(l.saturating_sub(1), 0),
            _ => self.locate(0, 0),
        }
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Recover the source lines of a scalar so that positions inside it map exactly into
/// the file; fall back to the value with every position at the scalar's start.
fn scalar_source(file_text: &str, node: &Node) -> SourceMap {
    let Kind::Scalar(value, style) = &node.kind else {
        return SourceMap {
            text: String::new(),
            lines: vec![(node.pos.line, node.pos.col)],
        };
    };
    let file_lines: Vec<&str> = file_text.lines().collect();
    let first_idx = node.pos.line.saturating_sub(1);
    let fallback = SourceMap {
        text: value.clone(),
        lines: vec![(node.pos.line, node.pos.col); value.lines().count().max(1)],
    };
    let Some(first) = file_lines.get(first_idx) else {
        return fallback;
    };
    let quoted = matches!(
        style,
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
    );
    let start_col = node.pos.col - 1 + usize::from(quoted);
    let rest: String = first.chars().skip(start_col).collect();
    if !value.contains('\n')
        && rest.starts_with(value.as_str())
        && !matches!(style, TScalarStyle::Literal | TScalarStyle::Folded)
    {
        return SourceMap {
            text: value.clone(),
            lines: vec![(node.pos.line, start_col + 1)],
        };
    }
    if quoted {
        return fallback;
    }
    let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
    let target = squash(value);
    let mut text_lines: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    // yaml-rust2 marks a block scalar at its indicator (`|`, `>`) or at its first
    // content line, depending on the layout; start after the indicator if present.
    let on_indicator = rest.trim_start().starts_with(['|', '>']);
    let mut idx = if block && on_indicator {
        first_idx + 1
    } else {
        first_idx
    };
    if !block {
        text_lines.push(rest.clone());
        lines.push((node.pos.line, start_col + 1));
        idx += 1;
    }
    loop {
        let joined = squash(&text_lines.join("\n"));
        if joined == target {
            return SourceMap {
                text: text_lines.join("\n"),
                lines,
            };
        }
        if joined.len() > target.len() || !target.starts_with(&joined) {
            return fallback;
        }
        let Some(line) = file_lines.get(idx) else {
            return fallback;
        };
        let lead = line.chars().take_while(|c| c.is_whitespace()).count();
        text_lines.push(line.trim_start().to_string());
        lines.push((idx + 1, lead + 1));
        idx += 1;
    }
}

/// A rule decoded from YAML, its condition analysed, before compilation.
struct Draft {
    rule: Rule,
    id_pos: Pos,
    file: String,
    when_node: Node,
    source: SourceMap,
    analysis: expr::Analysis,
}

struct Catalogues {
    /// False when params.yaml exists but cannot be read: its own error explains, and
    /// `params.` references are not checked against it.
    params_loaded: bool,
    /// False when interventions.yaml is missing or unreadable: its own error
    /// explains, and `recommend` lists are not checked against it.
    interventions_loaded: bool,
    interventions: Vec<Intervention>,
    params: BTreeMap<String, Param>,
}

pub(super) fn compile(files: BTreeMap<String, String>) -> Result<RuleSet, LoadError> {
    let mut diags = Vec::new();
    let limits = Limits::default();
    let engine = sandbox::engine(&limits);
    let cats = catalogues(&files, &mut diags);
    let lib = compile_lib(&engine, &files, &mut diags);
    let mut drafts = Vec::new();
    for (name, text) in &files {
        let is_pack = !name.contains('/')
            && !matches!(
                name.as_str(),
                "interventions.yaml" | "params.yaml" | "privacy.yaml"
            );
        if is_pack {
            decode_pack(name, text, &cats, &mut drafts, &mut diags);
        }
    }
    check_duplicates(&drafts, &files, &mut diags);
    let (slots, param_slots) = assign_slots(&drafts, &cats);
    let privacy = files
        .get("privacy.yaml")
        .map(|text| privacy_policy(text, &slots, &mut diags))
        .unwrap_or_default();
    let mut rules = Vec::new();
    for draft in drafts {
        let text = &files[&draft.file];
        if let Some(rule) = compile_rule(
            &engine,
            draft,
            text,
            &lib,
            &slots,
            &param_slots,
            &cats,
            &mut diags,
        ) {
            rules.push(rule);
        }
    }
    diags.sort_by(|a, b| {
        (a.severity, &a.file, a.line, a.column).cmp(&(b.severity, &b.file, b.line, b.column))
    });
    if diags.iter().any(Diagnostic::is_error) {
        return Err(LoadError { diagnostics: diags });
    }
    let param_values = param_slots
        .iter()
        .map(|p| sandbox::number_dynamic(&cats.params[p].value))
        .collect();
    let param_numbers = param_slots
        .iter()
        .map(|p| cats.params[p].as_f64())
        .collect();
    Ok(RuleSet {
        version: version_of(&files),
        rules,
        params: cats.params,
        interventions: cats.interventions,
        privacy,
        files,
        warnings: diags,
        slot_names: (0..slots.len())
            .map(|i| sandbox::var_name('s', i))
            .collect(),
        param_names: (0..param_slots.len())
            .map(|i| sandbox::var_name('p', i))
            .collect(),
        param_values,
        param_numbers,
        slots,
        param_slots,
    })
}

/// Decode `privacy.yaml`: `fields:` maps record fields (`sel.screener`, optionally
/// written `student.sel.screener`) to `keep`, `mask` or `hash`. `slots` are the fields
/// the rules read: a line about a section no rule reads has no effect and says so.
fn privacy_policy(text: &str, slots: &[FieldRef], diags: &mut Vec<Diagnostic>) -> Policy {
    const FILE: &str = "privacy.yaml";
    let mut policy = Policy::default();
    let Some(root) = parse_yaml(FILE, text, diags) else {
        return policy;
    };
    let mut ctx = Ctx {
        file: FILE,
        text,
        diags,
    };
    if root.is_null() {
        return policy;
    }
    let Some(top) = ctx.fields(&root, FILE, &["description", "fields"], &["fields"]) else {
        return policy;
    };
    if let Some(d) = top.get("description") {
        ctx.string(d, "description");
    }
    let Some(fields) = top.get("fields") else {
        return policy;
    };
    if fields.is_null() {
        return policy;
    }
    let Kind::Map(entries) = &fields.kind else {
        ctx.error_at(
            fields,
            "`fields` must map record fields to `keep`, `mask` or `hash`, like `sel.screener: mask`",
            None,
        );
        return policy;
    };
    let names = || {
        privacy::FIELDS
            .iter()
            .map(|(p, _)| *p)
            .chain(std::iter::once("extra.<name>"))
    };
    // path → (action, key node), for conflicts between lines.
    let mut seen: BTreeMap<String, (Action, &Node)> = BTreeMap::new();
    for (k, v) in entries {
        let Some(raw) = k.as_str() else {
            ctx.error_at(
                k,
                "keys must be record field names, like `sel.screener`",
                None,
            );
            continue;
        };
        let path = raw.strip_prefix("student.").unwrap_or(raw);
        if path == "student_id" {
            ctx.error_at(
                k,
                "`student_id` is always kept: the audit log finds a student's decisions by it",
                None,
            );
            continue;
        }
        if privacy::field_kind(path).is_none() {
            ctx.error_at(
                k,
                format!("unknown record field `{raw}`"),
                Some(suggest(path, names())),
            );
            continue;
        }
        let Some(action) = v.as_str().and_then(Action::parse) else {
            ctx.error_at(
                v,
                format!(
                    "`{path}` must be `keep`, `mask` or `hash`, found {}",
                    v.as_str().map_or_else(|| v.describe().to_string(), |s| format!("`{s}`"))
                ),
                Some("keep stores the value, mask stores `[masked]`, hash stores the value's SHA-256".into()),
            );
            continue;
        };
        if let Some((_, first)) = seen.get(path) {
            ctx.error_at(
                k,
                format!("`{path}` is set twice (first on line {})", first.pos.line),
                Some("keep one of the two lines".into()),
            );
            continue;
        }
        let section = privacy::section_of(path);
        // A whole section masked or hashed, and a field inside it too: say which wins.
        let overlap = seen.iter().find_map(|(p, (a, n))| {
            if *a == Action::Keep || action == Action::Keep {
                None
            } else if p == section && p != path {
                Some((p.clone(), *a, n.pos.line, path.to_string()))
            } else if privacy::section_of(p) == path && p != path {
                Some((path.to_string(), action, k.pos.line, p.clone()))
            } else {
                None
            }
        });
        if let Some((outer, outer_action, outer_line, inner)) = overlap {
            let how = if outer_action == Action::Mask {
                "masked"
            } else {
                "hashed"
            };
            ctx.error_at(
                k,
                format!(
                    "`{inner}` is inside `{outer}`, which line {outer_line} has {how} as a whole"
                ),
                Some(format!(
                    "keep either the line for `{outer}` or the one for `{inner}`"
                )),
            );
            continue;
        }
        if action == Action::Hash
            && let Some(why) = privacy::hash_weakness(path)
        {
            ctx.warn_at(
                v,
                format!("hashing `{path}` does not hide it: {why}"),
                Some(format!("use `{path}: mask`")),
            );
        }
        // `as_of` is kept with every record (it dates the decision's inputs).
        let kept = path == "as_of" || privacy::section_read(path, slots);
        if action != Action::Keep && !kept {
            let unread = if path.starts_with("extra.") {
                path
            } else {
                section
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
            f.strip_prefix("student.").is_some_and(|f| {
                f == path || f.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
            })
        });
        if action != Action::Keep
            && let Some(field) = shown
        {
            ctx.warn_at(
                k,
                format!("a rule reads `{field}`, so its flags show that value as an input whatever this line says"),
                Some("the decision is kept whole so that every flag can be explained; this line hides the value only in the kept record".into()),
            );
        }
        seen.insert(path.to_string(), (action, k));
        policy.set(path, action);
    }
    policy
}

fn parse_yaml(name: &str, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    match yaml::parse(text) {
        Ok(node) => node,
        Err(errors) => {
            for e in errors {
                let mut d = Diagnostic::error(name, e.line, e.col, e.message).with_source(text);
                d.hint = e.hint;
                diags.push(d);
            }
            None
        }
    }
}

fn catalogues(files: &BTreeMap<String, String>, diags: &mut Vec<Diagnostic>) -> Catalogues {
    let mut cats = Catalogues {
        params_loaded: true,
        interventions_loaded: false,
        interventions: Vec::new(),
        params: BTreeMap::new(),
    };
    match files.get("interventions.yaml") {
        None => diags.push(
            Diagnostic::error(
                "interventions.yaml",
                0,
                0,
                "the rule set has no interventions.yaml",
            )
            .hint("add the catalogue of interventions the rules recommend"),
        ),
        Some(text) => {
            if let Some(root) = parse_yaml("interventions.yaml", text, diags) {
                let mut ctx = Ctx {
                    file: "interventions.yaml",
                    text,
                    diags,
                };
                decode_interventions(&mut ctx, &root, &mut cats.interventions);
                cats.interventions_loaded = true;
            }
        }
    }
    if let Some(text) = files.get("params.yaml") {
        let before = diags.len();
        if let Some(root) = parse_yaml("params.yaml", text, diags) {
            let mut ctx = Ctx {
                file: "params.yaml",
                text,
                diags,
            };
            decode_params(&mut ctx, &root, &mut cats.params);
        }
        cats.params_loaded = !diags[before..].iter().any(Diagnostic::is_error);
    }
    cats
}

fn decode_interventions(ctx: &mut Ctx, root: &Node, out: &mut Vec<Intervention>) {
    let Some(top) = ctx.fields(
        root,
        "interventions.yaml",
        &["interventions"],
        &["interventions"],
    ) else {
        return;
    };
    let Some(list) = top.get("interventions") else {
        return;
    };
    let Kind::Seq(items) = &list.kind else {
        ctx.error_at(
            list,
            "`interventions` must be a list of interventions",
            None,
        );
        return;
    };
    let keys = ["id", "name", "domain", "tier", "description", "monitoring"];
    for item in items {
        let Some(f) = ctx.fields(
            item,
            "an intervention",
            &keys,
            &["id", "name", "domain", "tier"],
        ) else {
            continue;
        };
        let id = f.get("id").and_then(|n| ctx.string(n, "id"));
        let name = f.get("name").and_then(|n| ctx.string(n, "name"));
        let domain = f.get("domain").and_then(|n| ctx.domain(n));
        let tier = f.get("tier").and_then(|n| ctx.tier(n));
        let text =
            |ctx: &mut Ctx, k: &str| f.get(k).and_then(|n| ctx.string(n, k)).unwrap_or_default();
        let description = text(ctx, "description");
        let monitoring = text(ctx, "monitoring");
        let (Some(id), Some(name), Some(domain), Some(tier)) = (id, name, domain, tier) else {
            continue;
        };
        let id_node = f["id"];
        if !is_kebab(&id) {
            ctx.error_at(
                id_node,
                format!("intervention id `{id}` must be kebab-case"),
                Some("use lowercase letters, digits and dashes, e.g. `check-in-check-out`".into()),
            );
        } else if out.iter().any(|i| i.id == id) {
            ctx.error_at(id_node, format!("duplicate intervention id `{id}`"), None);
        }
        out.push(Intervention {
            id,
            name,
            domain,
            tier,
            description,
            monitoring,
        });
    }
}

fn decode_params(ctx: &mut Ctx, root: &Node, out: &mut BTreeMap<String, Param>) {
    if root.is_null() {
        return;
    }
    let Kind::Map(entries) = &root.kind else {
        ctx.error_at(
            root,
            "params.yaml must map names to numbers, like `low_gpa: 2.0`",
            None,
        );
        return;
    };
    for (k, v) in entries {
        let Some(name) = k.as_str() else { continue };
        if !is_param_name(name) {
            ctx.error_at(
                k,
                format!("param name `{name}` must be snake_case"),
                Some("use lowercase letters, digits and `_`, e.g. `low_gpa`".into()),
            );
            continue;
        }
        let (value_node, description) = match &v.kind {
            Kind::Map(_) => {
                let Some(f) = ctx.fields(
                    v,
                    &format!("param `{name}`"),
                    &["value", "description"],
                    &["value"],
                ) else {
                    continue;
                };
                let desc = f
                    .get("description")
                    .and_then(|n| ctx.string(n, "description"))
                    .unwrap_or_default();
                match f.get("value") {
                    Some(n) => (*n, desc),
                    None => continue,
                }
            }
            _ => (v, String::new()),
        };
        match yaml::to_json(value_node) {
            serde_json::Value::Number(value) => {
                out.insert(name.to_string(), Param { value, description });
            }
            _ => ctx.error_at(value_node, format!("param `{name}` must be a number"), Some("params hold thresholds such as `0.10` or `2`; conditions belong in the rule files".into())),
        }
    }
}

/// Compile every `lib/*.rhai` file and merge their functions.
fn compile_lib(
    engine: &rhai::Engine,
    files: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> AST {
    let mut lib = AST::empty();
    for (name, text) in files.iter().filter(|(k, _)| k.starts_with("lib/")) {
        check_lib_top_level(name, text, diags);
        match engine.compile(text) {
            Ok(ast) => lib = lib.merge(&ast.clone_functions_only()),
            Err(e) => {
                let (line, col) = (e.1.line().unwrap_or(0), e.1.position().unwrap_or(0));
                diags.push(
                    Diagnostic::error(name, line, col, rhai_parse_message(&e)).with_source(text),
                );
            }
        }
    }
    lib
}

/// A lib file defines functions only; statements outside them would never run.
fn check_lib_top_level(name: &str, text: &str, diags: &mut Vec<Diagnostic>) {
    let a = expr::analyze(text);
    let mut depth = 0i32;
    let mut in_fn_header = false;
    for t in &a.tokens {
        let word = &text[t.span.clone()];
        match word {
            "{" => {
                depth += 1;
                in_fn_header = false;
            }
            "}" => depth -= 1,
            "fn" | "private" if depth == 0 => in_fn_header = true,
            _ if depth == 0 && !in_fn_header && word != ";" => {
                let before = &text[..t.span.start];
                let line = before.matches('\n').count() + 1;
                let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                    .chars()
                    .count()
                    + 1;
                diags.push(Diagnostic::error(name, line, col, "lib files may only define functions").hint("move this statement into a function (`fn name(x) { ... }`) or into a rule's `when`").with_source(text));
                return;
            }
            _ => {}
        }
    }
}

fn rhai_parse_message(e: &rhai::ParseError) -> String {
    let msg = e.0.to_string();
    let msg = msg
        .replace("Variable not found: ", "unknown name `")
        .replace("Unknown variable: ", "unknown name `");
    if msg.starts_with("unknown name `") {
        format!("{msg}`")
    } else {
        format!("Rhai syntax: {msg}")
    }
}

const RULE_KEYS: [&str; 9] = [
    "id",
    "name",
    "domain",
    "tier",
    "when",
    "explain",
    "recommend",
    "references",
    "enabled",
];

fn decode_pack(
    name: &str,
    text: &str,
    cats: &Catalogues,
    drafts: &mut Vec<Draft>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(root) = parse_yaml(name, text, diags) else {
        return;
    };
    let mut ctx = Ctx {
        file: name,
        text,
        diags,
    };
    let Some(top) = ctx.fields(&root, "a rule pack", &["description", "rules"], &["rules"]) else {
        return;
    };
    if let Some(d) = top.get("description") {
        ctx.string(d, "description");
    }
    let Some(list) = top.get("rules") else { return };
    let Kind::Seq(items) = &list.kind else {
        ctx.error_at(
            list,
            "`rules` must be a list of rules",
            Some("start each rule with `- id: ...`".into()),
        );
        return;
    };
    for item in items {
        if let Some(d) = decode_rule(&mut ctx, item, cats) {
            drafts.push(d);
        }
    }
}

fn decode_rule(ctx: &mut Ctx, item: &Node, cats: &Catalogues) -> Option<Draft> {
    let f = ctx.fields(
        item,
        "a rule",
        &RULE_KEYS,
        &["id", "name", "domain", "tier", "when", "explain"],
    )?;
    let id = f.get("id").and_then(|n| ctx.string(n, "id"));
    if let (Some(id), Some(n)) = (&id, f.get("id"))
        && !is_kebab(id)
    {
        ctx.error_at(
            n,
            format!("rule id `{id}` must be kebab-case"),
            Some("use lowercase letters, digits and dashes, e.g. `chronic-absence`".into()),
        );
    }
    let name = f.get("name").and_then(|n| ctx.string(n, "name"));
    let domain = f.get("domain").and_then(|n| ctx.domain(n));
    let tier = f.get("tier").and_then(|n| ctx.tier(n));
    let when_node = f.get("when").copied();
    let when = when_node.and_then(|n| ctx.string(n, "when"));
    let explain_node = f.get("explain").copied();
    let explain_text = explain_node.and_then(|n| ctx.string(n, "explain"));
    let mut recommend = Vec::new();
    if let Some(n) = f.get("recommend") {
        for (rid, node) in ctx.string_list(n, "recommend") {
            if cats.interventions_loaded && !cats.interventions.iter().any(|i| i.id == rid) {
                let hint = suggest(&rid, cats.interventions.iter().map(|i| i.id.as_str()));
                ctx.error_at(
                    &node,
                    format!("unknown intervention `{rid}`"),
                    Some(format!(
                        "{hint} (interventions are listed in interventions.yaml)"
                    )),
                );
            }
            recommend.push(rid);
        }
    }
    let references = f
        .get("references")
        .map(|n| {
            ctx.string_list(n, "references")
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        })
        .unwrap_or_default();
    let enabled = match f.get("enabled") {
        None => true,
        Some(n) => match n.as_str() {
            Some("true") => true,
            Some("false") => false,
            _ => {
                ctx.error_at(n, "`enabled` must be true or false", None);
                true
            }
        },
    };
    // Check the condition and explanation even when other fields are wrong, so
    // every problem of the rule is reported in one run.
    let (when, when_node) = (when?, when_node?);
    let source = scalar_source(ctx.text, when_node);
    let analysis = expr::analyze(&source.text);
    let explain = match (&explain_text, explain_node) {
        (Some(t), Some(n)) => parse_explain(ctx, n, t, cats),
        _ => None,
    };
    // A rule with a bad id, name, domain or tier still has its condition checked;
    // the load fails on the errors already reported.
    let (id, name, domain, tier, explain_text) = (
        id.unwrap_or_default(),
        name.unwrap_or_default(),
        domain.unwrap_or(Domain::Academic),
        tier.unwrap_or(1),
        explain_text.unwrap_or_default(),
    );
    Some(Draft {
        id_pos: f["id"].pos,
        rule: Rule {
            id,
            name,
            domain,
            tier,
            when,
            explain_text,
            explain: explain.unwrap_or_default(),
            recommend,
            references,
            enabled,
            file: ctx.file.to_string(),
            line: item.pos.line,
            reads: Vec::new(),
            params_read: Vec::new(),
            clearing: Vec::new(),
            ast: AST::empty(),
            read_slots: Vec::new(),
            native: None,
        },
        file: ctx.file.to_string(),
        when_node: when_node.clone(),
        source,
        analysis,
    })
}

fn parse_explain(
    ctx: &mut Ctx,
    node: &Node,
    text: &str,
    cats: &Catalogues,
) -> Option<template::Template> {
    match template::parse(text, |p| resolve_name(p, cats)) {
        Ok(t) => Some(t),
        Err(errors) => {
            report_template_errors(ctx, node, text, cats, errors);
            None
        }
    }
}

fn report_template_errors(
    ctx: &mut Ctx,
    node: &Node,
    text: &str,
    cats: &Catalogues,
    errors: Vec<TemplateError>,
) {
    // The value has YAML's escapes and line folding resolved; parse the template
    // again as it stands in the file so each error points at the file's columns.
    let source = quoted_raw(ctx.text, node).unwrap_or_else(|| scalar_source(ctx.text, node));
    let located = match template::parse(&source.text, |p| resolve_name(p, cats)) {
        Err(errs) if errs.len() == errors.len() && source.text != text => errs,
        _ => errors,
    };
    for e in located {
        let (line, col) = source.at_byte(e.span.start);
        ctx.push(Severity::Error, line, col, e.span.len(), e.message, e.hint);
    }
}

/// A single-line quoted scalar as written between its quotes (escapes kept).
fn quoted_raw(file_text: &str, node: &Node) -> Option<SourceMap> {
    let Kind::Scalar(_, style) = &node.kind else {
        return None;
    };
    let quote = match style {
        TScalarStyle::DoubleQuoted => '"',
        TScalarStyle::SingleQuoted => '\'',
        _ => return None,
    };
    let line = file_text.lines().nth(node.pos.line.checked_sub(1)?)?;
    let rest: Vec<char> = line.chars().skip(node.pos.col).collect();
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            '\\' if quote == '"' => i += 2,
            '\'' if quote == '\'' && rest.get(i + 1) == Some(&'\'') => i += 2,
            c if c == quote => {
                return Some(SourceMap {
                    text: rest[..i].iter().collect(),
                    lines: vec![(node.pos.line, node.pos.col + 1)],
                });
            }
            _ => i += 1,
        }
    }
    None
}

fn resolve_name(p: &template::Placeholder, cats: &Catalogues) -> Result<Source, TemplateError> {
    let err = |message: String, hint: Option<String>| TemplateError {
        span: p.name_span.clone(),
        message,
        hint,
    };
    if let Some(path) = p.name.strip_prefix("student.") {
        return FieldRef::resolve(path).map(Source::Student).ok_or_else(|| {
            let hint = suggest(path, facts::FIELDS.iter().map(|f| f.path));
            err(
                format!("explanation names unknown record field `{path}`"),
                Some(hint),
            )
        });
    }
    if let Some(name) = p.name.strip_prefix("params.") {
        return if cats.params.contains_key(name) || !cats.params_loaded {
            Ok(Source::Param(name.to_string()))
        } else {
            Err(err(
                format!("explanation names unknown param `{name}`"),
                Some(suggest(name, cats.params.keys().map(String::as_str))),
            ))
        };
    }
    Err(err(format!("explanation names unknown value `{}`", p.name), Some("placeholders name `student.<field>` or `params.<name>`; write `{{` for a literal brace".into())))
}

fn check_duplicates(
    drafts: &[Draft],
    files: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, &Draft> = HashMap::new();
    for d in drafts.iter().filter(|d| !d.rule.id.is_empty()) {
        if let Some(first) = seen.get(d.rule.id.as_str()) {
            let text = &files[&d.file];
            diags.push(
                Diagnostic::error(
                    &d.file,
                    d.id_pos.line,
                    d.id_pos.col,
                    format!("duplicate rule id `{}`", d.rule.id),
                )
                .width(d.rule.id.chars().count())
                .hint(format!(
                    "`{}` is already defined at {}:{}; rule ids must be unique across the rule set",
                    d.rule.id, first.file, first.rule.line
                ))
                .with_source(text),
            );
        } else {
            seen.insert(&d.rule.id, d);
        }
    }
}

/// Give every student field read by any rule, and every param, a scope slot.
fn assign_slots(drafts: &[Draft], cats: &Catalogues) -> (Vec<FieldRef>, Vec<String>) {
    let mut slots: Vec<FieldRef> = Vec::new();
    for d in drafts {
        for p in d.analysis.paths.iter().filter(|p| p.root == Root::Student) {
            if let Some(f) = FieldRef::resolve(&p.joined())
                && !slots.contains(&f)
            {
                slots.push(f);
            }
        }
    }
    (slots, cats.params.keys().cloned().collect())
}

#[allow(clippy::too_many_arguments)]
fn compile_rule(
    engine: &rhai::Engine,
    mut draft: Draft,
    text: &str,
    lib: &AST,
    slots: &[FieldRef],
    param_slots: &[String],
    cats: &Catalogues,
    diags: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let file = draft.file.clone();
    let mut ctx = Ctx {
        file: &file,
        text,
        diags,
    };
    let errors_before = ctx.diags.len();
    let src = &draft.source;
    for p in &draft.analysis.problems {
        let (line, col) = src.at_byte(p.span.start);
        ctx.push(
            Severity::Error,
            line,
            col,
            src.text[p.span.clone()].chars().count(),
            p.message.clone(),
            p.hint.clone(),
        );
    }
    let mut names = Vec::new();
    for p in &draft.analysis.paths {
        // With params.yaml unreadable, its own error explains; do not flood the
        // output with an unknown-param error per reference.
        if p.root == Root::Params && !cats.params_loaded {
            names.push(None);
            continue;
        }
        names.push(resolve_path(
            &mut ctx,
            src,
            p,
            slots,
            param_slots,
            &mut draft.rule,
        ));
    }
    mixed_comparisons(&mut ctx, &draft);
    if ctx.diags[errors_before..].iter().any(Diagnostic::is_error)
        || names.iter().any(Option::is_none)
    {
        return None;
    }
    let rewritten = expr::rewrite(&src.text, &draft.analysis.paths, |i| {
        names[i].clone().unwrap_or_default()
    });
    let mut scope = Scope::new();
    for i in 0..slots.len() {
        scope.push_dynamic(sandbox::var_name('s', i), Dynamic::UNIT);
    }
    for i in 0..param_slots.len() {
        scope.push_dynamic(sandbox::var_name('p', i), Dynamic::UNIT);
    }
    let ast = match engine.compile_with_scope(&scope, &rewritten) {
        Ok(ast) => ast,
        Err(e) => {
            let (line, col) = src.at_rhai(e.1);
            ctx.push(Severity::Error, line, col, 1, rhai_parse_message(&e), Some("conditions are Rhai expressions such as `student.gpa <= params.low_gpa && student.failing_courses > 0`".into()));
            return None;
        }
    };
    draft.rule.native = {
        let a = &draft.analysis;
        let operand = |k: usize| -> Option<native::Operand> {
            let p = &a.paths[k];
            let joined = p.joined();
            match p.root {
                Root::Params => param_slots
                    .iter()
                    .position(|n| *n == joined)
                    .map(native::Operand::Param),
                Root::Student => FieldRef::resolve(&joined)
                    .filter(|f| f.spec().is_some_and(|s| s.kind == FieldKind::Number))
                    .and_then(|f| slots.iter().position(|s| *s == f))
                    .map(native::Operand::Slot),
            }
        };
        native::compile(&src.text, a, &operand)
    };
    draft.rule.ast = lib.merge(&ast);
    draft.rule.clearing = clearing(&draft, cats);
    draft.rule.read_slots = draft
        .rule
        .reads
        .iter()
        .filter_map(|f| slots.iter().position(|s| s == f))
        .collect();
    probe(engine, &mut ctx, &draft, slots, param_slots, cats);
    Some(draft.rule)
}

/// Rhai answers `false` when a number is compared with text, so such a rule could
/// never fire: report `student.gpa > "two"` and `student.sel.screener > 3`.
fn mixed_comparisons(ctx: &mut Ctx, draft: &Draft) {
    let a = &draft.analysis;
    let src = &draft.source;
    let text = &src.text;
    for (i, t) in a.tokens.iter().enumerate() {
        if !matches!(&text[t.span.clone()], "==" | "!=" | "<" | "<=" | ">" | ">=") {
            continue;
        }
        let sides = [
            (
                a.paths.iter().find(|p| p.tokens.end == i),
                a.tokens.get(i + 1),
            ),
            (
                a.paths.iter().find(|p| p.tokens.start == i + 1),
                i.checked_sub(1).and_then(|j| a.tokens.get(j)),
            ),
        ];
        for (path, other) in sides {
            let (Some(path), Some(other)) = (path, other) else {
                continue;
            };
            if path.root != Root::Student {
                continue;
            }
            let Some(spec) = FieldRef::resolve(&path.joined()).and_then(|f| f.spec()) else {
                continue;
            };
            let clash = match (spec.kind, other.kind) {
                (FieldKind::Number, expr::Tok::Str) => {
                    Some(("a number", "text", "write the number without quotes"))
                }
                (FieldKind::Text, expr::Tok::Number) => {
                    Some(("text", "a number", "put the value in quotes"))
                }
                _ => None,
            };
            if let Some((is, with, hint)) = clash {
                let (line, col) = src.at_byte(other.span.start);
                let shown = &text[other.span.clone()];
                ctx.push(Severity::Error, line, col, shown.chars().count(), format!("`student.{}` is {is} but is compared with {with} `{shown}`; the comparison is never true", path.joined()), Some(hint.into()));
            }
        }
    }
}

/// Resolve one reference; record it as read; return its scope variable name.
fn resolve_path(
    ctx: &mut Ctx,
    src: &SourceMap,
    p: &expr::PathRef,
    slots: &[FieldRef],
    param_slots: &[String],
    rule: &mut Rule,
) -> Option<String> {
    let joined = p.joined();
    match p.root {
        Root::Params => {
            let Some(i) = param_slots.iter().position(|n| *n == joined) else {
                let (line, col) = src.at_byte(p.segment_spans[0].start);
                let hint = suggest(&joined, param_slots.iter().map(String::as_str));
                ctx.push(
                    Severity::Error,
                    line,
                    col,
                    joined.chars().count(),
                    format!("unknown param `{joined}`"),
                    Some(format!("{hint} (params are defined in params.yaml)")),
                );
                return None;
            };
            if !rule.params_read.contains(&joined) {
                rule.params_read.push(joined);
            }
            Some(sandbox::var_name('p', i).to_string())
        }
        Root::Student => {
            let Some(field) = FieldRef::resolve(&joined) else {
                unknown_field(ctx, src, p);
                return None;
            };
            if field.spec().is_some_and(|s| s.status) {
                let (line, col) = src.at_byte(p.span.start);
                ctx.push(Severity::Warning, line, col, src.text[p.span.clone()].chars().count(), format!("`{}` is a program status, not a changeable indicator", field.full_path()), Some("flags should come from attendance, behavior, course performance and screeners; see the fairness notes in the README".into()));
            }
            let i = slots.iter().position(|s| *s == field)?;
            if !rule.reads.contains(&field) {
                rule.reads.push(field);
            }
            Some(sandbox::var_name('s', i).to_string())
        }
    }
}

/// Report the first segment of `student.<path>` that does not exist.
fn unknown_field(ctx: &mut Ctx, src: &SourceMap, p: &expr::PathRef) {
    let mut prefix = String::new();
    for (k, seg) in p.segments.iter().enumerate() {
        let candidates: Vec<&str> = facts::FIELDS
            .iter()
            .filter_map(|f| {
                let rest = if prefix.is_empty() {
                    Some(f.path)
                } else {
                    f.path
                        .strip_prefix(prefix.as_str())
                        .and_then(|r| r.strip_prefix('.'))
                }?;
                Some(rest.split('.').next().unwrap_or(rest))
            })
            .chain(if prefix.is_empty() {
                Some("extra")
            } else {
                None
            })
            .collect();
        let full = if prefix.is_empty() {
            seg.clone()
        } else {
            format!("{prefix}.{seg}")
        };
        if candidates.contains(&seg.as_str())
            && facts::FIELDS
                .iter()
                .any(|f| f.path == full || f.path.starts_with(&format!("{full}.")))
        {
            prefix = full;
            continue;
        }
        let (line, col) = src.at_byte(p.segment_spans[k].start);
        let mut uniq = candidates.clone();
        uniq.dedup();
        let msg = if prefix.is_empty() {
            format!("unknown record field `{seg}`")
        } else if facts::FIELDS.iter().any(|f| f.path == prefix) {
            format!("`{prefix}` has no fields; `{seg}` cannot be read from it")
        } else {
            format!("`{prefix}` has no field `{seg}`")
        };
        let hint = if uniq.is_empty() {
            "see the record schema in the README".to_string()
        } else {
            suggest(seg, uniq.iter().copied())
        };
        ctx.push(
            Severity::Error,
            line,
            col,
            seg.chars().count(),
            msg,
            Some(hint),
        );
        return;
    }
    let (line, col) = src.at_byte(p.span.start);
    let what = p.joined();
    ctx.push(
        Severity::Error,
        line,
        col,
        src.text[p.span.clone()].chars().count(),
        format!("`student.{what}` is a section, not a value"),
        Some(format!(
            "read one of its fields, e.g. `student.{what}.{}`",
            first_child(&what)
        )),
    );
}

fn first_child(section: &str) -> &'static str {
    facts::FIELDS
        .iter()
        .find_map(|f| {
            f.path
                .strip_prefix(section)
                .and_then(|r| r.strip_prefix('.'))
        })
        .unwrap_or("field")
}

fn clearing(draft: &Draft, cats: &Catalogues) -> Vec<Clearing> {
    let a = &draft.analysis;
    a.comparisons
        .iter()
        .filter_map(|c| {
            let field = FieldRef::resolve(&a.paths[c.path].joined())?;
            let threshold = match &c.threshold {
                Threshold::Literal(n) => *n,
                Threshold::Param(p) => cats.params.get(p)?.as_f64(),
            };
            Some(Clearing {
                field,
                op: c.op,
                threshold,
            })
        })
        .collect()
}

/// Evaluate the condition once on a sample record with every section present, to
/// catch conditions that do not give true/false and operators used on wrong types.
fn probe(
    engine: &rhai::Engine,
    ctx: &mut Ctx,
    draft: &Draft,
    slots: &[FieldRef],
    param_slots: &[String],
    cats: &Catalogues,
) {
    if draft.rule.reads.iter().any(|f| {
        matches!(f, FieldRef::Extra(_)) || f.spec().is_some_and(|s| s.kind == FieldKind::List)
    }) {
        return;
    }
    let record = crate::record::probe_record();
    let facts = Facts::new(&record);
    let mut scope = Scope::new();
    for (i, f) in slots.iter().enumerate() {
        scope.push_constant_dynamic(
            sandbox::var_name('s', i),
            facts
                .get(f)
                .map_or(Dynamic::UNIT, |v| sandbox::to_dynamic(&v)),
        );
    }
    for (i, p) in param_slots.iter().enumerate() {
        scope.push_constant_dynamic(
            sandbox::var_name('p', i),
            cats.params
                .get(p)
                .map_or(Dynamic::UNIT, |v| sandbox::number_dynamic(&v.value)),
        );
    }
    let (line, col) = (draft.when_node.pos.line, draft.when_node.pos.col);
    match sandbox::with_deadline(&Limits::default(), || {
        engine.eval_ast_with_scope::<Dynamic>(&mut scope, &draft.rule.ast)
    }) {
        Ok(v) if v.is_bool() => {}
        Ok(v) => ctx.push(
            Severity::Error,
            line,
            col,
            1,
            format!("condition gives {} instead of true or false", v.type_name()),
            Some("compare the value, e.g. `student.gpa <= params.low_gpa`".into()),
        ),
        Err(e) => {
            let (l, c) = draft.source.at_rhai(e.position());
            let l = if l == 0 { line } else { l };
            let is_type = matches!(
                *e,
                rhai::EvalAltResult::ErrorFunctionNotFound(..)
                    | rhai::EvalAltResult::ErrorMismatchDataType(..)
                    | rhai::EvalAltResult::ErrorMismatchOutputType(..)
            );
            let sev = if is_type {
                Severity::Error
            } else {
                Severity::Warning
            };
            let what = e.to_string();
            let what = what.split(" (line ").next().unwrap_or(&what);
            let (msg, hint) = if is_type {
                (
                    format!("condition fails on a sample record: {what}"),
                    "compare values of the same kind: numbers with numbers, text with text",
                )
            } else {
                (
                    format!("condition stopped on a sample record: {what}"),
                    "records like the sample will list this rule under rule_errors; the sandbox stops rules that loop or grow data without bound",
                )
            };
            ctx.push(sev, l, c.max(1), 1, msg, Some(hint.into()));
        }
    }
}

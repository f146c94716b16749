//! Stage 5 of loading: checked rules compiled into what the engine runs.
//!
//! Every student field a rule reads and every param gets a scope slot; each
//! condition is rewritten onto its slots and compiled once to a Rhai `AST` (lib
//! functions merged in), and also to native comparisons when it is only that
//! ([`super::native`]). Each compiled condition is then run once on a sample record
//! ([`probe`]) to catch what only running shows.

mod probe;
mod rhai_text;
mod slots;

pub use slots::Slots;

use rhai::{AST, Dynamic, Scope};

use super::check::{Catalogues, CheckedRule, Condition, Head, Ref};
use super::expr::{self, Root, Threshold};
use super::model::{Clearing, Rule};
use super::native;
use super::sandbox;
use crate::record::facts::{FieldKind, FieldRef};
use crate::source::{Ctx, Diagnostic, Severity};
use rhai_text::{at_rhai, rhai_parse_message};

/// Compile every `lib/*.rhai` file and merge their functions.
pub fn lib(engine: &rhai::Engine, files: &[(&str, &str)], diags: &mut Vec<Diagnostic>) -> AST {
    let mut lib = AST::empty();
    for (name, text) in files {
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

/// What compiling needs besides the rule.
pub struct Compiler<'a> {
    pub engine: &'a rhai::Engine,
    pub lib: &'a AST,
    pub slots: &'a Slots,
    pub cats: &'a Catalogues,
}

impl Compiler<'_> {
    /// Compile and probe every rule whose condition was checked sound; the rules
    /// whose other fields were sound too come out.
    pub fn rules(&self, checked: Vec<CheckedRule>, diags: &mut Vec<Diagnostic>) -> Vec<Rule> {
        let mut out = Vec::new();
        for rule in checked {
            let mut ctx = Ctx::new(rule.file, rule.text, diags);
            let Some(compiled) = self.condition(&mut ctx, &rule.condition) else {
                continue;
            };
            if let Some(head) = rule.head {
                out.push(self.build(head, rule.file, rule.condition, compiled));
            }
        }
        out
    }

    /// The condition compiled and probed; `None` when it was unsound or Rhai
    /// refused it (reported).
    fn condition(&self, ctx: &mut Ctx, c: &Condition) -> Option<Compiled> {
        let refs = c.refs.as_ref()?;
        let names = |i: usize| match &refs[i] {
            Ref::Param(p) => self.slots.param(p).map(|k| sandbox::var_name('p', k)),
            Ref::Student(f) => self.slots.field(f).map(|k| sandbox::var_name('s', k)),
        };
        let rewritten = expr::rewrite(&c.source.text, &c.analysis.paths, |i| {
            names(i).unwrap_or_default().to_string()
        });
        let ast = match self.engine.compile_with_scope(&self.scope(), &rewritten) {
            Ok(ast) => self.lib.merge(&ast),
            Err(e) => {
                let (line, col) = at_rhai(&c.source, e.1);
                ctx.push(Severity::Error, line, col, 1, rhai_parse_message(&e), Some("conditions are Rhai expressions such as `student.gpa <= params.low_gpa && student.failing_courses > 0`".into()));
                return None;
            }
        };
        probe::probe(self.engine, self.slots, self.cats, ctx, c, &ast);
        Some(Compiled {
            native: self.native(c),
            ast,
        })
    }

    /// A scope with every slot, for compiling.
    fn scope(&self) -> Scope<'static> {
        let mut scope = Scope::new();
        for i in 0..self.slots.fields.len() {
            scope.push_dynamic(sandbox::var_name('s', i), Dynamic::UNIT);
        }
        for i in 0..self.slots.params.len() {
            scope.push_dynamic(sandbox::var_name('p', i), Dynamic::UNIT);
        }
        scope
    }

    /// The condition as native comparisons, when it is only that.
    fn native(&self, c: &Condition) -> Option<native::Native> {
        let a = &c.analysis;
        let operand = |k: usize| -> Option<native::Operand> {
            let p = &a.paths[k];
            let joined = p.joined();
            match p.root {
                Root::Params => self.slots.param(&joined).map(native::Operand::Param),
                Root::Student => {
                    let f = FieldRef::resolve(&joined)?;
                    let slot = self.slots.field(&f)?;
                    match f.spec()?.kind {
                        FieldKind::Number => Some(native::Operand::Slot(slot)),
                        FieldKind::Flag => Some(native::Operand::Flag(slot)),
                        _ => None,
                    }
                }
            }
        };
        native::compile(&c.source.text, a, &operand)
    }

    fn build(&self, head: Head, file: &str, c: Condition, compiled: Compiled) -> Rule {
        let clearing = clearing(&c, self.cats);
        let read_slots = c.reads.iter().filter_map(|f| self.slots.field(f)).collect();
        Rule {
            id: head.id,
            name: head.name,
            domain: head.domain,
            kind: head.kind,
            tier: head.tier,
            when_at: (c.pos.line, c.pos.col),
            when: c.when,
            explain_text: head.explain_text,
            explain: head.explain,
            family_text: head
                .family
                .iter()
                .map(|(lang, text, _)| (lang.clone(), text.clone()))
                .collect(),
            family: head
                .family
                .into_iter()
                .map(|(lang, _, t)| (lang, t))
                .collect(),
            recommend: head.recommend,
            references: head.references,
            enabled: head.enabled,
            allow: head.allow,
            file: file.to_string(),
            line: head.line,
            reads: c.reads,
            params_read: c.params_read,
            clearing,
            ast: compiled.ast,
            read_slots,
            native: compiled.native,
        }
    }
}

/// A condition's compiled forms.
struct Compiled {
    ast: AST,
    native: Option<native::Native>,
}

/// The threshold comparisons of a condition, to say what would clear its flag.
fn clearing(c: &Condition, cats: &Catalogues) -> Vec<Clearing> {
    let a = &c.analysis;
    a.comparisons
        .iter()
        .filter_map(|cmp| {
            let field = FieldRef::resolve(&a.paths[cmp.path].joined())?;
            let threshold = match &cmp.threshold {
                Threshold::Literal(n) => *n,
                Threshold::Param(p) => cats.params.get(p)?.as_f64(),
            };
            Some(Clearing {
                field,
                op: cmp.op,
                threshold,
            })
        })
        .collect()
}

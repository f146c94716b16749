//! The Rhai engine configuration every rule is compiled and run with.
//!
//! Rule scripts are untrusted: Rhai's defaults are unlimited, so every limit is set
//! here. Compilation and evaluation use the same settings so that what `check`
//! accepts is what runs. The evaluator adds the operation counter and the wall-clock
//! deadline (`engine::Evaluator`), which only matter at run time.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::{Dynamic, Engine};

thread_local! {
    /// When the script now running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    static TICKS: Cell<u32> = const { Cell::new(0) };
}

/// Checked by Rhai's progress callback; reading the clock every 64 operations keeps
/// the cost negligible.
fn past_deadline() -> bool {
    let t = TICKS.with(|c| {
        let v = c.get().wrapping_add(1);
        c.set(v);
        v
    });
    t.is_multiple_of(64) && DEADLINE.with(Cell::get).is_some_and(|d| Instant::now() > d)
}

/// Run `f` (which evaluates a script with an engine from [`engine`]) under the
/// wall-clock bound of `limits`.
pub fn with_deadline<T>(limits: &Limits, f: impl FnOnce() -> T) -> T {
    DEADLINE.with(|c| {
        c.set(Some(
            Instant::now() + Duration::from_micros(limits.deadline_micros),
        ))
    });
    let out = f();
    DEADLINE.with(|c| c.set(None));
    out
}

/// Resource limits for rule scripts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rhai operations one rule may run before it is stopped.
    pub max_operations: u64,
    /// Nesting depth of expressions (global, inside functions).
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    /// Nested function calls (recursion).
    pub max_call_levels: usize,
    /// Longest string, in bytes.
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Wall-clock bound per rule, in microseconds. Catches work that Rhai's
    /// operation counter misses (closures run by `filter`/`map`).
    pub deadline_micros: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 100_000,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_call_levels: 16,
            max_string_size: 16 * 1024,
            max_array_size: 10_000,
            max_map_size: 1_000,
            deadline_micros: 50_000,
        }
    }
}

/// A Rhai engine with the sandbox settings: every limit set, no `eval`, no module
/// imports (functions in `lib/` are merged into every rule instead), no printing,
/// strict variables and failing on misspelled map properties.
pub fn engine(limits: &Limits) -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(limits.max_operations)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(0)
        .set_max_variables(256)
        .set_max_functions(256)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true)
        .set_module_resolver(DummyModuleResolver::new());
    for symbol in ["eval", "import", "export"] {
        e.disable_symbol(symbol);
    }
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.on_progress(|_| past_deadline().then(|| Dynamic::from("deadline")));
    e
}

/// A record value as a Rhai value. Lists become arrays of maps.
pub fn to_dynamic(v: &crate::record::Value) -> rhai::Dynamic {
    use crate::record::Value;
    match v {
        Value::Int(i) => rhai::Dynamic::from_int(*i),
        Value::Num(n) => rhai::Dynamic::from_float(*n),
        Value::Bool(b) => rhai::Dynamic::from_bool(*b),
        Value::Text(s) => rhai::Dynamic::from(s.clone()),
        Value::Json(j) => rhai::serde::to_dynamic(j).unwrap_or(rhai::Dynamic::UNIT),
    }
}

/// A param value as a Rhai number: integers stay integers.
pub fn number_dynamic(n: &serde_json::Number) -> rhai::Dynamic {
    match n.as_i64() {
        Some(i) => rhai::Dynamic::from_int(i),
        None => rhai::Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// Most student fields, and most params, one rule set may use.
pub const MAX_SLOTS: usize = 1024;

/// The scope variable for slot `i` of kind `s` (student field) or `p` (param):
/// `_s0`, `_p12`. Interned once so evaluation never allocates names.
pub fn var_name(kind: char, i: usize) -> &'static str {
    use std::sync::OnceLock;
    static NAMES: OnceLock<(Vec<String>, Vec<String>)> = OnceLock::new();
    let (s, p) = NAMES.get_or_init(|| {
        let make = |k: char| (0..MAX_SLOTS).map(|i| format!("_{k}{i}")).collect();
        (make('s'), make('p'))
    });
    let table = if kind == 's' { s } else { p };
    table.get(i).map_or("_overflow", String::as_str)
}

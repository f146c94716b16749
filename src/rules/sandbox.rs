//! The Rhai engine configuration every rule is compiled and run with.
//!
//! Rule scripts are untrusted: Rhai's defaults are unlimited, so every limit is set
//! here. Compilation and evaluation use the same settings so that what `check`
//! accepts is what runs. The evaluator adds the operation budget and the wall-clock
//! deadline ([`with_deadline`]), which only matter at run time.
//!
//! # What a rule can call
//!
//! The engine starts from [`Engine::new_raw`] (no functions) and gets only the
//! packages below; every function that runs a closure, or whose native work could
//! outlast the limits, is either left out or replaced by a wrapper in [`fns`]
//! (functions registered on the engine take precedence over package functions of the
//! same name and parameter types; `tests/sandbox.rs` proves each one is the wrapper).
//!
//! Rhai counts operations per call frame, and a closure run by a native function
//! counts from a copy of its caller's counter that is thrown away afterwards, so
//! closure work never added up. Here every operation, in closures too, ticks one
//! per-rule budget ([`Limits::max_operations`]); the clock is read every 64 ticks and
//! before every closure call a wrapper makes. Once a rule is stopped it stays stopped:
//! every later tick fails again, so a function that swallows an error cannot run on.
//!
//! | functions (Rhai 1.27) | package | decision |
//! |---|---|---|
//! | `sleep` (int and float) | lang core | **removed**: blocks the thread without a single operation tick |
//! | `exit`, `take`, `tag`, `set_tag`, `parse_json` | lang core | **removed** with the package (no use in a condition; `exit` would end a rule with any value) |
//! | `timestamp`, `elapsed`, time arithmetic | time | **removed**: a decision must depend only on the record and the rules |
//! | `blob`, every blob function, `parse_le_int`… `write_utf8`… | blob | **removed**: no use in a condition |
//! | array `for_each`, `map`, `filter`, `find`, `find_map`, `index_of(closure)`, `some`, `all`, `reduce`, `reduce_rev`, `zip`, `drain(closure)`, `retain(closure)`, `dedup(closure)` (with their `start`/`initial` forms) | array | **wrapped**: budget and clock checked before each closure call; the closure's errors propagate (Rhai's `dedup` ignored them); closures take the element (and optionally the index) as parameters |
//! | array `sort(closure)`, `sort_by`, `order(closure)`, `order_by` | array | **wrapped**: a merge sort of our own (at most n·log₂n closure calls, never panics on an inconsistent comparator); comparator errors and results other than a number or true/false are rule errors (Rhai ignored them and sorted on) |
//! | array `sort()`, `sort_desc()`, `order()`, `order_desc()` | array | **wrapped**: clock checked first; floats sorted by a total order, `NaN` last (Rhai's `NaN`-unaware order can make the standard sort panic) |
//! | map `map`, `filter`, `drain(closure)`, `retain(closure)` | map | **wrapped** as the array ones; closures take `(key, value)` |
//! | string `replace(text, text)`, `replace(char, text)` | string | **wrapped**: the result's size is checked before it is built (16 KiB × 16 KiB would be 256 MiB) |
//! | string `pad`, array `pad` | string, array | kept: Rhai checks the final size before allocating |
//! | `+`, `+=`, `append`, `concat`, `insert`, `push`, `splice`, `extract`, `split`, `split_rev`, `to_chars`, `chars`, `bytes`, `to_upper`, `trim`, `sub_string`, `crop`, `contains`, `index_of(value)`, `dedup()`, `==`/`!=` on arrays and maps, `to_string`/`to_debug` of arrays and maps, `keys`, `values`, `mixin`, `fill_with` | array, map, string | kept: linear (or `log`-linear) in the size of their arguments, which Rhai bounds on every value (16 KiB of strings, 10,000 array items, 1,000 map entries, counted through nesting), so one call is at most milliseconds; results are size-checked on return |
//! | `range`, `..`, `..=`, `chars`, `bits` iterators | iterator | kept: lazy; each loop iteration is an operation |
//! | arithmetic, comparison, `min`, `max`, `abs`, `floor`, `sqrt`, `parse_int`, `parse_float`, `to_int`, bit fields, `Fn`, `call`, `curry`, `type_of`, `print`/`debug` (silenced) | arithmetic, logic, math, bit field, fn, string | kept: constant time, or linear in a bounded string |
//! | `eval`, `import`, `export` | language | **refused at load** (disabled symbols; no module resolver) |

mod fns;

use std::cell::Cell;
use std::time::{Duration, Instant};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Position};

/// Why a running rule was stopped by the budget of [`with_deadline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It ran past its wall-clock deadline.
    Deadline,
    /// It ran more operations than [`Limits::max_operations`], closures included.
    Operations,
}

impl Stop {
    const DEADLINE: &'static str = "deadline";
    const OPERATIONS: &'static str = "operations";

    fn token(self) -> Dynamic {
        Dynamic::from(match self {
            Stop::Deadline => Self::DEADLINE,
            Stop::Operations => Self::OPERATIONS,
        })
    }

    /// The stop behind an `ErrorTerminated` token raised by this module.
    pub fn of_token(token: &Dynamic) -> Option<Stop> {
        match token.clone().into_string().ok()?.as_str() {
            Self::DEADLINE => Some(Stop::Deadline),
            Self::OPERATIONS => Some(Stop::Operations),
            _ => None,
        }
    }
}

/// The budget of the script now running on this thread.
#[derive(Clone, Copy)]
struct Budget {
    deadline: Instant,
    ticks: u64,
    max_ops: u64,
    stop: Option<Stop>,
}

thread_local! {
    static BUDGET: Cell<Option<Budget>> = const { Cell::new(None) };
}

/// Count one operation; `read_clock` also compares the time with the deadline.
/// Returns the stop, which is sticky: once stopped, every later tick stops again.
fn tick(read_clock: bool) -> Option<Stop> {
    BUDGET.with(|cell| {
        let mut b = cell.get()?;
        b.ticks = b.ticks.saturating_add(1);
        if b.stop.is_none() {
            if b.max_ops > 0 && b.ticks > b.max_ops {
                b.stop = Some(Stop::Operations);
            } else if (read_clock || b.ticks.is_multiple_of(64)) && Instant::now() > b.deadline {
                b.stop = Some(Stop::Deadline);
            }
        }
        cell.set(Some(b));
        b.stop
    })
}

/// Rhai's progress callback: every operation of every script and closure ticks.
fn on_progress(_ops: u64) -> Option<Dynamic> {
    tick(false).map(Stop::token)
}

/// Called by the wrappers in [`fns`] before each closure call and before native work
/// that grows with the data: one tick, and a look at the clock.
pub(crate) fn checkpoint() -> Result<(), Box<EvalAltResult>> {
    match tick(true) {
        None => Ok(()),
        Some(stop) => Err(EvalAltResult::ErrorTerminated(stop.token(), Position::NONE).into()),
    }
}

/// Run `f` (which evaluates a script with an engine from [`engine`]) under the
/// operation budget and the wall-clock bound of `limits`.
pub fn with_deadline<T>(limits: &Limits, f: impl FnOnce() -> T) -> T {
    let budget = Budget {
        deadline: Instant::now() + Duration::from_micros(limits.deadline_micros),
        ticks: 0,
        max_ops: limits.max_operations,
        stop: None,
    };
    let outer = BUDGET.with(|c| c.replace(Some(budget)));
    let out = f();
    BUDGET.with(|c| c.set(outer));
    out
}

/// Resource limits for rule scripts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Operations one rule may run before it is stopped, counting the operations
    /// of every closure it has a native function run.
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
    /// Wall-clock bound per rule, in microseconds: the backstop for work that
    /// operations do not measure well (native calls on large values).
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

/// A Rhai engine with the sandbox settings: only the packages and wrappers listed in
/// the module docs, every limit set, no `eval`, no module imports (functions in
/// `lib/` are merged into every rule instead), no printing, strict variables and
/// failing on misspelled map properties.
pub fn engine(limits: &Limits) -> Engine {
    let mut e = Engine::new_raw();
    for package in [
        ArithmeticPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
    ] {
        e.register_global_module(package);
    }
    fns::register(&mut e);
    e.set_max_strings_interned(256)
        .set_max_operations(limits.max_operations)
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
    e.on_progress(on_progress);
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

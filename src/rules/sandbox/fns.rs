//! Wrappers that replace Rhai's functions which run closures or do unbounded native
//! work (the table in the parent module says which and why).
//!
//! Each wrapper calls [`checkpoint`] before every closure call, so the operation
//! budget and the deadline hold inside the loop, and returns the closure's error as
//! its own. The behaviour otherwise follows Rhai's documentation of the function it
//! replaces, with one narrowing: a closure takes the element (and optionally the
//! index) as parameters; the parameterless `this` form is not offered.

use std::cmp::Ordering;

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, INT, ImmutableString, Map,
    NativeCallContext, Position,
};

use super::checkpoint;

type Res<T> = Result<T, Box<EvalAltResult>>;

/// A closure given to a wrapper; learns on the first call whether it also takes the
/// index.
struct Callback<'a> {
    ctx: &'a NativeCallContext<'a>,
    f: FnPtr,
    with_extra: Option<bool>,
}

impl<'a> Callback<'a> {
    fn new(ctx: &'a NativeCallContext<'a>, f: FnPtr) -> Self {
        Callback {
            ctx,
            f,
            with_extra: None,
        }
    }

    /// Call with `args`, or with `args` and `extra` when the closure takes one more.
    fn call(&mut self, args: &[Dynamic], extra: Dynamic) -> Res<Dynamic> {
        checkpoint()?;
        if self.with_extra != Some(true) {
            match self.f.call_raw(self.ctx, None, args.to_vec()) {
                Err(e) if self.with_extra.is_none() && self.misses_arity(&e) => {}
                other => {
                    self.with_extra = Some(false);
                    return other;
                }
            }
        }
        self.with_extra = Some(true);
        let mut all = args.to_vec();
        all.push(extra);
        self.f.call_raw(self.ctx, None, all)
    }

    fn misses_arity(&self, e: &EvalAltResult) -> bool {
        matches!(e, EvalAltResult::ErrorFunctionNotFound(sig, _) if sig.starts_with(self.f.fn_name()))
    }

    /// Call on array element `i`: `f(item)` or `f(item, i)`.
    fn on(&mut self, item: &Dynamic, i: usize) -> Res<Dynamic> {
        self.call(std::slice::from_ref(item), index(i))
    }

    /// As [`Self::on`], true only when the closure returns `true`.
    fn test(&mut self, item: &Dynamic, i: usize) -> Res<bool> {
        Ok(self.on(item, i)?.as_bool().unwrap_or(false))
    }
}

fn index(i: usize) -> Dynamic {
    Dynamic::from_int(INT::try_from(i).unwrap_or(INT::MAX))
}

/// Where a search starts: negative counts from the end; past the end finds nothing.
fn start_at(len: usize, start: INT) -> usize {
    if start < 0 {
        let back = usize::try_from(start.unsigned_abs()).unwrap_or(usize::MAX);
        len.saturating_sub(back)
    } else {
        usize::try_from(start).map_or(len, |s| s.min(len))
    }
}

fn for_each(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<()> {
    let mut cb = Callback::new(&ctx, f);
    for (i, item) in a.iter().enumerate() {
        let _ = cb.on(item, i)?;
    }
    Ok(())
}

fn map(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Array> {
    let mut cb = Callback::new(&ctx, f);
    a.iter()
        .enumerate()
        .map(|(i, item)| cb.on(item, i))
        .collect()
}

fn filter(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Array> {
    let mut cb = Callback::new(&ctx, f);
    let mut out = Array::new();
    for (i, item) in a.iter().enumerate() {
        if cb.test(item, i)? {
            out.push(item.clone());
        }
    }
    Ok(out)
}

/// The index of the first element from `start` the closure accepts.
fn position(ctx: &NativeCallContext, a: &Array, f: FnPtr, start: INT) -> Res<Option<usize>> {
    let mut cb = Callback::new(ctx, f);
    for (i, item) in a.iter().enumerate().skip(start_at(a.len(), start)) {
        if cb.test(item, i)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn index_of_from(ctx: NativeCallContext, a: &mut Array, f: FnPtr, start: INT) -> Res<INT> {
    Ok(position(&ctx, a, f, start)?.map_or(-1, |i| INT::try_from(i).unwrap_or(INT::MAX)))
}

fn index_of(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<INT> {
    index_of_from(ctx, a, f, 0)
}

fn find_from(ctx: NativeCallContext, a: &mut Array, f: FnPtr, start: INT) -> Res<Dynamic> {
    Ok(position(&ctx, a, f, start)?.map_or(Dynamic::UNIT, |i| a[i].clone()))
}

fn find(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Dynamic> {
    find_from(ctx, a, f, 0)
}

fn find_map_from(ctx: NativeCallContext, a: &mut Array, f: FnPtr, start: INT) -> Res<Dynamic> {
    let mut cb = Callback::new(&ctx, f);
    for (i, item) in a.iter().enumerate().skip(start_at(a.len(), start)) {
        let v = cb.on(item, i)?;
        if !v.is_unit() {
            return Ok(v);
        }
    }
    Ok(Dynamic::UNIT)
}

fn find_map(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Dynamic> {
    find_map_from(ctx, a, f, 0)
}

fn some(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<bool> {
    Ok(position(&ctx, a, f, 0)?.is_some())
}

fn all(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<bool> {
    let mut cb = Callback::new(&ctx, f);
    for (i, item) in a.iter().enumerate() {
        if !cb.test(item, i)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Remove consecutive elements the closure calls equal to the one kept before them.
fn dedup_by(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<()> {
    let mut cb = Callback::new(&ctx, f);
    let mut kept = Array::with_capacity(a.len());
    for (i, item) in std::mem::take(a).into_iter().enumerate() {
        let same = match kept.last() {
            Some(prev) => cb.call(&[prev.clone(), item.clone()], index(i))?,
            None => Dynamic::FALSE,
        };
        if !same.as_bool().unwrap_or(false) {
            kept.push(item);
        }
    }
    *a = kept;
    Ok(())
}

fn fold<'a>(
    ctx: &NativeCallContext,
    items: impl Iterator<Item = (usize, &'a Dynamic)>,
    f: FnPtr,
    initial: Dynamic,
) -> Res<Dynamic> {
    let mut cb = Callback::new(ctx, f);
    let mut acc = initial;
    for (i, item) in items {
        acc = cb.call(&[acc, item.clone()], index(i))?;
    }
    Ok(acc)
}

fn reduce_with(ctx: NativeCallContext, a: &mut Array, f: FnPtr, initial: Dynamic) -> Res<Dynamic> {
    fold(&ctx, a.iter().enumerate(), f, initial)
}

fn reduce(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Dynamic> {
    reduce_with(ctx, a, f, Dynamic::UNIT)
}

fn reduce_rev_with(
    ctx: NativeCallContext,
    a: &mut Array,
    f: FnPtr,
    initial: Dynamic,
) -> Res<Dynamic> {
    fold(&ctx, a.iter().enumerate().rev(), f, initial)
}

fn reduce_rev(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Dynamic> {
    reduce_rev_with(ctx, a, f, Dynamic::UNIT)
}

fn zip(ctx: NativeCallContext, a: &mut Array, b: Array, f: FnPtr) -> Res<Array> {
    let mut cb = Callback::new(&ctx, f);
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| cb.call(&[x.clone(), y], index(i)))
        .collect()
}

/// Split `a` by the closure: (accepted, rejected), each in order.
fn partition(ctx: &NativeCallContext, a: Array, f: FnPtr) -> Res<(Array, Array)> {
    let mut cb = Callback::new(ctx, f);
    let (mut yes, mut no) = (Array::new(), Array::new());
    for (i, item) in a.into_iter().enumerate() {
        if cb.test(&item, i)? {
            yes.push(item);
        } else {
            no.push(item);
        }
    }
    Ok((yes, no))
}

/// Remove the elements the closure accepts; return them.
fn drain(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Array> {
    let (removed, kept) = partition(&ctx, a.clone(), f)?;
    *a = kept;
    Ok(removed)
}

/// Keep the elements the closure accepts; return the others.
fn retain(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Array> {
    let (kept, removed) = partition(&ctx, a.clone(), f)?;
    *a = kept;
    Ok(removed)
}

/// The order of `n` items by a fallible comparison, by a stable bottom-up merge sort:
/// at most `n·⌈log₂ n⌉` comparisons, whatever the comparison answers, and the first
/// error ends it.
fn merge_order(n: usize, mut less: impl FnMut(usize, usize) -> Res<bool>) -> Res<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut tmp = idx.clone();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                // Take from the right only when strictly less: stable.
                if less(idx[j], idx[i])? {
                    tmp[k] = idx[j];
                    j += 1;
                } else {
                    tmp[k] = idx[i];
                    i += 1;
                }
                k += 1;
            }
            tmp[k..k + (mid - i)].copy_from_slice(&idx[i..mid]);
            k += mid - i;
            tmp[k..k + (end - j)].copy_from_slice(&idx[j..end]);
            start = end;
        }
        std::mem::swap(&mut idx, &mut tmp);
        width *= 2;
    }
    Ok(idx)
}

/// What a sort comparator's answer means: a number (negative: less) or a bool
/// (`true`: less).
fn comparator_says_less(v: &Dynamic) -> Res<bool> {
    if let Ok(n) = v.as_int() {
        return Ok(n < 0);
    }
    if let Ok(f) = v.as_float() {
        return Ok(f < 0.0);
    }
    if let Ok(b) = v.as_bool() {
        return Ok(b);
    }
    Err(EvalAltResult::ErrorRuntime(
        format!(
            "the sort comparator gave {} instead of a number or true/false",
            v.type_name()
        )
        .into(),
        Position::NONE,
    )
    .into())
}

fn sort_by(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<()> {
    let mut cb = Callback::new(&ctx, f);
    let order = merge_order(a.len(), |x, y| {
        comparator_says_less(&cb.call(&[a[x].clone(), a[y].clone()], Dynamic::UNIT)?)
    })?;
    let mut old = std::mem::take(a);
    a.extend(order.into_iter().map(|i| std::mem::take(&mut old[i])));
    Ok(())
}

fn order_by(ctx: NativeCallContext, a: &mut Array, f: FnPtr) -> Res<Array> {
    let mut copy = a.clone();
    sort_by(ctx, &mut copy, f)?;
    Ok(copy)
}

/// The built-in order of two values of one sortable type; a total order, floats too.
fn builtin_cmp(x: &Dynamic, y: &Dynamic) -> Ordering {
    if let (Ok(x), Ok(y)) = (x.as_int(), y.as_int()) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (x.as_float(), y.as_float()) {
        // NaN (of either sign) after every number; numbers by value (-0 == 0).
        return match (x.is_nan(), y.is_nan()) {
            (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (nx, ny) => nx.cmp(&ny),
        };
    }
    if let (Ok(x), Ok(y)) = (x.as_char(), y.as_char()) {
        return x.cmp(&y);
    }
    if let (Ok(x), Ok(y)) = (x.as_bool(), y.as_bool()) {
        return x.cmp(&y);
    }
    match (
        x.read_lock::<ImmutableString>(),
        y.read_lock::<ImmutableString>(),
    ) {
        (Some(x), Some(y)) => x.as_str().cmp(y.as_str()),
        _ => Ordering::Equal,
    }
}

/// Sort without a closure: every element of one type (numbers, text, characters,
/// booleans, or `()`).
fn sort_builtin(a: &mut Array, descending: bool) -> Res<()> {
    checkpoint()?;
    let Some(first) = a.first() else {
        return Ok(());
    };
    let ty = first.type_id();
    if a.iter().any(|v| v.type_id() != ty) {
        return Err(not_sortable("elements of different types cannot be sorted"));
    }
    let sortable = first.is_int()
        || first.is_float()
        || first.is_char()
        || first.is_bool()
        || first.is_string();
    if first.is_unit() {
        return Ok(());
    }
    if !sortable {
        return Err(not_sortable(&format!(
            "elements of {} cannot be sorted",
            first.type_name()
        )));
    }
    if descending {
        a.sort_by(|x, y| builtin_cmp(y, x));
    } else {
        a.sort_by(builtin_cmp);
    }
    Ok(())
}

fn not_sortable(what: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorFunctionNotFound(what.into(), Position::NONE).into()
}

fn sort(a: &mut Array) -> Res<()> {
    sort_builtin(a, false)
}

fn sort_desc(a: &mut Array) -> Res<()> {
    sort_builtin(a, true)
}

fn order(a: &mut Array) -> Res<Array> {
    let mut copy = a.clone();
    sort_builtin(&mut copy, false)?;
    Ok(copy)
}

fn order_desc(a: &mut Array) -> Res<Array> {
    let mut copy = a.clone();
    sort_builtin(&mut copy, true)?;
    Ok(copy)
}

/// Call on map entry: `f(key, value)`.
fn on_entry(cb: &mut Callback, key: &str, value: &Dynamic) -> Res<Dynamic> {
    cb.call(
        &[Dynamic::from(key.to_string()), value.clone()],
        Dynamic::UNIT,
    )
}

fn map_map(ctx: NativeCallContext, m: &mut Map, f: FnPtr) -> Res<Map> {
    let mut cb = Callback::new(&ctx, f);
    let mut out = Map::new();
    for (k, v) in m.iter() {
        out.insert(k.clone(), on_entry(&mut cb, k, v)?);
    }
    Ok(out)
}

/// Split `m` by the closure: (accepted, rejected).
fn split_map(ctx: &NativeCallContext, m: &Map, f: FnPtr) -> Res<(Map, Map)> {
    let mut cb = Callback::new(ctx, f);
    let (mut yes, mut no) = (Map::new(), Map::new());
    for (k, v) in m {
        let accepted = on_entry(&mut cb, k, v)?.as_bool().unwrap_or(false);
        let side = if accepted { &mut yes } else { &mut no };
        side.insert(k.clone(), v.clone());
    }
    Ok((yes, no))
}

fn map_filter(ctx: NativeCallContext, m: &mut Map, f: FnPtr) -> Res<Map> {
    Ok(split_map(&ctx, m, f)?.0)
}

fn map_drain(ctx: NativeCallContext, m: &mut Map, f: FnPtr) -> Res<Map> {
    let (removed, kept) = split_map(&ctx, m, f)?;
    *m = kept;
    Ok(removed)
}

fn map_retain(ctx: NativeCallContext, m: &mut Map, f: FnPtr) -> Res<Map> {
    let (kept, removed) = split_map(&ctx, m, f)?;
    *m = kept;
    Ok(removed)
}

/// `replace` with its result's size checked before it is built.
fn replace_checked(
    ctx: &NativeCallContext,
    s: &mut ImmutableString,
    find: &str,
    with: &str,
) -> Res<()> {
    checkpoint()?;
    if find.is_empty() {
        return Ok(());
    }
    let hits = s.matches(find).count();
    let grown = s.len() - hits * find.len() + hits.saturating_mul(with.len());
    let max = ctx.engine().max_string_size();
    if max > 0 && grown > max {
        return Err(
            EvalAltResult::ErrorDataTooLarge("Length of string".into(), Position::NONE).into(),
        );
    }
    *s = s.replace(find, with).into();
    Ok(())
}

fn replace(ctx: NativeCallContext, s: &mut ImmutableString, find: &str, with: &str) -> Res<()> {
    replace_checked(&ctx, s, find, with)
}

fn replace_char(
    ctx: NativeCallContext,
    s: &mut ImmutableString,
    find: char,
    with: &str,
) -> Res<()> {
    replace_checked(&ctx, s, find.encode_utf8(&mut [0; 4]), with)
}

/// Register every wrapper on `e`, over the package functions of the same signature.
/// `pure` functions leave their first argument alone, so they may be called on the
/// record's constants; the others change it and are refused on constants.
pub(super) fn register(e: &mut Engine) {
    let pure = |name: &str| FuncRegistration::new(name).with_purity(true);
    let changes = |name: &str| FuncRegistration::new(name).with_purity(false);
    pure("for_each").register_into_engine(e, for_each);
    pure("map").register_into_engine(e, map);
    pure("filter").register_into_engine(e, filter);
    pure("index_of").register_into_engine(e, index_of);
    pure("index_of").register_into_engine(e, index_of_from);
    pure("find").register_into_engine(e, find);
    pure("find").register_into_engine(e, find_from);
    pure("find_map").register_into_engine(e, find_map);
    pure("find_map").register_into_engine(e, find_map_from);
    pure("some").register_into_engine(e, some);
    pure("all").register_into_engine(e, all);
    changes("dedup").register_into_engine(e, dedup_by);
    pure("reduce").register_into_engine(e, reduce);
    pure("reduce").register_into_engine(e, reduce_with);
    pure("reduce_rev").register_into_engine(e, reduce_rev);
    pure("reduce_rev").register_into_engine(e, reduce_rev_with);
    pure("zip").register_into_engine(e, zip);
    changes("drain").register_into_engine(e, drain);
    changes("retain").register_into_engine(e, retain);
    for name in ["sort", "sort_by"] {
        changes(name).register_into_engine(e, sort_by);
    }
    for name in ["order", "order_by"] {
        pure(name).register_into_engine(e, order_by);
    }
    changes("sort").register_into_engine(e, sort);
    changes("sort_desc").register_into_engine(e, sort_desc);
    pure("order").register_into_engine(e, order);
    pure("order_desc").register_into_engine(e, order_desc);
    pure("map").register_into_engine(e, map_map);
    pure("filter").register_into_engine(e, map_filter);
    changes("drain").register_into_engine(e, map_drain);
    changes("retain").register_into_engine(e, map_retain);
    changes("replace").register_into_engine(e, replace);
    changes("replace").register_into_engine(e, replace_char);
}

//! The shape ARCHITECTURE.md promises, checked on the source itself: no file under
//! `src/` over 700 lines (`main.rs` under 250), no two modules that import each other
//! (top-level modules, and the files inside each module directory), and the module
//! map in `lib.rs` naming every module. A new arrow back up fails here with the cycle
//! it closes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's code as the build sees it outside tests: comments dropped, and
/// everything from the first `#[cfg(test)]` that opens a module on (test modules sit
/// at the end; a `#[cfg(test)]` on one item elsewhere does not cut the file).
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("source file");
    let opens_module = |rest: &str| {
        let rest = rest.trim_start();
        ["mod ", "pub mod ", "pub(crate) mod ", "#[path"]
            .iter()
            .any(|p| rest.starts_with(p))
    };
    let cut = text
        .match_indices("#[cfg(test)]")
        .map(|(i, m)| i + m.len())
        .find(|&end| opens_module(&text[end..]))
        .map_or(text.len(), |end| end - "#[cfg(test)]".len());
    let text = &text[..cut];
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names following `prefix` in `code` (`crate::audit::x` with prefix `crate::` gives `audit`).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    code.match_indices(prefix)
        .filter(|(i, _)| {
            // `crate::` must not be the tail of a longer path (`$crate::`, `my_crate::`).
            !code[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
        .map(|(i, _)| {
            code[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// The top-level module a file belongs to, and its name inside that module
/// (`src/audit/chain.rs` → `("audit", "chain")`, `src/ndjson.rs` → `("ndjson", "mod")`).
fn place(path: &Path) -> (String, String) {
    let rel = path.strip_prefix(SRC).expect("under src");
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let top = parts[0].clone();
    let inner = if parts.len() > 1 {
        parts[1].clone()
    } else {
        "mod".into()
    };
    (top, inner)
}

fn top_modules() -> BTreeSet<String> {
    fs::read_dir(SRC)
        .expect("src")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            p.file_name()
                .expect("name")
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|n| n != "lib" && n != "main")
        .collect()
}

#[test]
fn no_source_file_is_over_700_lines_and_main_is_under_250() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let lines = fs::read_to_string(f).expect("source").lines().count();
        let limit = if f.ends_with("main.rs") { 249 } else { 700 };
        if lines > limit {
            long.push(format!("{} has {lines} lines (limit {limit})", f.display()));
        }
    }
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}

#[test]
fn no_two_top_level_modules_import_each_other() {
    let tops = top_modules();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    for f in &files {
        let (top, _) = place(f);
        if !tops.contains(&top) {
            continue;
        }
        let uses = names_after(&code(f), "crate::");
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(uses.into_iter().filter(|u| u != &top && tops.contains(u)));
    }
    assert!(
        graph.len() >= 10,
        "the walk found too few modules to mean anything: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "modules import each other: {}\n(the arrows of ARCHITECTURE.md point one way)",
            cycle.join(" → ")
        );
    }
}

#[test]
fn no_two_files_of_one_module_import_each_other() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let siblings = |top: &str| -> BTreeSet<String> {
        let dir = Path::new(SRC).join(top);
        if !dir.is_dir() {
            return BTreeSet::new();
        }
        fs::read_dir(dir)
            .expect("module dir")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .filter(|n| n != "mod")
            .collect()
    };
    for f in &files {
        let (top, inner) = place(f);
        let names = siblings(&top);
        if names.is_empty() || inner == "mod" {
            continue;
        }
        let c = code(f);
        let mut uses = names_after(&c, &format!("crate::{top}::"));
        // `super::` from a file directly in the module directory means a sibling.
        if f.parent() == Some(&Path::new(SRC).join(&top)) {
            uses.extend(names_after(&c, "super::"));
        }
        graphs
            .entry(top.clone())
            .or_default()
            .entry(inner.clone())
            .or_default()
            .extend(
                uses.into_iter()
                    .filter(|u| u != &inner && names.contains(u)),
            );
    }
    for (top, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            panic!("files of `{top}` import each other: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_module_map_in_lib_rs_names_every_module() {
    let lib = fs::read_to_string(Path::new(SRC).join("lib.rs")).expect("lib.rs");
    let missing: Vec<_> = top_modules()
        .into_iter()
        .filter(|m| !lib.contains(&format!("| [`{m}`] |")))
        .collect();
    assert!(
        missing.is_empty(),
        "lib.rs's module table does not list: {missing:?}"
    );
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        names_after("use crate::audit::x; $crate::no; my_crate::no;", "crate::"),
        BTreeSet::from(["audit".to_string()])
    );
}

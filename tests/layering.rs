//! The layering ratchet (issue 15, `../shared/LAYERING.md`): measures, from the crate's
//! own `crate::` paths, the imports that run from a lower layer up to a higher one, the
//! import cycles between files and between top-level folders, the I/O done in the layers meant to be pure, and the files
//! over 600 lines; and compares them with `tests/layering/baseline.txt`.
//!
//! The baseline may only shrink: a new entry fails (name the layer it belongs to, or move
//! the code), and an entry that is gone fails too until it is struck from the baseline, so
//! each refactoring step is recorded. `HOSTNET_UPDATE_LAYERING=1 cargo test --test
//! layering` rewrites the baseline from the tree (review the diff: it should only lose
//! lines).
//!
//! Test code is left out: files named `tests.rs` or `*_tests.rs`, folders named `tests`,
//! and everything after a file's first `#[cfg(test)]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level folder's floor in the target layering, bottom to top. A file is judged
/// by where it lives: a planner kept in `firewall/` imports `plan` from floor 0, and that
/// is an arrow up until it moves.
const FLOORS: &[(&str, u32)] = &[
    ("lib.rs", 0),
    ("files.rs", 0),
    ("firewall", 0),
    ("state", 1),
    ("model", 2),
    ("netdev", 2),
    ("ovs", 2),
    ("expand", 3),
    ("plan", 4),
    ("persist", 4),
    ("engine", 5),
    ("devices", 6),
    ("dhcp", 6),
    ("sandbox.rs", 6),
    ("show.rs", 6),
    ("show_ovs.rs", 6),
    ("cli", 7),
];

/// Folders whose code is meant to do no I/O, and what counts as I/O.
const PURE: &[&str] = &["firewall", "state", "model", "expand", "plan"];
const IO: &[&str] = &["std::fs", "std::process", "libc::", "nix::"];
const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Library sources (the binaries sit on top of everything), relative to `src/`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(src()).expect("under src").to_path_buf();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "tests" && rel != Path::new("bin") {
                sources(&p, out);
            }
        } else if name.ends_with(".rs")
            && name != "main.rs"
            && name != "tests.rs"
            && name != "proptests.rs"
            && !name.ends_with("_tests.rs")
        {
            out.push(rel);
        }
    }
}

/// The file's code without its tests and comments.
fn code(rel: &Path) -> String {
    let text = std::fs::read_to_string(src().join(rel)).expect("read source");
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every `crate::a::b` path the code names, `use crate::{a, b::{c, d}}` groups spread out.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `hostnet_crate::` or `$crate::` are not this crate's paths.
        let before = rest[..i].chars().last();
        let after = &rest[i + "crate::".len()..];
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            let mut chars = after.char_indices().peekable();
            tree(after, &mut chars, Vec::new(), &mut out);
        }
        rest = after;
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn skip_ws(chars: &mut Chars) {
    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
        chars.next();
    }
}

fn ident(s: &str, chars: &mut Chars) -> Option<String> {
    skip_ws(chars);
    let start = chars.peek()?.0;
    let mut end = start;
    while let Some(&(i, c)) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            end = i + c.len_utf8();
            chars.next();
        } else {
            break;
        }
    }
    (end > start).then(|| s[start..end].to_string())
}

/// One use tree after `crate::` (or after `x::` inside a group).
fn tree(s: &str, chars: &mut Chars, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        skip_ws(chars);
        if chars.peek().is_some_and(|&(_, c)| c == '{') {
            chars.next();
            loop {
                tree(s, chars, prefix.clone(), out);
                skip_ws(chars);
                match chars.next() {
                    Some((_, ',')) => {
                        skip_ws(chars);
                        if chars.peek().is_some_and(|&(_, c)| c == '}') {
                            chars.next();
                            return;
                        }
                    }
                    _ => return,
                }
            }
        }
        match ident(s, chars) {
            Some(id) if id == "self" => {}
            Some(id) => prefix.push(id),
            None => break,
        }
        // `::` goes on; anything else ends the path.
        let mut look = chars.clone();
        if matches!(look.next(), Some((_, ':'))) && matches!(look.next(), Some((_, ':'))) {
            chars.next();
            chars.next();
            continue;
        }
        break;
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
}

/// The file a path lands in: its longest prefix that is a module file, else `lib.rs`.
fn resolve(path: &[String], files: &BTreeSet<PathBuf>) -> PathBuf {
    for n in (1..=path.len()).rev() {
        let p: PathBuf = path[..n].iter().collect();
        for cand in [p.with_extension("rs"), p.join("mod.rs")] {
            if files.contains(&cand) {
                return cand;
            }
        }
    }
    PathBuf::from("lib.rs")
}

fn top(rel: &Path) -> String {
    rel.components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn floor(rel: &Path) -> u32 {
    let t = top(rel);
    FLOORS
        .iter()
        .find(|(name, _)| *name == t)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("{} has no floor in FLOORS: give it one", rel.display()))
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        g: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out.sort();
    t.out
}

/// The measurements, one line each, sorted.
fn measure() -> BTreeSet<String> {
    let mut list = Vec::new();
    sources(&src(), &mut list);
    let files: BTreeSet<PathBuf> = list.iter().cloned().collect();
    let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    let mut lines = BTreeSet::new();
    for rel in &list {
        let code = code(rel);
        let edges = graph.entry(rel.clone()).or_default();
        for path in crate_paths(&code) {
            let to = resolve(&path, &files);
            if &to == rel || to == Path::new("lib.rs") {
                continue;
            }
            if floor(rel) < floor(&to) {
                lines.insert(format!("up {} -> {}", show(rel), show(&to)));
            }
            edges.insert(to);
        }
        if PURE.contains(&top(rel).as_str()) {
            for io in IO {
                if code.contains(io) {
                    lines.insert(format!("io {} {}", show(rel), io.trim_end_matches(':')));
                }
            }
        }
        let n = std::fs::read_to_string(src().join(rel))
            .expect("read")
            .lines()
            .count();
        if n > MAX_LINES {
            lines.insert(format!("long {}", show(rel)));
        }
    }
    for scc in cycles(&graph) {
        let names: Vec<String> = scc.iter().map(|p| show(p)).collect();
        lines.insert(format!("cycle {}", names.join(" ")));
    }
    // The same between top-level folders: files can avoid a cycle that their folders
    // still make (`expand` -> `firewall` -> `plan` -> `expand` through different files).
    let mut folders: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (from, tos) in &graph {
        let f = PathBuf::from(top(from));
        let e = folders.entry(f.clone()).or_default();
        e.extend(
            tos.iter()
                .map(|t| PathBuf::from(top(t)))
                .filter(|t| *t != f),
        );
    }
    for scc in cycles(&folders) {
        let names: Vec<String> = scc.iter().map(|p| show(p)).collect();
        lines.insert(format!("folder-cycle {}", names.join(" ")));
    }
    lines
}

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layering/baseline.txt")
}

#[test]
fn the_layering_only_gets_better() {
    let now = measure();
    if std::env::var_os("HOSTNET_UPDATE_LAYERING").is_some() {
        let mut text = String::from(
            "# What tests/layering.rs measures today; it may only lose lines (issue 15).\n",
        );
        for l in &now {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(baseline_path(), text).expect("write baseline");
        return;
    }
    let base: BTreeSet<String> = std::fs::read_to_string(baseline_path())
        .expect("tests/layering/baseline.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let new: Vec<&String> = now.difference(&base).collect();
    let gone: Vec<&String> = base.difference(&now).collect();
    let count = |kind: &str| now.iter().filter(|l| l.starts_with(kind)).count();
    eprintln!(
        "layering: {} arrows up, {} file cycles, {} folder cycles, {} files doing I/O in pure layers, {} files over {MAX_LINES} lines",
        count("up "),
        count("cycle "),
        count("folder-cycle "),
        count("io "),
        count("long ")
    );
    assert!(
        new.is_empty(),
        "new layering violations (see ../shared/LAYERING.md for where code goes):\n{}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        gone.is_empty(),
        "fixed, well done: strike these from tests/layering/baseline.txt \
         (or HOSTNET_UPDATE_LAYERING=1):\n{}",
        gone.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn use_trees_are_spread_into_paths() {
    let p = crate_paths(
        "use crate::netdev::{self, ops::{Op, Phase}, Driver};\nlet x = crate::error_chain(&e);\nuse hostnet_crate::x;",
    );
    let p: Vec<String> = p.iter().map(|v| v.join("::")).collect();
    assert_eq!(
        p,
        [
            "netdev",
            "netdev::ops::Op",
            "netdev::ops::Phase",
            "netdev::Driver",
            "error_chain"
        ]
    );
}

//! Tidy tests: the source tree keeps the structure ARCHITECTURE.md describes.
//! They read the code as text (as rust-analyzer's tidy tests do), so a change
//! that breaks a layering rule fails here with the file and the line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest layer first: a module may use only
/// modules listed before it. `cli` is the binary (`src/cli/`, `src/main.rs`).
const LAYERS: &[&str] = &[
    "time", "engine", "units", "stats", "outdir", "io", "promql", "scenario", "import", "sim", "runner", "rows",
    "summary", "report", "compare", "replay", "sweep", "shard", "cli",
];

struct Source {
    /// Path relative to `src/`, with `/` separators.
    rel: String,
    /// Lines without comment lines (doc comments talk about other modules freely).
    code: Vec<(usize, String)>,
}

fn sources() -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            Source { rel, code }
        })
        .collect()
}

/// The top-level module a file belongs to (`io/series.rs` → `io`; `main.rs` → `cli`).
fn module_of(rel: &str) -> &str {
    match rel {
        "main.rs" => "cli",
        "lib.rs" => "lib",
        _ => rel.split('/').next().unwrap().trim_end_matches(".rs"),
    }
}

/// Modules named as `crate::NAME` (or `rollsim::NAME` in the binary) on a line.
fn uses(line: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        // `crate::{a, b}` would hide its names from this check: not allowed.
        assert!(!after.starts_with('{'), "write one `use {prefix}module::...` per module: {line}");
        if !name.is_empty() {
            out.push(name);
        }
        rest = after;
    }
    out
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut problems = Vec::new();
    for s in sources() {
        let from = module_of(&s.rel);
        if from == "lib" {
            continue;
        }
        let Some(r) = rank(from) else {
            problems.push(format!("src/{}: module `{from}` has no place in LAYERS (tests/tidy.rs)", s.rel));
            continue;
        };
        let prefix = if from == "cli" { "rollsim::" } else { "crate::" };
        for (n, line) in &s.code {
            for to in uses(line, prefix) {
                if to == from {
                    continue;
                }
                match rank(&to) {
                    Some(t) if t < r => {}
                    Some(_) => {
                        problems.push(format!("src/{}:{n}: `{from}` uses `{to}`, a layer above or beside it", s.rel))
                    }
                    None => problems.push(format!("src/{}:{n}: `{to}` has no place in LAYERS", s.rel)),
                }
            }
        }
    }
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn the_engine_uses_only_time_and_does_no_io_reads_no_clock_and_draws_no_random_numbers() {
    let forbidden =
        ["std::fs", "std::io", "std::net", "std::env", "std::time", "SystemTime", "Instant::now", "rand", "thread"];
    let mut problems = Vec::new();
    for s in sources().iter().filter(|s| module_of(&s.rel) == "engine") {
        for (n, line) in &s.code {
            for to in uses(line, "crate::") {
                if to != "engine" && to != "time" {
                    problems.push(format!("src/{}:{n}: the engine uses crate::{to}", s.rel));
                }
            }
            for f in forbidden {
                let word = line.match_indices(f).any(|(i, _)| {
                    let before = line[..i].chars().next_back();
                    let after = line[i + f.len()..].chars().next();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                        && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if word {
                    problems.push(format!("src/{}:{n}: the engine mentions `{f}`: {}", s.rel, line.trim()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn heavy_dependencies_stay_in_their_rooms() {
    // (crate path, the files or folders of src/ allowed to use it)
    let rooms: &[(&str, &[&str])] = &[
        ("polars::", &["io/", "report/"]),
        ("plotters::", &["report/charts/"]),
        ("clap::", &["cli/"]),
        ("indicatif::", &["cli/"]),
        ("rayon::", &["runner.rs"]),
        ("ctrlc::", &["main.rs"]),
        ("promql_parser::", &["promql/"]),
        ("pulldown_cmark::", &["report/html.rs"]),
        ("saphyr::", &["import/yaml.rs"]),
    ];
    let mut problems = Vec::new();
    for s in sources() {
        for (n, line) in &s.code {
            for (krate, allowed) in rooms {
                if line.contains(krate) && !allowed.iter().any(|a| s.rel.starts_with(a)) {
                    problems.push(format!("src/{}:{n}: uses {krate} outside {allowed:?}", s.rel));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn architecture_md_names_every_source_file() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let mut missing = BTreeSet::new();
    for s in sources() {
        let parts: Vec<&str> = s.rel.split('/').collect();
        let named = match parts.as_slice() {
            [file] => doc.contains(&format!("src/{file}")),
            [dir, rest @ ..] => {
                let file = rest.last().unwrap();
                doc.contains(&format!("src/{dir}/")) && (*file == "mod.rs" || doc.contains(*file))
            }
            [] => true,
        };
        if !named {
            missing.insert(format!("src/{}", s.rel));
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md's codemap does not name: {missing:?}");
}

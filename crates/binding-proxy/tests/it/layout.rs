//! The workspace keeps its shape: crates depend one way (`binding-proxy → {dataplane, admin} →
//! auth → store`, the emulator only behind `dev`), modules of a crate import one way, and no
//! source file grows past the size where it should be split.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Short name of a workspace crate (`binding-proxy-auth` → `auth`).
fn short(package: &str) -> &str {
    package.strip_prefix("binding-proxy-").unwrap_or(package)
}

/// Normal (not dev, not build) dependencies between workspace crates: crate → [(dep, optional)].
fn workspace_graph() -> BTreeMap<String, Vec<(String, bool)>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut graph = BTreeMap::new();
    for package in packages {
        let name = package["name"].as_str().expect("name");
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| {
                let dep = d["name"].as_str()?;
                names.contains(dep).then(|| {
                    (
                        short(dep).to_owned(),
                        d["optional"].as_bool().unwrap_or(false),
                    )
                })
            })
            .collect();
        graph.insert(short(name).to_owned(), deps);
    }
    graph
}

#[test]
fn crates_depend_one_way_and_the_emulator_only_behind_dev() {
    let graph = workspace_graph();
    // A crate may depend only on crates of a lower layer (or, for the binary, the emulator
    // behind its `dev` feature). benches and testkit are tooling, not part of the service.
    let layer = |name: &str| match name {
        "store" | "emulator" => 0,
        "auth" => 1,
        "dataplane" | "admin" => 2,
        "binding-proxy" => 3,
        other => panic!("unknown workspace crate {other}: give it a layer in this test"),
    };
    for (name, deps) in &graph {
        if name == "benches" || name == "testkit" {
            continue;
        }
        for (dep, optional) in deps {
            assert_ne!(
                dep, "testkit",
                "{name} depends on testkit outside dev-dependencies"
            );
            if dep == "emulator" {
                assert!(
                    name == "binding-proxy" && *optional,
                    "{name} depends on the emulator; only binding-proxy may, behind `dev`"
                );
                continue;
            }
            assert!(
                layer(dep) < layer(name),
                "{name} → {dep} points up or sideways"
            );
        }
    }
    let deps_of =
        |name: &str| -> Vec<&str> { graph[name].iter().map(|(d, _)| d.as_str()).collect() };
    assert_eq!(deps_of("store"), Vec::<&str>::new());
    assert_eq!(deps_of("emulator"), Vec::<&str>::new());
    assert_eq!(deps_of("auth"), ["store"]);
    assert_eq!(
        deps_of("dataplane"),
        ["auth"],
        "dataplane reaches store only through auth"
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The crates' `src` directories.
fn source_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .map(|e| e.expect("entry").path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The code of a file without its `#[cfg(test)] mod tests { … }` block (the last item by house
/// rule) and without comment lines.
fn code_of(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file's code names through `crate::`: `crate::a::b` and
/// `use crate::{a, b::c}` both count.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // First segments follow the `{` or a `,` at depth 0; the group ends at its `}`.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[j..]);
                        if !name.is_empty() {
                            found.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The top-level module a file belongs to (`src/upstream/pool.rs` → `upstream`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn modules_of_a_crate_import_one_way() {
    for src in source_dirs() {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in rust_files(&src) {
            let module = module_of(&src, &file);
            if matches!(module.as_str(), "lib" | "main") {
                continue;
            }
            let code = code_of(&std::fs::read_to_string(&file).expect("read"));
            let imports = graph.entry(module.clone()).or_default();
            for name in crate_imports(&code) {
                if name != module {
                    imports.insert(name);
                }
            }
        }
        let modules: BTreeSet<String> = graph.keys().cloned().collect();
        for imports in graph.values_mut() {
            imports.retain(|m| modules.contains(m));
        }
        // Depth-first search for a cycle; report the first one found with its path.
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|p| p == node) {
                let mut cycle = path[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_owned());
            for next in &graph[node] {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(node.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        for module in graph.keys() {
            if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
                panic!(
                    "{}: modules import each other: {}",
                    src.display(),
                    cycle.join(" → ")
                );
            }
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut long = Vec::new();
    for src in source_dirs() {
        for file in rust_files(&src) {
            let lines = std::fs::read_to_string(&file)
                .expect("read")
                .lines()
                .count();
            if lines > 500 {
                long.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn the_import_scan_reads_grouped_and_nested_paths() {
    let code = "use crate::a::b;\nuse crate::{c, d::{e, f}, g as h};\nlet x = crate::i::j();";
    let found: Vec<String> = crate_imports(code).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "g", "i"]);
}

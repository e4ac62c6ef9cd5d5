//! The folders of src/ are layers (ARCHITECTURE.md, "Layers"): a module uses only its own layer
//! and the ones below it, and the core touches no I/O. This reads every source file and fails
//! on any `crate::LAYER` reference that runs back up, naming the file and the line.

use std::path::{Path, PathBuf};

/// Lowest first.
const LAYERS: [&str; 5] = ["core", "telemetry", "config", "runtime", "cli"];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every layer named right after `crate::` on a line (in `use` lists, paths, macros).
fn referenced(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: &str = after
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if rank(name).is_some() {
            out.push(name);
        }
        // `use crate::{core::X, telemetry::Y}`
        if let Some(list) = after.strip_prefix('{') {
            for part in list.split(['{', ',', '}']) {
                let head = part.trim().split("::").next().unwrap_or("");
                if rank(head).is_some() {
                    out.push(head);
                }
            }
        }
        rest = after;
    }
    out
}

#[test]
fn no_module_uses_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(own) = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .and_then(rank)
        else {
            continue; // lib.rs, main.rs
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for used in referenced(line) {
                if rank(used).unwrap() > own {
                    wrong.push(format!(
                        "src/{}:{}: a {} module uses {used}: {}",
                        rel.display(),
                        n + 1,
                        LAYERS[own],
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that run back up a layer (lowest first: {LAYERS:?}):\n{}",
        wrong.join("\n")
    );
    assert!(files.len() > 30, "read {} files", files.len());
}

#[test]
fn the_core_does_no_io() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    sources(&core, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for banned in [
                "tokio::",
                "reqwest",
                "std::fs",
                "std::net",
                "tracing::",
                "SystemTime",
            ] {
                if line.contains(banned) && !line.trim_start().starts_with("//") {
                    wrong.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "I/O in the core:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_a_wrong_import() {
    assert_eq!(
        referenced("use crate::runtime::store::Durable;"),
        ["runtime"]
    );
    assert_eq!(
        referenced("use crate::{core::Phase, telemetry::Metrics};"),
        ["core", "telemetry"]
    );
    assert!(referenced("use crate::core::labels::labels;").contains(&"core"));
    assert!(referenced("use super::decide::Decided;").is_empty());
}

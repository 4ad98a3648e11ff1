//! No upward import: the modules the reconciler, the API and the server are
//! built from (`launcher`, `cluster`, `store`, `repl`, `config`, `records`)
//! never name `crate::reconcile`, `crate::api` or `crate::server`, in code or
//! in their unit tests. Shared helpers (the work queue, `error_chain`,
//! `random_token`) live at the crate's root, under nothing.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

const LOWER: &[&str] = &["launcher", "cluster", "store", "repl", "config", "records"];
const UPPER: &[&str] = &["reconcile", "api", "server"];

/// Every `.rs` file of module `name`: `src/name.rs` and `src/name/**`.
fn files_of(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The upward paths one line of code names (comments aside).
fn upward(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    UPPER
        .iter()
        .filter(|m| {
            // `crate::m::…`, `crate::m;` and `crate::{…, m…}` groups alike.
            let direct = code.contains(&format!("crate::{m}::"))
                || code.contains(&format!("crate::{m};"))
                || code.contains(&format!("crate::{m} "));
            let grouped = code.split("crate::{").skip(1).any(|group| {
                group
                    .split(['}', ',', ' '])
                    .any(|item| item == **m || item.starts_with(&format!("{m}::")))
            });
            direct || grouped
        })
        .map(|m| format!("crate::{m}"))
        .collect()
}

#[test]
fn the_scan_sees_each_form_of_import() {
    assert_eq!(upward("use crate::reconcile::Wake;"), ["crate::reconcile"]);
    assert_eq!(upward("    crate::api::x(1)"), ["crate::api"]);
    assert_eq!(
        upward("use crate::{index::Key, server::serve};"),
        ["crate::server"]
    );
    assert!(upward("// see crate::reconcile::Wake").is_empty());
    assert!(upward("use crate::queue::Wake;").is_empty());
    assert!(upward("use kube::api::Api;").is_empty());
}

#[test]
fn lower_modules_import_nothing_from_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for module in LOWER {
        let files = files_of(&src, module);
        assert!(!files.is_empty(), "no files for module {module}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for path in upward(line) {
                    let rel = file.strip_prefix(&src).unwrap().display().to_string();
                    found.push(format!("src/{rel}:{}: {path}", n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

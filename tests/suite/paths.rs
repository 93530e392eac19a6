//! Every path of this repository named in its code comments, docs and scripts exists: a file
//! moved or renamed leaves no comment or page pointing at where it used to be.

use std::fs;
use std::path::{Path, PathBuf};

/// The folders a path of ours starts with; a path under one of them is checked.
const TOP: [&str; 10] =
    ["src/", "tests/", "bench/", "docs/", "scripts/", "configs/", "formats/", "fuzz/", "assets/", ".ci/"];
/// What is built, fetched or written here rather than kept.
const SKIP: [&str; 6] = ["data", "artifacts", "lecture", ".git", "corpus", "golden"];

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            if !SKIP.contains(&name.as_str()) && !name.starts_with("target") && name != "__pycache__" {
                text_files(&path, out);
            }
        } else if [".rs", ".md", ".py", ".sh", ".toml", ".yml", ".html"].iter().any(|e| name.ends_with(e))
            || name == "run"
        {
            out.push(path);
        }
    }
}

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/".contains(c)
}

/// The paths of ours that `text` names: each from one of [`TOP`] (or `../` before it), cut at
/// the first character no path of ours has; placeholders (`NAME.rs`, `DIR/`) left out.
fn named_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for top in TOP {
        for (at, _) in text.match_indices(top) {
            let mut start = at;
            while text[..start].ends_with("../") {
                start -= 3;
            }
            if text[..start].chars().next_back().is_some_and(path_char) {
                continue;
            }
            let len = text[at..].find(|c: char| !path_char(c)).unwrap_or(text.len() - at);
            let path = text[start..at + len].trim_end_matches('.');
            // A placeholder (`NAME.rs`, `DIR/`) or a build's output (`fuzz/target`) is no path to keep.
            let placeholder = path.split('/').any(|part| {
                let stem = part.split('.').next().unwrap_or("");
                part.starts_with("target") || stem.len() > 1 && stem.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
            if !placeholder {
                found.push(path.to_string());
            }
        }
    }
    found
}

#[test]
fn every_path_named_in_comments_and_docs_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("Cargo.toml")];
    for top in TOP {
        text_files(&root.join(top), &mut files);
    }
    let mut missing = Vec::new();
    // This file's own examples are not paths.
    files.retain(|f| !f.ends_with("tests/suite/paths.rs"));
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for path in named_paths(&text) {
            let here = file.parent().unwrap().join(&path);
            if !root.join(&path).exists() && !here.exists() {
                missing.push(format!("{}: {path}", file.strip_prefix(root).unwrap().display()));
            }
        }
    }
    assert!(missing.is_empty(), "paths named that do not exist:\n{}", missing.join("\n"));
}

#[test]
fn the_scanner_finds_paths_and_skips_placeholders_and_other_projects() {
    let text = "see src/model/mlp.rs, [x](../docs/reuse.md). keras/src/optimizers/adam.py src/cli/NAME.rs \
                `tests/suite/` gpu-kit/bench/gpu.sh fuzz/target DIR/plan.json";
    assert_eq!(named_paths(text), ["src/model/mlp.rs", "tests/suite/", "../docs/reuse.md"]);
}

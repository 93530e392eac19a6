//! Embed every `configs/*.toml` as a named preset, so the binary finds presets from any directory
//! and a new preset needs no code change.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=configs");
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("configs");
    let mut names: Vec<_> = fs::read_dir(&dir)
        .expect("configs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort_by_key(|p| p.file_stem().map(|s| s.to_owned()));
    let mut out = String::from("pub const PRESETS: &[(&str, &str)] = &[\n");
    for path in names {
        println!("cargo:rerun-if-changed={}", path.display());
        let stem = path.file_stem().unwrap().to_string_lossy();
        out.push_str(&format!("    ({stem:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("presets.rs"), out).unwrap();
}

//! Embeds the interactive driver's sources (src/repl/driver/*.scala, *.py)
//! into the binary, so a session can be started with nothing but the binary
//! and a Spark installation.

use std::io::Write;
use std::path::Path;

fn main() {
    let dir = Path::new("src/repl/driver");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("scala" | "py")));
    files.sort();
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("driver_sources.rs");
    let mut f = std::fs::File::create(&out).expect("OUT_DIR is writable");
    writeln!(f, "/// (file name, contents) of every driver source file.").unwrap();
    writeln!(f, "pub const DRIVER_SOURCES: &[(&str, &str)] = &[").unwrap();
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = std::fs::canonicalize(&p).expect("source file exists");
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        writeln!(
            f,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    writeln!(f, "];").unwrap();
}

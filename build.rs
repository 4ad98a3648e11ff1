//! Embeds the interactive driver's sources (src/repl/driver/*.scala, *.py,
//! *.R, the Scala-version shims in src/repl/driver/scala-2.1x/ and the
//! project's SparkR package in src/repl/driver/r/) into the binary, so a
//! session can be started with nothing but the binary and a Spark installation.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let dir = Path::new("src/repl/driver");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        println!("cargo:rerun-if-changed={}", d.display());
        for p in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
        {
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("scala" | "py" | "R")
            ) || matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("DESCRIPTION" | "NAMESPACE")
            ) {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut code = String::from(
        "/// (file name, contents) of every driver source file.\npub const DRIVER_SOURCES: &[(&str, &str)] = &[\n",
    );
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = std::fs::canonicalize(&p).expect("a listed source file exists");
        // Relative to the driver dir: `Session.scala`, `scala-2.12/ReplCompat.scala`,
        // `r/SparkR/R/backend.R`.
        let name = p
            .strip_prefix(dir)
            .ok()
            .and_then(|n| n.to_str())
            .expect("driver file names are UTF-8");
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("driver_sources.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}

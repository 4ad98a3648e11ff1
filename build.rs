//! Embeds the interactive driver's sources (src/repl/driver/*.scala, *.py,
//! and the Scala-version shims in src/repl/driver/scala-2.1x/) into the
//! binary, so a session can be started with nothing but the binary and a Spark
//! installation.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let dir = Path::new("src/repl/driver");
    println!("cargo:rerun-if-changed={}", dir.display());
    let list = |d: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut files = list(dir);
    for sub in files.clone().iter().filter(|p| p.is_dir()) {
        println!("cargo:rerun-if-changed={}", sub.display());
        files.extend(list(sub));
    }
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("scala" | "py")));
    files.sort();
    let mut code = String::from(
        "/// (file name, contents) of every driver source file.\npub const DRIVER_SOURCES: &[(&str, &str)] = &[\n",
    );
    for p in files {
        println!("cargo:rerun-if-changed={}", p.display());
        let abs = std::fs::canonicalize(&p).expect("a listed source file exists");
        // Relative to the driver dir: `Session.scala`, `scala-2.12/ReplCompat.scala`.
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

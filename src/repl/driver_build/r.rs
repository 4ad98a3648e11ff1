//! The R side of the driver build: the project's SparkR package installed
//! into `R/lib`, the R REPL script, the `spark.r.command` wrapper and the
//! `sparkr` archive.

use std::path::Path;

use crate::launcher::child_signals;

use super::{
    BuildError, DRIVER_SOURCES, R_FILE, R_PACKAGE, RArtifacts, fresh_scratch, pack, publish,
    run_tool, write_error,
};

/// The R side, in `<dir>/R/` (built once; a scratch dir renamed into place).
pub(super) fn build_r(dir: &Path, r: &Path) -> Result<RArtifacts, BuildError> {
    let root = dir.join("R");
    let artifacts = RArtifacts {
        repl: root.join(R_FILE),
        lib: root.join("lib"),
        rscript: root.join("livy-rscript"),
        archive: root.join("sparkr.zip"),
    };
    if artifacts.archive.exists() {
        return Ok(artifacts);
    }
    let scratch = fresh_scratch(dir, "R-build");
    let write_err = write_error(&scratch);
    let (src, lib) = (scratch.join("src"), scratch.join("lib"));
    std::fs::create_dir_all(&lib).map_err(write_err)?;
    for (name, text) in DRIVER_SOURCES {
        if let Some(rel) = name.strip_prefix("r/") {
            let target = src.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write_err)?;
            }
            std::fs::write(&target, text).map_err(write_err)?;
        } else if *name == R_FILE {
            std::fs::write(scratch.join(R_FILE), text).map_err(write_err)?;
        }
    }
    run_tool(
        child_signals::command(r)
            .args([
                "CMD",
                "INSTALL",
                "--no-docs",
                "--no-multiarch",
                "--no-test-load",
            ])
            .arg(format!("--library={}", lib.display()))
            .arg(src.join(R_PACKAGE.trim_start_matches("r/").trim_end_matches('/'))),
        "R CMD INSTALL",
        |output| BuildError::RInstall { output },
    )?;
    // Spark's RRunner runs `<spark.r.command> --vanilla <its R lib>/SparkR/worker/<script>`
    // on executors; the user's Spark has no such dir, so this wrapper runs our copy of that
    // script. Anything else (an R batch's own script, which RRunner also starts with
    // spark.r.command) runs unchanged.
    let wrapper = format!(
        r#"#!/bin/sh
# spark.r.command for livy-server applications (see src/repl/driver_build/r.rs).
for last; do :; done
case "$(basename "$last")" in
  daemon.R|worker.R) exec "${{LIVY_RSCRIPT:-Rscript}}" --vanilla "{lib}/SparkR/worker/$(basename "$last")" ;;
  *) exec "${{LIVY_RSCRIPT:-Rscript}}" "$@" ;;
esac
"#,
        lib = artifacts.lib.display()
    );
    let wrapper_path = scratch.join("livy-rscript");
    std::fs::write(&wrapper_path, wrapper).map_err(write_err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper_path, std::fs::Permissions::from_mode(0o755))
            .map_err(write_err)?;
    }
    pack("cfM", &scratch.join("sparkr.zip"), &lib, "SparkR")?;
    let _ = std::fs::remove_dir_all(&src);
    publish(&scratch, &root, &artifacts.archive)?;
    Ok(artifacts)
}

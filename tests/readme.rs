//! The README's configuration table is what `livy-server config-keys` prints,
//! and its CLI help is what `livy` prints, so the documentation cannot drift
//! from the keys the server reads or the flags the CLI takes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[test]
fn readme_documents_every_configuration_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livy-server"))
        .arg("config-keys")
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let missing: Vec<&str> = table.lines().filter(|l| !readme.contains(l)).collect();
    assert!(
        missing.is_empty(),
        "README.md lacks these rows of `livy-server config-keys`:\n{}",
        missing.join("\n")
    );
}

/// The README shows `livy --help`, `livy batch submit --help` and `livy
/// session shell --help` exactly as the CLI prints them.
#[test]
fn readme_shows_the_cli_help_as_printed() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for args in [
        &["--help"][..],
        &["batch", "submit", "--help"],
        &["session", "shell", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_livy"))
            .args(args)
            .env_remove("LIVY_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "livy {args:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        let shown = format!("$ livy {}\n{}", args.join(" "), help.trim_end());
        assert!(
            readme.contains(&shown),
            "README.md does not show `livy {}` as printed:\n{shown}",
            args.join(" ")
        );
    }
}

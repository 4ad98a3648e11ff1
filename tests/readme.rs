//! The README's configuration table is what `livy-server config-keys` prints,
//! so the documentation cannot drift from the keys the server reads.

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

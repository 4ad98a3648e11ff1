use super::*;

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    /// A small host tree: `opt/spark` (shown), `data/` (hidden) with the
    /// driver cache and two applications, a users file inside a shown dir.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "opt/spark/bin",
            "data/driver",
            "data/apps/a",
            "data/apps/b",
            "conf",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("conf/users"), "alice:hash").unwrap();
        std::os::unix::fs::symlink("opt/spark", dir.path().join("spark")).unwrap();
        Self { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        match rel {
            "" => self.dir.path().to_path_buf(),
            _ => self.dir.path().join(rel),
        }
    }

    fn sandbox(&self, shown: &[&str], hidden: &[&str], drop_caps: bool) -> Sandbox {
        Sandbox::new(SandboxSettings {
            bwrap: "/usr/bin/bwrap".into(),
            shown: shown.iter().map(|s| self.p(s)).collect(),
            hidden: hidden.iter().map(|s| self.p(s)).collect(),
            reshown: vec![self.p("data/driver")],
            writable: vec![],
            env_allow: vec!["PATH".into(), "LC_*".into()],
            drop_caps,
        })
    }
}

/// The pairs of arguments following each occurrence of `flag`.
fn after(argv: &[String], flag: &str) -> Vec<(String, String)> {
    argv.windows(3)
        .filter(|w| w[0] == flag)
        .map(|w| (w[1].clone(), w[2].clone()))
        .collect()
}

fn s(p: PathBuf) -> String {
    p.display().to_string()
}

#[test]
fn only_the_app_dir_is_writable_and_the_command_comes_last() {
    let h = Host::new();
    let argv = h.sandbox(&["opt"], &[], false).command(
        &h.p("data/apps/a"),
        &["spark-submit".into(), "--version".into()],
    );
    assert_eq!(argv[0], "/usr/bin/bwrap");
    assert_eq!(
        after(&argv, "--bind"),
        [(s(h.p("data/apps/a")), s(h.p("data/apps/a")))]
    );
    let dd = argv.iter().position(|a| a == "--").unwrap();
    assert_eq!(&argv[dd + 1..], ["spark-submit", "--version"]);
    assert_eq!(
        argv[dd - 2..dd],
        ["--chdir".to_owned(), s(h.p("data/apps/a"))]
    );
    for flag in ["--unshare-pid", "--unshare-ipc"] {
        assert!(argv[..dd].contains(&flag.to_owned()), "{flag}: {argv:?}");
    }
    assert!(!argv.contains(&"--cap-drop".to_owned()), "{argv:?}");
}

#[test]
fn a_root_server_drops_every_capability() {
    let h = Host::new();
    let argv = h
        .sandbox(&["opt"], &[], true)
        .command(&h.p("data/apps/a"), &[]);
    assert_eq!(after(&argv, "--cap-drop").len(), 1);
    assert!(
        argv.windows(2)
            .any(|w| w[0] == "--cap-drop" && w[1] == "ALL")
    );
}

#[test]
fn the_data_dir_and_secret_files_inside_shown_dirs_are_hidden() {
    let h = Host::new();
    let sb = h.sandbox(&[""], &["data", "conf/users", "missing"], false);
    let argv = sb.command(&h.p("data/apps/a"), &[]);
    let tmpfs: Vec<String> = argv
        .windows(2)
        .filter(|w| w[0] == "--tmpfs")
        .map(|w| w[1].clone())
        .collect();
    assert!(tmpfs.contains(&s(h.p("data"))), "{argv:?}");
    let nulled: Vec<String> = after(&argv, "--ro-bind")
        .into_iter()
        .filter(|(src, _)| src == "/dev/null")
        .map(|(_, dst)| dst)
        .collect();
    assert_eq!(nulled, [s(h.p("conf/users"))], "{argv:?}");
    // The hiding comes after the binds it hides in, the app dir after it.
    let pos = |flag: &str, v: String| {
        argv.windows(2)
            .position(|w| w[0] == flag && w[1] == v)
            .unwrap()
    };
    assert!(pos("--ro-bind", s(h.p(""))) < pos("--tmpfs", s(h.p("data"))));
    assert!(pos("--tmpfs", s(h.p("data"))) < pos("--bind", s(h.p("data/apps/a"))));
    // The driver cache is shown again, read-only; the other app is not.
    assert!(after(&argv, "--ro-bind").contains(&(s(h.p("data/driver")), s(h.p("data/driver")))));
    assert!(!argv.iter().any(|a| a.ends_with("apps/b")), "{argv:?}");
}

#[test]
fn hidden_paths_outside_every_shown_dir_need_no_mount() {
    let h = Host::new();
    let argv = h
        .sandbox(&["opt"], &["data", "conf/users"], false)
        .command(&h.p("data/apps/a"), &[]);
    assert!(!argv.iter().any(|a| a == &s(h.p("conf/users"))), "{argv:?}");
    assert!(
        !argv
            .windows(2)
            .any(|w| w[0] == "--tmpfs" && w[1] == s(h.p("data")))
    );
}

#[test]
fn a_shown_symlink_is_bound_from_its_target_and_nested_paths_once() {
    let h = Host::new();
    let argv = h
        .sandbox(&["spark", "spark/bin", "nowhere"], &[], false)
        .command(&h.p("data/apps/a"), &[]);
    let binds = after(&argv, "--ro-bind");
    assert!(
        binds.contains(&(s(h.p("opt/spark")), s(h.p("spark")))),
        "{binds:?}"
    );
    assert!(!binds.iter().any(|(_, d)| d.ends_with("bin")), "{binds:?}");
    assert!(!argv.iter().any(|a| a.ends_with("nowhere")), "{argv:?}");
}

#[test]
fn a_symlink_into_a_shown_dir_stays_a_symlink() {
    let h = Host::new();
    let argv = h
        .sandbox(&["opt", "spark"], &[], false)
        .command(&h.p("data/apps/a"), &[]);
    assert_eq!(
        after(&argv, "--symlink"),
        [("opt/spark".to_owned(), s(h.p("spark")))]
    );
    assert!(after(&argv, "--ro-bind").contains(&(s(h.p("opt")), s(h.p("opt")))));
}

#[test]
fn the_environment_keeps_only_allowed_names_and_a_home_of_its_own() {
    let h = Host::new();
    let sb = h.sandbox(&[], &[], false);
    let server = [
        ("PATH", "/usr/bin"),
        ("LC_ALL", "C.UTF-8"),
        ("PGPASSWORD", "hunter2"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
        ("LIVY_SERVER_AUTH_SECRET", "y"),
        ("HOME", "/root"),
        ("TMPDIR", "/var/tmp"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let env = sb.with_server_env(server).environment(&h.p("data/apps/a"));
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["HOME", "LC_ALL", "PATH", "TMPDIR"]);
    assert!(env.contains(&("HOME".into(), s(h.p("data/apps/a")))));
    assert!(env.contains(&("TMPDIR".into(), "/tmp".into())));
}

#[test]
fn allow_entries_are_names_or_prefixes() {
    let allow = vec!["A".to_owned(), "B_*".to_owned()];
    for (name, want) in [
        ("A", true),
        ("AB", false),
        ("B_X", true),
        ("B", false),
        ("C", false),
    ] {
        assert_eq!(allowed(&allow, name), want, "{name}");
    }
}

#[test]
fn the_host_secrets_are_always_hidden() {
    let sb = Sandbox::new(SandboxSettings {
        bwrap: "bwrap".into(),
        shown: vec!["/etc".into()],
        ..Default::default()
    });
    let argv = sb.command(Path::new("/nonexistent-app"), &[]);
    if Path::new("/etc/shadow").exists() {
        assert!(
            after(&argv, "--ro-bind").contains(&("/dev/null".into(), "/etc/shadow".into())),
            "{argv:?}"
        );
    }
}

#[test]
fn writable_dirs_are_bound_read_write_before_secrets_are_hidden_in_them() {
    let h = Host::new();
    let mut sb = h.sandbox(&["opt"], &["data", "conf/users"], false);
    sb.settings.writable = vec![h.p("")];
    let argv = sb.command(&h.p("data/apps/a"), &[]);
    let pos = |flag: &str, v: String| {
        argv.windows(2)
            .position(|w| w[0] == flag && w[1] == v)
            .unwrap_or_else(|| panic!("no {flag} {v}: {argv:?}"))
    };
    assert!(pos("--bind", s(h.p(""))) < pos("--tmpfs", s(h.p("data"))));
    assert!(pos("--bind", s(h.p(""))) < pos("--ro-bind", "/dev/null".into()));
}

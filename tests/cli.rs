//! The `livy` CLI against the real server binary: help texts, errors,
//! config precedence (a stand-in Spark home, fast), and on real Spark (local
//! mode) batch submit --follow and the seed's pi examples typed into
//! `livy session shell` under a pseudo-terminal, with Ctrl-C and Ctrl-D.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use rexpect::process::WaitStatus;
use rexpect::session::{Options, PtySession};
use serde_json::Value;

const START: Duration = Duration::from_secs(300);

/// `livy` with a clean environment: no LIVY_* variables, config and data
/// dirs under `home` (so a developer's own config file is never read).
fn livy_cmd(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livy"));
    for var in ["LIVY_URL", "LIVY_USER", "LIVY_PASSWORD", "LIVY_CONFIG"] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("RUST_BACKTRACE", "1");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn livy(home: &Path, args: &[&str]) -> (i32, String, String) {
    run(livy_cmd(home).args(args))
}

/// A user mistake: exactly one line on stderr, no panic, the given code.
fn assert_one_line_error(out: &(i32, String, String), code: i32, needle: &str) {
    let (c, _, err) = out;
    assert_eq!(*c, code, "{out:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("livy: "), "{err:?}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

fn stand_in_server(dir: &Path, extra: &[String]) -> Server {
    let mut conf = vec![pki::stand_in_spark_home(dir)];
    conf.extend_from_slice(extra);
    Server::start(&dir.join("data"), &conf)
}

#[test]
fn help_names_every_subcommand_and_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, top, _) = livy(tmp.path(), &["--help"]);
    assert_eq!(code, 0);
    for word in [
        "sessions",
        "batches",
        "--url",
        "--user",
        "--password",
        "--config",
        "--json",
        "Exit codes",
    ] {
        assert!(top.contains(word), "{word:?} not in livy --help:\n{top}");
    }
    let cases: [(&[&str], &[&str]); 5] = [
        (&["sessions", "--help"], &["list", "show", "kill", "shell"]),
        (&["batches", "--help"], &["list", "show", "submit", "kill"]),
        (
            &["batch", "submit", "--help"],
            &["--follow", "--class", "--name", "--conf"],
        ),
        (
            &["session", "shell", "--help"],
            &["--kind", "--id", "--keep", "pyspark, spark, sql, sparkr"],
        ),
        (&["batch", "show", "--help"], &["--lines"]),
    ];
    for (args, words) in cases {
        let (code, text, err) = livy(tmp.path(), args);
        assert_eq!(code, 0, "{args:?}: {err}");
        for word in words {
            assert!(
                text.contains(word),
                "{word:?} not in livy {args:?}:\n{text}"
            );
        }
    }
    // A usage mistake is clap's exit code 2.
    let (code, _, err) = livy(tmp.path(), &["sessions", "frobnicate"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_bad_url_or_a_server_that_is_down_is_one_line_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let down = format!("http://127.0.0.1:{}", free_port());
    let out = livy(tmp.path(), &["--url", &down, "sessions", "list"]);
    assert_one_line_error(&out, 1, "cannot reach the Livy server at http://127.0.0.1:");
    assert!(out.2.contains("Connection refused"), "{}", out.2);
    for bad in ["localhost:8998", "ftp://h/", "not a url"] {
        let out = livy(tmp.path(), &["--url", bad, "batches", "list"]);
        assert_one_line_error(&out, 1, "invalid server URL");
    }
    // The environment is read too, and a broken config file is named.
    let out = run(livy_cmd(tmp.path())
        .env("LIVY_URL", &down)
        .args(["batches", "list"]));
    assert_one_line_error(&out, 1, "cannot reach");
    let conf = tmp.path().join("bad.toml");
    std::fs::write(&conf, "url = \n").unwrap();
    let out = livy(
        tmp.path(),
        &["--config", conf.to_str().unwrap(), "batches", "list"],
    );
    assert_one_line_error(&out, 1, "bad config file");
}

#[test]
fn unknown_ids_give_the_servers_404_message_and_empty_lists_print() {
    let tmp = tempfile::tempdir().unwrap();
    let server = stand_in_server(tmp.path(), &[]);
    let url = server.base.as_str();
    for args in [
        vec!["batches", "show", "7"],
        vec!["batch", "kill", "7"],
        vec!["session", "show", "7"],
        vec!["sessions", "kill", "7"],
    ] {
        let mut all = vec!["--url", url];
        all.extend(args.iter());
        let out = livy(tmp.path(), &all);
        assert_one_line_error(&out, 1, "Session '7' not found. (HTTP 404");
    }
    let out = livy(
        tmp.path(),
        &["--url", url, "sessions", "show", "no-such-name"],
    );
    assert_one_line_error(&out, 1, "not found");

    let (code, json, _) = livy(tmp.path(), &["--url", url, "--json", "sessions", "list"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["sessions"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    let (code, table, _) = livy(tmp.path(), &["--url", url, "batches", "list"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("state") && table.contains("0 of 0 shown"),
        "{table}"
    );
}

#[test]
fn flags_beat_the_environment_which_beats_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let users = tmp.path().join("users");
    users_file(&users, &["alice"]);
    let server = stand_in_server(
        tmp.path(),
        &[
            "livy.server.auth.type=basic".into(),
            format!("livy.server.auth.basic.users-file={}", users.display()),
            "livy.server.csrf-protection.enabled=true".into(),
        ],
    );
    let down = format!("http://127.0.0.1:{}", free_port());
    let home = tmp.path();
    // The default config file: the right URL and credentials.
    let default_conf = home.join("config/livy/config.toml");
    std::fs::create_dir_all(default_conf.parent().unwrap()).unwrap();
    std::fs::write(
        &default_conf,
        format!(
            "url = \"{}\"\nuser = \"alice\"\npassword = \"alice-password\"\n",
            server.base
        ),
    )
    .unwrap();
    // Readable by others, it works but is warned about (once, on stderr).
    let (code, out, err) = livy(home, &["--json", "sessions", "list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 0);
    assert!(
        err.contains("livy: warning: the config file")
            && err.contains("other users can read it (mode 644)")
            && !err.contains("alice-password"),
        "{err}"
    );
    chmod(&default_conf, 0o600);
    let (code, out, err) = livy(home, &["--json", "sessions", "list"]);
    assert_eq!(code, 0, "the config file alone works: {err}");
    assert!(err.is_empty(), "no warning once it is private: {err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 0);

    // The environment beats the file: a wrong password is refused...
    let wrong = || {
        let mut c = livy_cmd(home);
        c.env("LIVY_PASSWORD", "wrong");
        c
    };
    let out = run(wrong().args(["sessions", "list"]));
    assert_one_line_error(&out, 1, "HTTP 401");
    // ...and a flag beats the environment.
    let (code, _, err) = run(wrong().args(["--password", "alice-password", "sessions", "list"]));
    assert_eq!(code, 0, "{err}");
    // The same for the URL: env beats file, flag beats env.
    let out = run(livy_cmd(home)
        .env("LIVY_URL", &down)
        .args(["batches", "list"]));
    assert_one_line_error(&out, 1, "cannot reach");
    let (code, _, err) =
        run(livy_cmd(home)
            .env("LIVY_URL", &down)
            .args(["--url", &server.base, "batches", "list"]));
    assert_eq!(code, 0, "{err}");
    // --config replaces the default file; credentials missing → 401.
    let other = home.join("other.toml");
    std::fs::write(&other, format!("url = \"{}\"\n", server.base)).unwrap();
    let out = livy(
        home,
        &["--config", other.to_str().unwrap(), "batches", "list"],
    );
    assert_one_line_error(&out, 1, "HTTP 401");
    // Authenticated and with X-Requested-By (CSRF is on): a kill reaches the
    // server and gets its 404, not a CSRF or auth refusal.
    let out = livy(home, &["batch", "kill", "3"]);
    assert_one_line_error(&out, 1, "Session '3' not found.");
    let out = livy(
        home,
        &[
            "--config",
            home.join("none.toml").to_str().unwrap(),
            "batches",
            "list",
        ],
    );
    assert_one_line_error(&out, 1, "cannot read the config file");
}

/// `livy session shell` with piped input on the stand-in driver (which
/// answers each statement with its code): --keep leaves the session, --id
/// attaches to it and never deletes it; `sessions show` lists statements.
#[test]
fn shell_keeps_or_attaches_and_reads_piped_statements() {
    let tmp = tempfile::tempdir().unwrap();
    let home = common::fake_spark_home(tmp.path());
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
        ],
    );
    let shell = |args: &[&str], input: &str| {
        let out = run_with_input(
            livy_cmd(tmp.path())
                .args(["--url", &server.base, "session", "shell"])
                .args(args),
            input,
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = shell(
        &["--keep", "--kind", "spark", "--name", "kept"],
        "first_statement\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("first_statement"), "{out}");
    assert!(err.contains("session 0 kept"), "{err}");
    let (code, out, err) = shell(&["--id", "kept"], "second_statement\n");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("second_statement") && !err.contains("deleting"),
        "{err}"
    );
    let (code, show, _) = livy(tmp.path(), &["--url", &server.base, "session", "show", "0"]);
    assert_eq!(code, 0);
    assert!(
        show.contains("kept") && show.contains("spark") && show.contains("statements (2)"),
        "{show}"
    );
    assert!(
        show.contains("first_statement") && show.contains("second_statement"),
        "{show}"
    );
    let out = livy(
        tmp.path(),
        &["--url", &server.base, "session", "shell", "--id", "9"],
    );
    assert_one_line_error(&out, 1, "Session '9' not found.");
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A password in `--url` is never echoed: not by a bad URL, not by a
/// server that is down.
#[test]
fn a_password_in_the_url_is_never_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    let down = format!("http://alice:hunter2@127.0.0.1:{}/", free_port());
    let out = livy(tmp.path(), &["--url", &down, "sessions", "list"]);
    assert_one_line_error(
        &out,
        1,
        "cannot reach the Livy server at http://alice:***@127.0.0.1:",
    );
    for bad in [
        "ftp://alice:hunter2@h/",
        "alice:hunter2@h:1",
        "http://alice:hunter2@[::1",
    ] {
        let out = livy(tmp.path(), &["--url", bad, "batches", "list"]);
        assert_one_line_error(&out, 1, "invalid server URL");
        assert!(!out.2.contains("hunter2"), "{bad}: {}", out.2);
    }
    assert!(
        !out.1.contains("hunter2") && !out.2.contains("hunter2"),
        "{out:?}"
    );
}

/// What the server sends reaches the terminal without control characters
/// (the stand-in driver answers each statement with its code, escapes and
/// all), and a `%matplot`-style image is written into a fresh private
/// directory, never through a path planted beforehand.
#[test]
fn server_text_is_stripped_of_controls_and_images_go_to_a_private_dir() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let home = common::fake_spark_home(tmp.path());
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
        ],
    );
    let tmpdir = tmp.path().join("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    // The directory an older CLI used: a symlink to somewhere else.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, tmpdir.join("livy-session-0")).unwrap();
    let png = b"\x89PNG\r\n\x1a\nfake image bytes";
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png);
    // Brackets balanced, so the shell's multi-line check sends it at once.
    let input = format!("\x1b[31mshown\x1b]0;retitled\x07_red_\u{9b}2Jend\n%png {b64}\n");
    let out = run_with_input(
        livy_cmd(tmp.path()).env("TMPDIR", &tmpdir).args([
            "--url",
            &server.base,
            "session",
            "shell",
            "--kind",
            "spark",
        ]),
        &input,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("shown_red_end"), "{stdout:?} {stderr:?}");
    for text in [&stdout, &stderr] {
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "a control character reached the terminal: {text:?}"
        );
    }
    let saved = stdout
        .lines()
        .find_map(|l| l.strip_prefix("[image/png saved to ")?.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no image saved: {stdout}\n{stderr}"));
    let saved = Path::new(saved);
    assert_eq!(std::fs::read(saved).unwrap(), png);
    let dir = saved.parent().unwrap();
    assert_eq!(dir.parent().unwrap(), tmpdir, "{}", saved.display());
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("livy-session-0-"),
        "a fresh directory: {}",
        dir.display()
    );
    let meta = std::fs::symlink_metadata(dir).unwrap();
    assert!(meta.is_dir(), "a real directory, not a link");
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the planted link"
    );
}

#[path = "cli/spark.rs"]
mod spark;

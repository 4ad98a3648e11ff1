//! The CLI on real Spark (local mode): `batch submit --follow`, and the
//! seed's pi examples typed into `livy session shell` under a pty. Each
//! test holds the Spark slot and shares one session across its steps.

use super::*;

fn whitelist(dir: &Path) -> String {
    format!("livy.file.local-dir-whitelist={}", dir.display())
}

const FAILING_PY: &str = "raise RuntimeError('boom from the failing app')\n";

#[tokio::test]
async fn batch_submit_follow_streams_the_log_and_exits_by_the_final_state() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("pi.py"), PI_PY).unwrap();
    std::fs::write(apps.join("fail.py"), FAILING_PY).unwrap();
    let server = Server::start(&tmp.path().join("data"), &[whitelist(&apps)]);
    let url = server.base.as_str();
    let pi = apps.join("pi.py");
    let pi = pi.to_str().unwrap();

    let (code, out, err) = livy(
        tmp.path(),
        &[
            "--url", url, "batch", "submit", pi, "10", "--name", "pi", "--follow",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("batch 0 finished: success"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let pis: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("Pi is roughly 3."))
        .collect();
    assert_eq!(
        pis.len(),
        1,
        "the result once, no line printed twice:\n{out}"
    );
    assert!(lines.contains(&"ARGV [\"10\"]"), "{out}");
    // What was followed ends with the server's whole log window (the ring
    // buffer may have dropped older lines, never the follower).
    let full = full_log(&server.url("/batches/0")).await;
    let content = &full[1..full.len() - 1];
    assert!(
        lines.len() >= content.len() && lines[lines.len() - content.len()..] == *content,
        "followed output:\n{out}\nserver log:\n{}",
        content.join("\n")
    );

    // A failing app: non-zero exit with the final state said.
    let fail = apps.join("fail.py");
    let (code, out, err) = livy(
        tmp.path(),
        &[
            "--url",
            url,
            "batches",
            "submit",
            fail.to_str().unwrap(),
            "-f",
        ],
    );
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("batch 1 finished: dead"), "{err}");
    assert!(out.contains("boom from the failing app"), "{out}");

    // Without --follow: the id, or the JSON.
    let (code, out, _) = livy(tmp.path(), &["--url", url, "--json", "batch", "submit", pi]);
    assert_eq!(code, 0);
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(created["id"], 2);
    wait_state(&server.url("/batches/2"), &["success"], START).await;

    let (code, out, _) = livy(tmp.path(), &["--url", url, "--json", "batches", "list"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    let states: Vec<(u64, &str)> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_u64().unwrap(), b["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [(0, "success"), (1, "dead"), (2, "success")]);
    let (code, table, _) = livy(tmp.path(), &["--url", url, "batches", "list"]);
    assert_eq!(code, 0);
    let row = table
        .lines()
        .find(|l| l.contains(" pi "))
        .unwrap_or_else(|| panic!("no row for batch 0:\n{table}"));
    assert!(row.contains(" 0 ") && row.contains(" success "), "{row}");
    let (code, show, _) = livy(
        tmp.path(),
        &["--url", url, "batch", "show", "pi", "-n", "500"],
    );
    assert_eq!(code, 0);
    assert!(
        show.contains("success") && show.contains("Pi is roughly 3."),
        "{show}"
    );
    let (code, out, _) = livy(tmp.path(), &["--url", url, "batch", "kill", "1"]);
    assert_eq!((code, out.trim()), (0, "batch 1: deleted"));
}

/// `livy session shell` in a pty, as a user runs it.
struct Shell {
    pty: PtySession,
    id: u64,
    prompt: String,
    statements: usize,
}

impl Shell {
    fn start(server: &Server, home: &Path, kind: &str) -> Shell {
        let mut cmd = livy_cmd(home);
        cmd.env("TERM", "xterm")
            .args(["--url", &server.base, "session", "shell", "--kind", kind]);
        let opts = Options::new()
            .timeout_ms(Some(START.as_millis() as u64))
            .strip_ansi_escape_codes(true);
        let mut pty = rexpect::session::spawn_with_options(cmd, opts).unwrap();
        let (_, ready) = pty
            .exp_regex(&format!(r"session \d+ \({kind}\) is ready"))
            .unwrap();
        let id = ready
            .trim_start_matches("session ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let prompt = format!("{kind}> ");
        pty.exp_string(&prompt).unwrap();
        Shell {
            pty,
            id,
            prompt,
            statements: 0,
        }
    }

    /// Types `lines` (Enter after each), which make one statement, and
    /// waits until the server has run it; returns the statement.
    async fn input(&mut self, server: &Server, lines: &[&str]) -> Value {
        for line in lines {
            self.pty.send(&format!("{line}\r")).unwrap();
            self.pty.flush().unwrap();
        }
        self.statements += 1;
        let st = self.wait_statement(server, &["available"]).await;
        let want = lines.join("\n");
        assert_eq!(
            st["code"].as_str().unwrap(),
            want.trim_end(),
            "one statement: {st}"
        );
        st
    }

    /// The last statement, once its state is one of `want`.
    async fn wait_statement(&self, server: &Server, want: &[&str]) -> Value {
        let url = server.url(&format!("/sessions/{}/statements", self.id));
        let deadline = Instant::now() + START;
        loop {
            let (_, list) = get_json(&url).await;
            let all = list["statements"].as_array().cloned().unwrap_or_default();
            if all.len() > self.statements {
                panic!("more statements than inputs: {list}");
            }
            if let Some(st) = all.get(self.statements - 1)
                && want.contains(&st["state"].as_str().unwrap_or(""))
            {
                return st.clone();
            }
            assert!(Instant::now() < deadline, "never {want:?}: {list}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ctrl-D at the prompt: the shell deletes its session and exits 0.
    async fn exit(mut self, server: &Server) {
        self.pty.exp_string(&self.prompt).unwrap();
        self.pty.send_control('d').unwrap();
        self.pty
            .exp_string(&format!("deleting session {}", self.id))
            .unwrap();
        self.pty.exp_eof().unwrap();
        let status = self.pty.process().wait().unwrap();
        assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
        let (code, _) = get_json(&server.url(&format!("/sessions/{}", self.id))).await;
        assert_eq!(code, 404, "the shell deleted the session it created");
    }
}

fn session_conf() -> Vec<String> {
    vec!["livy.rsc.launcher.port.range=0~0".into()]
}

#[tokio::test]
async fn shell_runs_the_seed_python_pi_and_ctrl_c_cancels_a_running_statement() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &session_conf());
    let mut sh = Shell::start(&server, tmp.path(), "pyspark");

    sh.input(&server, &["import random"]).await;
    sh.input(&server, &["NUM_SAMPLES = 100000"]).await;
    // A block: the `:` line opens it, the blank line ends it.
    sh.input(
        &server,
        &[
            "def sample(p):",
            "    x, y = random.random(), random.random()",
            "    return 1 if x*x + y*y < 1 else 0",
            "",
        ],
    )
    .await;
    // A backslash continues the line (and stays: it is Python's).
    sh.input(
        &server,
        &[
            "count = sc.parallelize(range(0, NUM_SAMPLES)).map(sample) \\",
            "    .reduce(lambda a, b: a + b)",
        ],
    )
    .await;
    sh.input(
        &server,
        &["print(\"Pi is roughly %f\" % (4.0 * count / NUM_SAMPLES))"],
    )
    .await;
    sh.pty.exp_regex(r"Pi is roughly 3\.1\d+").unwrap();
    // An open bracket continues too.
    sh.input(&server, &["sorted([3,", " 1,", " 2])"]).await;
    sh.pty.exp_string("[1, 2, 3]").unwrap();
    // Errors: ename and evalue shown.
    sh.input(&server, &["1/0"]).await;
    sh.pty.exp_string("ZeroDivisionError").unwrap();

    // Ctrl-C while a long Spark job runs: cancelled on the server, and the
    // shell takes the next statement.
    let slow =
        "sc.parallelize(range(200), 100).map(lambda x: __import__('time').sleep(1) or x).count()";
    sh.pty.send(&format!("{slow}\r")).unwrap();
    sh.pty.flush().unwrap();
    sh.statements += 1;
    sh.wait_statement(&server, &["running"]).await;
    sh.pty.send_control('c').unwrap();
    let st = sh
        .wait_statement(&server, &["cancelling", "cancelled"])
        .await;
    assert_eq!(st["code"], slow);
    sh.pty.exp_string("cancelled").unwrap();
    sh.wait_statement(&server, &["cancelled"]).await;
    sh.input(&server, &["1 + 41"]).await;
    sh.pty.exp_string("42").unwrap();

    // Ctrl-C at the prompt clears the line: the half-typed text never runs.
    sh.pty.exp_string(&sh.prompt.clone()).unwrap();
    sh.pty.send("never_run_this").unwrap();
    sh.pty.flush().unwrap();
    sh.pty.send_control('c').unwrap();
    // Keys typed before the fresh prompt would be dropped (rustyline keeps
    // no read-ahead after an interrupt): type as a user would, after it.
    sh.pty.exp_string(&sh.prompt.clone()).unwrap();
    sh.input(&server, &["'after the cleared line'"]).await;
    sh.pty.exp_string("'after the cleared line'").unwrap();
    sh.exit(&server).await;

    let history = std::fs::read_to_string(tmp.path().join("data/livy/history")).unwrap();
    assert!(history.contains("NUM_SAMPLES = 100000"), "{history}");
}

#[tokio::test]
async fn shell_runs_the_seed_scala_pi() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &session_conf());
    let mut sh = Shell::start(&server, tmp.path(), "spark");
    sh.input(&server, &["val NUM_SAMPLES = 100000;"]).await;
    sh.input(
        &server,
        &[
            "val count = sc.parallelize(1 to NUM_SAMPLES).map { i =>",
            "val x = Math.random();",
            "val y = Math.random();",
            "if (x*x + y*y < 1) 1 else 0",
            "}.reduce(_ + _);",
        ],
    )
    .await;
    sh.pty.exp_string("count: Int = ").unwrap();
    sh.input(
        &server,
        &["println(\"Pi is roughly \" + 4.0 * count / NUM_SAMPLES)"],
    )
    .await;
    sh.pty.exp_regex(r"Pi is roughly 3\.1\d+").unwrap();
    sh.exit(&server).await;
}

#[tokio::test]
async fn shell_runs_the_seed_sparkr_pi() {
    let has_r = Command::new("Rscript").arg("--version").output().is_ok();
    if !has_r {
        // hack/setup.sh installs R; without it this test says so loudly.
        assert!(
            std::env::var_os("LIVY_TEST_ALLOW_NO_R").is_some(),
            "Rscript is not on PATH: install r-base-core (hack/setup.sh) or set LIVY_TEST_ALLOW_NO_R=1 to skip"
        );
        eprintln!("SKIPPED shell_runs_the_seed_sparkr_pi: Rscript is not on PATH");
        return;
    }
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &session_conf());
    let mut sh = Shell::start(&server, tmp.path(), "sparkr");
    sh.input(&server, &["slices <- 2"]).await;
    sh.input(&server, &["n <- 100000"]).await;
    sh.input(
        &server,
        &[
            "piFunc <- function(elem) {",
            "rands <- runif(n = 2, min = -1, max = 1)",
            "val <- ifelse((rands[1]^2 + rands[2]^2) < 1, 1.0, 0.0)",
            "val",
            "}",
        ],
    )
    .await;
    sh.input(
        &server,
        &[
            "piFuncVec <- function(elems) {",
            "message(length(elems))",
            "rands1 <- runif(n = length(elems), min = -1, max = 1)",
            "rands2 <- runif(n = length(elems), min = -1, max = 1)",
            "val <- ifelse((rands1^2 + rands2^2) < 1, 1.0, 0.0)",
            "sum(val)",
            "}",
        ],
    )
    .await;
    sh.input(&server, &["rdd <- parallelize(sc, 1:n, slices)"])
        .await;
    sh.input(
        &server,
        &["count <- reduce(lapplyPartition(rdd, piFuncVec), sum)"],
    )
    .await;
    sh.input(
        &server,
        &["cat(\"Pi is roughly\", 4.0 * count / n, \"\\n\")"],
    )
    .await;
    sh.pty.exp_regex(r"Pi is roughly 3\.1\d*").unwrap();
    sh.exit(&server).await;
}

//! `livy session shell`: create (or attach to) an interactive session, wait
//! for it with a spinner, then read statements with rustyline and run them,
//! a progress bar fed by the statement's `progress` while one runs.
//!
//! Keys: Ctrl-C at the prompt clears the line; Ctrl-C while a statement
//! runs cancels it and returns to the prompt; Ctrl-D exits and deletes the
//! session the shell created (unless `--keep`). A session it attached to is
//! never deleted.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};
use serde_json::{Value, json};

use crate::cli::{Kind, Shell};
use crate::client::Client;
use crate::multiline::{InputHelper, code_to_send};
use crate::{EXIT_INTERRUPTED, render};

const POLL: Duration = Duration::from_millis(200);
/// Session states after which no statement will ever run.
const GONE: [&str; 5] = ["shutting_down", "error", "dead", "killed", "success"];
/// How long to wait for a cancelled statement to settle before giving up
/// (the server forces `cancelled` after livy.rsc.job-cancel.timeout, 30 s).
const CANCEL_WAIT: Duration = Duration::from_secs(60);

/// The statement kind for a session's `kind` field.
fn kind_of(session_kind: &str) -> Kind {
    match session_kind {
        "spark" | "scala" => Kind::Spark,
        "sql" => Kind::Sql,
        "sparkr" | "r" => Kind::Sparkr,
        _ => Kind::Pyspark,
    }
}

/// `~/.local/share/livy/history` (or under `$XDG_DATA_HOME`).
fn history_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("livy").join("history"))
}

fn spinner(msg: String) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

pub fn run(client: &Client, args: &Shell) -> anyhow::Result<i32> {
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted))
        .context("cannot handle Ctrl-C")?;

    let (id, kind, created) = match &args.id {
        Some(id) => {
            let s = client.get(&["sessions", id], &[])?;
            let kind = args
                .kind
                .unwrap_or_else(|| kind_of(s["kind"].as_str().unwrap_or("")));
            (s["id"].to_string(), kind, false)
        }
        None => {
            let kind = args.kind.unwrap_or(Kind::Pyspark);
            let mut body = json!({ "kind": kind.as_str() });
            if let Some(n) = &args.name {
                body["name"] = n.clone().into();
            }
            if !args.conf.is_empty() {
                body["conf"] = args
                    .conf
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            let s = client.post(&["sessions"], &body)?;
            (s["id"].to_string(), kind, true)
        }
    };
    let cleanup = |code: i32| -> anyhow::Result<i32> {
        if created && !args.keep {
            eprintln!("livy: deleting session {id}");
            client.delete(&["sessions", &id])?;
        } else if created {
            eprintln!("livy: session {id} kept");
        }
        Ok(code)
    };

    match wait_ready(
        client,
        &id,
        Duration::from_secs(args.start_timeout),
        &interrupted,
    ) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("livy: interrupted");
            return cleanup(EXIT_INTERRUPTED);
        }
        Err(e) => {
            eprintln!("livy: {e:#}");
            return cleanup(1);
        }
    }
    eprintln!(
        "livy: session {id} ({}) is ready. Ctrl-C cancels a running statement, Ctrl-D exits.",
        kind.as_str()
    );
    let code = repl(client, &id, kind, &interrupted)?;
    cleanup(code)
}

/// Until the session can take statements (`idle`, or `busy` for one that is
/// attached to). `Ok(false)` when Ctrl-C was pressed.
fn wait_ready(
    client: &Client,
    id: &str,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> anyhow::Result<bool> {
    let pb = spinner(format!("session {id} starting"));
    let deadline = Instant::now() + timeout;
    loop {
        if interrupted.swap(false, Ordering::SeqCst) {
            pb.finish_and_clear();
            return Ok(false);
        }
        let s = client.get(&["sessions", id], &[])?;
        let state = s["state"].as_str().unwrap_or("");
        pb.set_message(format!("session {id} {state}"));
        if matches!(state, "idle" | "busy") {
            pb.finish_and_clear();
            return Ok(true);
        }
        if GONE.contains(&state) {
            pb.finish_and_clear();
            let log: Vec<&str> = s["log"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            bail!(
                "session {id} is {state}; its last log lines:\n{}",
                log.join("\n")
            );
        }
        if Instant::now() > deadline {
            pb.finish_and_clear();
            bail!(
                "session {id} is still {state} after {} s (--start-timeout)",
                timeout.as_secs()
            );
        }
        std::thread::sleep(POLL);
    }
}

fn repl(client: &Client, id: &str, kind: Kind, interrupted: &AtomicBool) -> anyhow::Result<i32> {
    let config = Config::builder().auto_add_history(false).build();
    let mut rl: Editor<InputHelper, DefaultHistory> =
        Editor::with_config(config).context("cannot set up line editing")?;
    rl.set_helper(Some(InputHelper { kind }));
    let history = history_path();
    if let Some(h) = &history {
        // A missing history file is the first run, not an error.
        let _ = rl.load_history(h);
    }
    let prompt = format!("{}> ", kind.as_str());
    let images = render::ImageDir::new(std::env::temp_dir(), format!("livy-session-{id}"));
    let mut code = 0;
    loop {
        interrupted.store(false, Ordering::SeqCst);
        let input = match rl.readline(&prompt) {
            Ok(input) => input,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e).context("cannot read input"),
        };
        if input.trim().is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(input.as_str());
        if let Some(h) = &history {
            let _ = std::fs::create_dir_all(h.parent().unwrap_or(h));
            let _ = rl.append_history(h);
        }
        match run_statement(
            client,
            id,
            kind,
            &code_to_send(kind, &input),
            interrupted,
            &images,
        ) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("livy: {e:#}");
                let state = client
                    .get(&["sessions", id], &[])
                    .map(|s| s["state"].clone());
                if let Ok(Value::String(s)) = &state
                    && GONE.contains(&s.as_str())
                {
                    eprintln!("livy: session {id} is {s}; leaving the shell");
                    code = 1;
                    break;
                }
            }
        }
    }
    Ok(code)
}

fn progress_bar() -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {percent}% [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message("running");
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

fn run_statement(
    client: &Client,
    id: &str,
    kind: Kind,
    code: &str,
    interrupted: &AtomicBool,
    images: &render::ImageDir,
) -> anyhow::Result<()> {
    let st = client.post(
        &["sessions", id, "statements"],
        &json!({ "code": code, "kind": kind.as_str() }),
    )?;
    let sid = st["id"].to_string();
    let path = ["sessions", id, "statements", &sid];
    let pb = progress_bar();
    let mut cancel_deadline: Option<Instant> = None;
    loop {
        if interrupted.swap(false, Ordering::SeqCst) {
            if cancel_deadline.is_some() {
                // A second Ctrl-C: stop waiting for the cancel to settle.
                pb.finish_and_clear();
                eprintln!("livy: statement {sid} is still cancelling; back to the prompt");
                return Ok(());
            }
            client.post(&["sessions", id, "statements", &sid, "cancel"], &json!({}))?;
            pb.set_message("cancelling");
            cancel_deadline = Some(Instant::now() + CANCEL_WAIT);
        }
        let st = client.get(&path, &[])?;
        let state = st["state"].as_str().unwrap_or("");
        let progress = st["progress"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0);
        pb.set_position((progress * 1000.0) as u64);
        if cancel_deadline.is_none() {
            pb.set_message(state.to_owned());
        }
        match state {
            "available" => {
                pb.finish_and_clear();
                render::print_output(&st, images);
                return Ok(());
            }
            "cancelled" => {
                pb.finish_and_clear();
                eprintln!("livy: statement {sid} cancelled");
                return Ok(());
            }
            _ => {}
        }
        if cancel_deadline.is_some_and(|d| Instant::now() > d) {
            pb.finish_and_clear();
            eprintln!("livy: statement {sid} is still {state}; back to the prompt");
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_kinds_from_session_kinds() {
        assert_eq!(kind_of("spark"), Kind::Spark);
        assert_eq!(kind_of("sparkr"), Kind::Sparkr);
        assert_eq!(kind_of("sql"), Kind::Sql);
        assert_eq!(kind_of("shared"), Kind::Pyspark);
        assert_eq!(kind_of("pyspark"), Kind::Pyspark);
    }
}

//! Following a batch's log: page through `GET /batches/{id}/log?from&size`
//! and print only lines not printed before, until the batch is final.
//!
//! The server's log is Livy's framing (`stdout: `, lines, `\nstderr: `) of a
//! ring buffer of the last `livy.cache-log.size` lines, so indexes shift once
//! the buffer is full. The follower re-reads the last line it printed with
//! each page; when that line is no longer where it was, it reads the whole
//! window and resumes after the longest overlap with what it printed.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::client::{Client, Error};

const PAGE: usize = 100;
/// How many printed lines are remembered to find the overlap after a shift.
const REMEMBERED: usize = 1000;
const POLL: Duration = Duration::from_millis(500);

/// Livy's final batch states.
pub const FINAL: [&str; 4] = ["success", "dead", "killed", "error"];

const HEAD: &str = "stdout: ";
const STDERR: &str = "\nstderr: ";

/// The log's content lines: Livy's framing lines dropped.
fn content(lines: &[String], from: usize, total: usize) -> Vec<String> {
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            let at = from + i;
            !((at == 0 && l.as_str() == HEAD) || (at + 1 == total && l.as_str() == STDERR))
        })
        .map(|(_, l)| l.clone())
        .collect()
}

/// The lines of `window` after its longest prefix that is a suffix of
/// `printed` (what was printed before), i.e. the new ones.
pub fn after_overlap<'a>(printed: &VecDeque<String>, window: &'a [String]) -> &'a [String] {
    let most = printed.len().min(window.len());
    for k in (1..=most).rev() {
        let tail = printed.range(printed.len() - k..);
        if tail.eq(window[..k].iter()) {
            return &window[k..];
        }
    }
    window
}

/// Prints a batch's new log lines as they come.
pub struct Follower<'c> {
    client: &'c Client,
    id: String,
    /// Index in the framed log of the next line to print.
    next: usize,
    printed: VecDeque<String>,
}

impl<'c> Follower<'c> {
    pub fn new(client: &'c Client, id: String) -> Self {
        Follower {
            client,
            id,
            next: 1,
            printed: VecDeque::new(),
        }
    }

    fn page(&self, from: usize, size: i64) -> Result<(Vec<String>, usize, usize), Error> {
        let v = self.client.get(
            &["batches", &self.id, "log"],
            &[("from", from.to_string()), ("size", size.to_string())],
        )?;
        let lines = v["log"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| l.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let total = v["total"].as_u64().unwrap_or(0) as usize;
        let from = v["from"].as_u64().unwrap_or(from as u64) as usize;
        Ok((lines, from, total))
    }

    fn emit(&mut self, lines: Vec<String>, out: &mut impl Write) {
        for l in lines {
            let _ = writeln!(out, "{l}");
            self.printed.push_back(l);
            if self.printed.len() > REMEMBERED {
                self.printed.pop_front();
            }
        }
        let _ = out.flush();
    }

    /// Prints every line that is new since the last call.
    pub fn drain(&mut self, out: &mut impl Write) -> Result<(), Error> {
        loop {
            // One line of overlap: the last one printed, to notice a shift.
            let anchor = if self.printed.is_empty() {
                self.next
            } else {
                self.next - 1
            };
            let (lines, from, total) = self.page(anchor, PAGE as i64)?;
            if let Some(last) = self.printed.back()
                && (from != anchor || lines.first() != Some(last))
            {
                return self.resync(out);
            }
            let skip = usize::from(!self.printed.is_empty());
            let fresh = content(&lines[skip.min(lines.len())..], from + skip, total);
            let got = lines.len().saturating_sub(skip);
            // The trailing `\nstderr: ` frame moves; never step over it.
            self.next = (from + skip + got).min(total.saturating_sub(1)).max(1);
            self.emit(fresh, out);
            if from + lines.len() >= total {
                return Ok(());
            }
        }
    }

    fn resync(&mut self, out: &mut impl Write) -> Result<(), Error> {
        let (lines, from, total) = self.page(0, -1)?;
        let all = content(&lines, from, total);
        let fresh = after_overlap(&self.printed, &all).to_vec();
        self.next = total.saturating_sub(1).max(1);
        self.emit(fresh, out);
        Ok(())
    }
}

/// Follows until the batch is final; returns the final state.
pub fn follow(client: &Client, id: &str, out: &mut impl Write) -> Result<String, Error> {
    let mut f = Follower::new(client, id.to_owned());
    loop {
        // State first: a final state read before the log means the log read
        // after it is complete.
        let state = client.get(&["batches", id, "state"], &[])?;
        let state = state["state"].as_str().unwrap_or("").to_owned();
        f.drain(out)?;
        if FINAL.contains(&state.as_str()) {
            return Ok(state);
        }
        std::thread::sleep(POLL);
    }
}

/// The exit code for a followed batch's final state.
pub fn exit_code(state: &str) -> i32 {
    if state == "success" {
        0
    } else {
        crate::EXIT_BATCH_FAILED
    }
}

/// `POST /batches` body from the submit flags.
pub fn batch_body(s: &crate::cli::Submit) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("file".into(), s.file.clone().into());
    if !s.args.is_empty() {
        body.insert("args".into(), s.args.clone().into());
    }
    let opt = |v: &Option<String>| v.clone().map(Value::from);
    for (k, v) in [
        ("className", opt(&s.class)),
        ("name", opt(&s.name)),
        ("proxyUser", opt(&s.proxy_user)),
        ("queue", opt(&s.queue)),
        ("driverMemory", opt(&s.driver_memory)),
        ("executorMemory", opt(&s.executor_memory)),
        ("numExecutors", s.num_executors.map(Value::from)),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), v);
        }
    }
    for (k, v) in [
        ("pyFiles", &s.py_files),
        ("jars", &s.jars),
        ("files", &s.files),
    ] {
        if !v.is_empty() {
            body.insert(k.into(), v.clone().into());
        }
    }
    if !s.conf.is_empty() {
        let conf: serde_json::Map<String, Value> = s
            .conf
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        body.insert("conf".into(), conf.into());
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn framing_lines_are_not_content() {
        let lines = v(&["stdout: ", "a", "b", "\nstderr: "]);
        assert_eq!(content(&lines, 0, 4), v(&["a", "b"]));
        assert_eq!(content(&lines[1..3], 1, 4), v(&["a", "b"]));
        // "\nstderr: " only frames when it is the last line.
        assert_eq!(content(&v(&["\nstderr: "]), 2, 5), v(&["\nstderr: "]));
    }

    #[test]
    fn overlap_after_the_ring_buffer_shifted() {
        let printed: VecDeque<String> = v(&["1", "2", "3", "4"]).into();
        assert_eq!(
            after_overlap(&printed, &v(&["3", "4", "5"])),
            v(&["5"]).as_slice()
        );
        assert_eq!(after_overlap(&printed, &v(&["3", "4"])), &[] as &[String]);
        assert_eq!(
            after_overlap(&printed, &v(&["7", "8"])),
            v(&["7", "8"]).as_slice()
        );
        assert_eq!(
            after_overlap(&VecDeque::new(), &v(&["1"])),
            v(&["1"]).as_slice()
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code("success"), 0);
        for s in ["dead", "killed", "error"] {
            assert_eq!(exit_code(s), crate::EXIT_BATCH_FAILED);
        }
    }
}

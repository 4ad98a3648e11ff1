//! Just enough of `/proc` to tell a live process from a dead one or a reused
//! PID (by its start time), and to find every descendant of a process.

use std::collections::HashMap;

/// `(state, ppid, start time in clock ticks since boot)` of a process, or
/// `None` if it does not exist.
pub fn stat(pid: u32) -> Option<(char, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/<pid>/stat`. The command name may hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<(char, u32, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); ppid is field 4; starttime is field 22.
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, ppid, start))
}

/// True if `pid` runs and is the process that started at `start_time`
/// (a zombie or a recycled PID is not).
pub fn is_alive(pid: u32, start_time: u64) -> bool {
    matches!(stat(pid), Some((state, _, start)) if start == start_time && state != 'Z' && state != 'X')
}

/// Every live descendant of `root` (children, grandchildren, …), found by
/// walking parent links; processes that left the process group are included.
pub fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((_, ppid, _)) = stat(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            out.push(c);
            stack.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let line =
            "4242 (java (x) y) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 30 0 987654 1 2 3";
        assert_eq!(parse_stat(line), Some(('S', 17, 987654)));
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id();
        let (_, _, start) = stat(me).unwrap();
        assert!(is_alive(me, start));
        assert!(
            !is_alive(me, start + 1),
            "a reused PID has another start time"
        );
    }

    #[test]
    fn finds_grandchildren() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let me = std::process::id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = Vec::new();
        while std::time::Instant::now() < deadline {
            found = descendants(me);
            if found.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(
            found.len() >= 2,
            "the sleep grandchild is found too: {found:?}"
        );
        for pid in found {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.wait();
    }
}

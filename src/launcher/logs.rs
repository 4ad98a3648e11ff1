//! Bounded in-memory tails of application log files.
//!
//! The full log stays on disk (`apps/<tag>/output.log`); each tail keeps the
//! last `livy.cache-log.size` lines, each cut to `livy.server.log.max-line-bytes`,
//! and reads only the bytes appended since its last refresh, in fixed-size
//! chunks, so neither a flood of output nor one endless line is held in
//! memory or sent in responses.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// On first sight of a large file, start this far from its end: enough for
/// `cap` lines of ordinary Spark output without reading gigabytes.
const FIRST_READ_BYTES: u64 = 512 * 1024;
/// Default for `livy.server.log.max-line-bytes`.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024;
/// Bytes read from the file at a time.
const CHUNK: usize = 64 * 1024;

/// A live application's tail read this recently is served as it is: a
/// client polling a list of running applications costs no file reads.
const FRESH_FOR: Duration = Duration::from_millis(250);
/// Tails kept at most; past this, tails of finished applications are
/// dropped (and read again from disk if asked for).
const MAX_TAILS: usize = 4096;

#[derive(Default)]
struct Tail {
    offset: u64,
    /// The head (at most `max_line` bytes) of the line still being written.
    partial: Vec<u8>,
    /// Bytes of that line beyond `max_line`, counted and dropped.
    dropped: u64,
    lines: VecDeque<String>,
    /// Read after its application finished: the file will not grow, so it
    /// is not read again.
    sealed: bool,
    /// When it was last brought up to date.
    read_at: Option<Instant>,
}

impl Tail {
    /// Whether it may be served without looking at the file.
    fn current(&self, finished: bool, fresh_for: Duration) -> bool {
        self.sealed || (!finished && self.read_at.is_some_and(|t| t.elapsed() < fresh_for))
    }
}

type Shared = Arc<Mutex<Tail>>;

/// Which log to tail, and whether its application has finished.
pub struct TailRequest<'a> {
    pub path: &'a Path,
    pub finished: bool,
}

pub struct LogTails {
    cap: usize,
    max_line: usize,
    fresh_for: Duration,
    /// One lock per log; this one is held only to find it.
    tails: Mutex<HashMap<OsString, Shared>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogTails {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            max_line: DEFAULT_MAX_LINE_BYTES,
            fresh_for: FRESH_FOR,
            tails: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps at most `bytes` of each line (the head), plus a marker.
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line = bytes.max(1);
        self
    }

    /// How long a live application's tail is served without a look at the file.
    pub fn fresh_for(mut self, d: Duration) -> Self {
        self.fresh_for = d;
        self
    }

    /// The tail of each path, under one lock of the map.
    fn tails<'a>(&self, paths: impl Iterator<Item = Option<&'a Path>>) -> Vec<Option<Shared>> {
        let mut tails = lock(&self.tails);
        paths
            .map(|path| {
                let path = path?.as_os_str();
                if let Some(t) = tails.get(path) {
                    return Some(t.clone());
                }
                if tails.len() >= MAX_TAILS {
                    tails.retain(|_, t| !t.try_lock().is_ok_and(|t| t.sealed));
                }
                Some(tails.entry(path.to_owned()).or_default().clone())
            })
            .collect()
    }

    /// The last `cap` complete lines of `path` (plus a trailing partial
    /// line). Reads the file (blocking) unless it is sealed.
    pub fn lines(&self, path: &Path, finished: bool) -> Vec<String> {
        let tail = self.tails(std::iter::once(Some(path))).pop().flatten();
        tail.map(|t| self.read(&t, path, finished, usize::MAX))
            .unwrap_or_default()
    }

    /// The last `last` (at most `cap`) lines of one tail, brought up to date
    /// first unless it is current.
    fn read(&self, tail: &Shared, path: &Path, finished: bool, last: usize) -> Vec<String> {
        let mut tail = lock(tail);
        if !tail.current(finished, self.fresh_for) {
            refresh(&mut tail, path, self.cap, self.max_line);
            tail.sealed = finished;
            tail.read_at = Some(Instant::now());
        }
        let partial = (!tail.partial.is_empty() || tail.dropped > 0)
            .then(|| render(&tail.partial, tail.dropped));
        let n = last.min(self.cap);
        let whole = n.saturating_sub(usize::from(partial.is_some()));
        let skip = tail.lines.len().saturating_sub(whole);
        let mut out: Vec<String> = Vec::with_capacity(n);
        out.extend(tail.lines.iter().skip(skip).cloned());
        out.extend(partial.filter(|_| n > 0));
        out
    }

    /// The last `last` lines ([`LogTails::lines`]) of several logs, reading
    /// files off the async threads (sealed and fresh tails are answered from
    /// memory).
    pub async fn lines_of(
        self: &Arc<Self>,
        logs: &[Option<TailRequest<'_>>],
        last: usize,
    ) -> Vec<Vec<String>> {
        let tails = self.tails(logs.iter().map(|r| r.as_ref().map(|r| r.path)));
        let all_current = logs.iter().zip(&tails).all(|(r, t)| match (r, t) {
            (Some(r), Some(t)) => lock(t).current(r.finished, self.fresh_for),
            _ => true,
        });
        if all_current {
            return logs
                .iter()
                .zip(&tails)
                .map(|(r, t)| match (r, t) {
                    (Some(r), Some(t)) => self.read(t, r.path, r.finished, last),
                    _ => Vec::new(),
                })
                .collect();
        }
        let owned: Vec<Option<(Shared, PathBuf, bool)>> = logs
            .iter()
            .zip(tails)
            .map(|(r, t)| Some((t?, r.as_ref()?.path.to_owned(), r.as_ref()?.finished)))
            .collect();
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            owned
                .iter()
                .map(|r| match r {
                    Some((t, path, finished)) => me.read(t, path, *finished, last),
                    None => Vec::new(),
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Drops the tail of a log that is no longer served.
    pub fn forget(&self, path: &Path) {
        lock(&self.tails).remove(path.as_os_str());
    }
}

/// A line's kept head as text, with a marker when bytes were dropped (a
/// character cut in half at the limit is dropped whole).
fn render(head: &[u8], dropped: u64) -> String {
    if dropped == 0 {
        return String::from_utf8_lossy(head.strip_suffix(b"\r").unwrap_or(head)).into_owned();
    }
    let valid = match std::str::from_utf8(head) {
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        _ => head.len(),
    };
    let dropped = dropped + (head.len() - valid) as u64;
    format!(
        "{}… [truncated {dropped} bytes]",
        String::from_utf8_lossy(&head[..valid])
    )
}

fn refresh(tail: &mut Tail, path: &Path, cap: usize, max_line: usize) {
    // Most looks find nothing new: a stat answers that without opening.
    match std::fs::metadata(path) {
        Ok(m) if m.len() == tail.offset => return,
        Ok(_) => {}
        Err(_) => return,
    }
    let Ok(mut file) = std::fs::File::open(path) else {
        return;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if len < tail.offset {
        // Truncated or replaced: start over.
        *tail = Tail::default();
    }
    // Only the last `cap` lines are kept: never read more than they can fill.
    let window = FIRST_READ_BYTES.max(cap as u64 * (max_line as u64 + 1));
    let mut skip_first_partial = false;
    if len - tail.offset > window {
        let skipped = len - window - tail.offset;
        if tail.offset > 0 {
            // Mid-stream: say what was left out rather than hide it.
            if !tail.partial.is_empty() || tail.dropped > 0 {
                let line = render(&tail.partial, tail.dropped);
                tail.lines.push_back(line);
            }
            tail.partial.clear();
            tail.dropped = 0;
            tail.lines
                .push_back(format!("… [output skipped: {skipped} bytes]"));
            trim(tail, cap);
        }
        tail.offset = len - window;
        skip_first_partial = true;
    }
    if len == tail.offset || file.seek(SeekFrom::Start(tail.offset)).is_err() {
        return;
    }
    let mut reader = file.take(len - tail.offset);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tail.offset += n as u64;
        let mut pieces = chunk[..n].split(|b| *b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            if skip_first_partial {
                // Starting mid-file: the first (partial) line is not shown.
                if pieces.peek().is_some() {
                    skip_first_partial = false;
                }
                continue;
            }
            let room = max_line.saturating_sub(tail.partial.len());
            let kept = piece.len().min(room);
            tail.partial.extend_from_slice(&piece[..kept]);
            tail.dropped += (piece.len() - kept) as u64;
            if pieces.peek().is_none() {
                break;
            }
            let line = render(&tail.partial, tail.dropped);
            tail.partial.clear();
            tail.dropped = 0;
            tail.lines.push_back(line);
            trim(tail, cap);
        }
    }
}

fn trim(tail: &mut Tail, cap: usize) {
    while tail.lines.len() > cap {
        tail.lines.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Tails that look at the file on every call.
    fn live(cap: usize) -> LogTails {
        LogTails::new(cap).fresh_for(Duration::ZERO)
    }

    #[tokio::test]
    async fn several_logs_give_their_last_lines_partial_line_included() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "1\n2\n3\n4\n").unwrap();
        std::fs::write(&b, "x\ny\nhalf").unwrap();
        let tails = Arc::new(live(3));
        let ask = |path, finished| Some(TailRequest { path, finished });
        let logs = [ask(&a, false), None, ask(&b, true)];
        assert_eq!(
            tails.lines_of(&logs, 2).await,
            vec![vec!["3", "4"], vec![], vec!["y", "half"]]
        );
        assert_eq!(
            tails.lines_of(&logs, usize::MAX).await,
            vec![vec!["2", "3", "4"], vec![], vec!["x", "y", "half"]],
            "never more than the cap"
        );
        assert_eq!(
            tails.lines_of(&logs, 0).await,
            vec![Vec::<String>::new(); 3]
        );
    }

    #[test]
    fn a_live_tail_is_served_from_memory_while_fresh_and_read_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "a\n").unwrap();
        let tails = LogTails::new(10).fresh_for(Duration::from_secs(600));
        assert_eq!(tails.lines(&path, false), vec!["a"]);
        std::fs::write(&path, "a\nb\n").unwrap();
        assert_eq!(tails.lines(&path, false), vec!["a"], "fresh: not read");
        assert_eq!(tails.lines(&path, true), vec!["a", "b"], "finished: read");
    }

    #[test]
    fn a_finished_applications_log_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "a\nb\n").unwrap();
        let tails = live(10);
        assert_eq!(tails.lines(&path, false), vec!["a", "b"]);
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(tails.lines(&path, true), vec!["a", "b", "c"]);
        // Sealed: the file is not read again (even if something changed it).
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tails.lines(&path, true), vec!["a", "b", "c"]);
        tails.forget(&path);
        assert_eq!(tails.lines(&path, true).len(), 4);
    }

    #[test]
    fn keeps_the_last_lines_and_reads_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..10 {
            writeln!(f, "line {i}").unwrap();
        }
        let tails = live(3);
        assert_eq!(
            tails.lines(&path, false),
            vec!["line 7", "line 8", "line 9"]
        );
        write!(f, "line 10\npart").unwrap();
        assert_eq!(tails.lines(&path, false), vec!["line 9", "line 10", "part"]);
        writeln!(f, "ial").unwrap();
        assert_eq!(
            tails.lines(&path, false),
            vec!["line 9", "line 10", "partial"]
        );
        tails.forget(&path);
        assert_eq!(
            tails.lines(&path, false),
            vec!["line 9", "line 10", "partial"]
        );
    }

    #[test]
    fn one_endless_line_is_cut_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "before").unwrap();
        f.write_all(&vec![b'x'; 300_000]).unwrap();
        let tails = live(5).max_line_bytes(100);
        let want_cut = format!("{}… [truncated 299900 bytes]", "x".repeat(100));
        assert_eq!(
            tails.lines(&path, false),
            vec!["before".to_owned(), want_cut.clone()]
        );
        // The line goes on, then ends; the dropped count follows it.
        f.write_all(&vec![b'y'; 1000]).unwrap();
        writeln!(f, "\nafter").unwrap();
        let want_cut = format!("{}… [truncated 300900 bytes]", "x".repeat(100));
        assert_eq!(
            tails.lines(&path, false),
            vec!["before".to_owned(), want_cut, "after".to_owned()]
        );
        let tail = tails.tails.lock().unwrap();
        let kept: usize = tail
            .values()
            .map(|t| {
                let t = t.lock().unwrap();
                t.partial.capacity() + t.lines.iter().map(String::len).sum::<usize>()
            })
            .sum();
        assert!(kept < 2_000, "{kept} bytes kept");
    }

    #[test]
    fn a_character_cut_at_the_limit_is_dropped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        // "é" is two bytes: the limit falls between them.
        std::fs::write(&path, "abé and more\n").unwrap();
        let tails = live(5).max_line_bytes(3);
        assert_eq!(tails.lines(&path, false), vec!["ab… [truncated 11 bytes]"]);
    }

    #[test]
    fn a_flood_between_reads_is_skipped_with_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "first").unwrap();
        let tails = live(3).max_line_bytes(10);
        assert_eq!(tails.lines(&path, false), vec!["first"]);
        f.write_all(&vec![b'z'; 1_000_000]).unwrap();
        writeln!(f, "\nlast").unwrap();
        assert_eq!(
            tails.lines(&path, false),
            vec!["first", "… [output skipped: 475718 bytes]", "last"]
        );
    }

    #[test]
    fn missing_file_is_empty() {
        let tails = live(3);
        assert!(
            tails
                .lines(Path::new("/nonexistent/x.log"), false)
                .is_empty()
        );
    }

    #[test]
    fn huge_file_starts_near_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..200_000 {
            writeln!(f, "row {i}").unwrap();
        }
        drop(f);
        let tails = live(2);
        assert_eq!(tails.lines(&path, false), vec!["row 199998", "row 199999"]);
    }
}

//! Bounded in-memory tails of application log files.
//!
//! The full log stays on disk (`apps/<tag>/output.log`); each tail keeps the
//! last `livy.cache-log.size` lines and reads only the bytes appended since
//! its last refresh, so serving `/log` costs no more than the new output.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// On first sight of a large file, start this far from its end: enough for
/// `cap` lines of ordinary Spark output without reading gigabytes.
const FIRST_READ_BYTES: u64 = 512 * 1024;

struct Tail {
    offset: u64,
    partial: Vec<u8>,
    lines: VecDeque<String>,
}

pub struct LogTails {
    cap: usize,
    tails: Mutex<HashMap<PathBuf, Tail>>,
}

impl LogTails {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            tails: Mutex::new(HashMap::new()),
        }
    }

    /// The last `cap` complete lines of `path` (plus a trailing partial line).
    pub fn lines(&self, path: &Path) -> Vec<String> {
        let mut tails = self.tails.lock().unwrap_or_else(|e| e.into_inner());
        let tail = tails.entry(path.to_owned()).or_insert_with(|| Tail {
            offset: 0,
            partial: Vec::new(),
            lines: VecDeque::new(),
        });
        refresh(tail, path, self.cap);
        let mut out: Vec<String> = tail.lines.iter().cloned().collect();
        if !tail.partial.is_empty() {
            out.push(String::from_utf8_lossy(&tail.partial).into_owned());
        }
        if out.len() > self.cap {
            out.drain(..out.len() - self.cap);
        }
        out
    }

    /// Drops the tail of a log that is no longer served.
    pub fn forget(&self, path: &Path) {
        self.tails
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }
}

fn refresh(tail: &mut Tail, path: &Path, cap: usize) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if len < tail.offset {
        // Truncated or replaced: start over.
        *tail = Tail {
            offset: 0,
            partial: Vec::new(),
            lines: VecDeque::new(),
        };
    }
    let mut skip_first_partial = false;
    if tail.offset == 0 && len > FIRST_READ_BYTES {
        tail.offset = len - FIRST_READ_BYTES;
        skip_first_partial = true;
    }
    if len == tail.offset || file.seek(SeekFrom::Start(tail.offset)).is_err() {
        return;
    }
    let mut buf = Vec::with_capacity((len - tail.offset) as usize);
    if file.take(len - tail.offset).read_to_end(&mut buf).is_err() {
        return;
    }
    tail.offset += buf.len() as u64;
    let mut data = std::mem::take(&mut tail.partial);
    data.extend_from_slice(&buf);
    let mut pieces = data.split(|b| *b == b'\n').peekable();
    if skip_first_partial {
        pieces.next();
    }
    while let Some(piece) = pieces.next() {
        if pieces.peek().is_none() {
            tail.partial = piece.to_vec();
            break;
        }
        let line = String::from_utf8_lossy(piece.strip_suffix(b"\r").unwrap_or(piece)).into_owned();
        tail.lines.push_back(line);
        if tail.lines.len() > cap {
            tail.lines.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn keeps_the_last_lines_and_reads_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..10 {
            writeln!(f, "line {i}").unwrap();
        }
        let tails = LogTails::new(3);
        assert_eq!(tails.lines(&path), vec!["line 7", "line 8", "line 9"]);
        write!(f, "line 10\npart").unwrap();
        assert_eq!(tails.lines(&path), vec!["line 9", "line 10", "part"]);
        writeln!(f, "ial").unwrap();
        assert_eq!(tails.lines(&path), vec!["line 9", "line 10", "partial"]);
        tails.forget(&path);
        assert_eq!(tails.lines(&path), vec!["line 9", "line 10", "partial"]);
    }

    #[test]
    fn missing_file_is_empty() {
        let tails = LogTails::new(3);
        assert!(tails.lines(Path::new("/nonexistent/x.log")).is_empty());
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
        let tails = LogTails::new(2);
        assert_eq!(tails.lines(&path), vec!["row 199998", "row 199999"]);
    }
}

//! How the CLI shows server objects: tables of sessions and batches, one
//! object's fields, statement lists and statement outputs (by mime type).
//! Pure text building, except [`print_output`], which writes to the terminal
//! and saves images to files.

use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

/// A JSON scalar as a table cell: strings bare, null as "-".
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// The table of `GET /sessions` or `GET /batches` (both list under `sessions`).
pub fn list_table(list: &Value, interactive: bool) -> String {
    let mut t = table();
    let mut header = vec!["id", "name", "owner", "proxy user"];
    if interactive {
        header.push("kind");
    }
    header.extend(["state", "app id"]);
    t.set_header(header);
    let empty = vec![];
    let rows = list["sessions"].as_array().unwrap_or(&empty);
    for s in rows {
        let mut row = vec![
            cell(&s["id"]),
            cell(&s["name"]),
            cell(&s["owner"]),
            cell(&s["proxyUser"]),
        ];
        if interactive {
            row.push(cell(&s["kind"]));
        }
        row.extend([cell(&s["state"]), cell(&s["appId"])]);
        t.add_row(row);
    }
    let total = list["total"].as_u64().unwrap_or(rows.len() as u64);
    format!("{t}\n{} of {total} shown", rows.len())
}

/// One session or batch as field/value rows.
pub fn object_table(obj: &Value, interactive: bool) -> String {
    let mut t = table();
    let mut fields = vec![
        ("id", &obj["id"]),
        ("name", &obj["name"]),
        ("owner", &obj["owner"]),
        ("proxy user", &obj["proxyUser"]),
    ];
    if interactive {
        fields.push(("kind", &obj["kind"]));
    }
    fields.extend([
        ("state", &obj["state"]),
        ("app id", &obj["appId"]),
        ("spark UI", &obj["appInfo"]["sparkUiUrl"]),
        ("driver log", &obj["appInfo"]["driverLogUrl"]),
    ]);
    for (k, v) in fields {
        t.add_row(vec![k.to_owned(), cell(v)]);
    }
    t.to_string()
}

/// The statements of `GET /sessions/{id}/statements`.
pub fn statements_table(list: &Value) -> String {
    let mut t = table();
    t.set_header(vec!["id", "state", "progress", "code", "output"]);
    let empty = vec![];
    for st in list["statements"].as_array().unwrap_or(&empty) {
        let progress = st["progress"]
            .as_f64()
            .map(|p| format!("{:.0}%", p * 100.0))
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            cell(&st["id"]),
            cell(&st["state"]),
            progress,
            first_line(st["code"].as_str().unwrap_or(""), 50),
            output_summary(&st["output"]),
        ]);
    }
    t.to_string()
}

fn first_line(s: &str, max: usize) -> String {
    let mut lines = s.trim().lines();
    let first = lines.next().unwrap_or("");
    let cut: String = first.chars().take(max).collect();
    if cut.len() < first.len() || lines.next().is_some() {
        format!("{cut} …")
    } else {
        cut
    }
}

fn output_summary(out: &Value) -> String {
    match out["status"].as_str() {
        Some("ok") => {
            let data = &out["data"];
            match data["text/plain"].as_str() {
                Some(t) => first_line(t, 50),
                None => data
                    .as_object()
                    .and_then(|d| d.keys().next().cloned())
                    .unwrap_or_default(),
            }
        }
        Some("error") => format!("{}: {}", cell(&out["ename"]), cell(&out["evalue"])),
        _ => "-".into(),
    }
}

/// Livy's table mime (`application/vnd.livy.table.v1+json`) as a table.
pub fn livy_table(v: &Value) -> String {
    let mut t = table();
    let empty = vec![];
    let headers: Vec<String> = v["headers"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|h| cell(&h["name"]))
        .collect();
    t.set_header(headers);
    for row in v["data"].as_array().unwrap_or(&empty) {
        t.add_row(row.as_array().unwrap_or(&empty).iter().map(cell));
    }
    t.to_string()
}

/// Where a shell saves `image/png` outputs: a directory of its own, made
/// (mode 0700, never an existing one) on the first image, so no other user
/// can place, read or redirect (symlink) the files written there.
pub struct ImageDir {
    parent: PathBuf,
    prefix: String,
    made: std::cell::RefCell<Option<PathBuf>>,
}

impl ImageDir {
    pub fn new(parent: PathBuf, prefix: String) -> Self {
        Self {
            parent,
            prefix,
            made: Default::default(),
        }
    }

    /// The directory, made now if it is not yet.
    fn get(&self) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(dir) = &*self.made.borrow() {
            return Ok(dir.clone());
        }
        loop {
            let dir = self
                .parent
                .join(format!("{}-{:08x}", self.prefix, rand::random::<u32>()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    *self.made.borrow_mut() = Some(dir.clone());
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The result of a finished statement: ok output to stdout, errors to
/// stderr. Images are saved under `images` and their path printed.
/// Returns whether the output was an error.
pub fn print_output(st: &Value, images: &ImageDir) -> bool {
    let out = &st["output"];
    let mut stdout = std::io::stdout().lock();
    match out["status"].as_str() {
        Some("ok") => {
            let data = &out["data"];
            if let Some(tbl) = data.get("application/vnd.livy.table.v1+json") {
                let _ = writeln!(stdout, "{}", livy_table(tbl));
            } else if let Some(json) = data.get("application/json") {
                let pretty = serde_json::to_string_pretty(json).unwrap_or_default();
                let _ = writeln!(stdout, "{pretty}");
            }
            if let Some(png) = data.get("image/png").and_then(Value::as_str) {
                let msg = save_image(png, images, &st["id"]);
                let _ = writeln!(stdout, "{msg}");
            }
            let has_rich = data.get("application/vnd.livy.table.v1+json").is_some()
                || data.get("application/json").is_some();
            if let Some(text) = data.get("text/plain").and_then(Value::as_str)
                && !(has_rich || text.is_empty())
            {
                let _ = writeln!(stdout, "{text}");
            }
            false
        }
        Some("error") => {
            let _ = stdout.flush();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}: {}", cell(&out["ename"]), cell(&out["evalue"]));
            if let Some(tb) = out["traceback"].as_array() {
                for line in tb {
                    let _ = write!(err, "{}", line.as_str().unwrap_or(""));
                    if !line.as_str().unwrap_or("").ends_with('\n') {
                        let _ = writeln!(err);
                    }
                }
            }
            true
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "(no output: statement {})",
                cell(&st["state"])
            );
            true
        }
    }
}

fn save_image(b64: &str, images: &ImageDir, id: &Value) -> String {
    let bytes = match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
        Ok(b) => b,
        Err(e) => return format!("(an image/png output that is not base64: {e})"),
    };
    let dir = match images.get() {
        Ok(d) => d,
        Err(e) => return format!("(could not make a directory for images: {e})"),
    };
    // The id comes from the server: digits only in a file name.
    let id: String = cell(id).chars().filter(char::is_ascii_digit).collect();
    let path: PathBuf = dir.join(format!("livy-statement-{id}.png"));
    match write_new(&path, &bytes) {
        Ok(()) => format!("[image/png saved to {}]", path.display()),
        Err(e) => format!("(could not save the image/png to {}: {e})", path.display()),
    }
}

/// Writes a new file (0600): never through a symlink, never over a file.
fn write_new(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true) // O_CREAT | O_EXCL
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_rows_show_ids_states_and_nulls() {
        let list = json!({"from":0,"total":1,"sessions":[{"id":4,"name":null,"owner":null,"proxyUser":null,"state":"success","appId":"local-1","kind":"pyspark"}]});
        let t = list_table(&list, false);
        assert!(
            t.contains('4') && t.contains("success") && t.contains("local-1"),
            "{t}"
        );
        assert!(!t.contains("pyspark"), "batches have no kind column: {t}");
        assert!(list_table(&list, true).contains("pyspark"));
        assert!(t.ends_with("1 of 1 shown"));
    }

    #[test]
    fn livy_table_mime() {
        let v = json!({"headers":[{"name":"a","type":"INT_TYPE"},{"name":"b","type":"STRING_TYPE"}],"data":[[1,"x"],[2,null]]});
        let t = livy_table(&v);
        assert!(
            t.contains(" a ") && t.contains(" x ") && t.contains(" - "),
            "{t}"
        );
    }

    #[test]
    fn summaries() {
        assert_eq!(first_line("print(1)\nprint(2)", 50), "print(1) …");
        assert_eq!(first_line("x", 50), "x");
        assert_eq!(
            output_summary(&json!({"status":"error","ename":"NameError","evalue":"x"})),
            "NameError: x"
        );
    }
}

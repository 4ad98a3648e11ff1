//! Request validation: every check that turns a request into a record, with
//! a message naming the field and what to fix. Shared by batches and sessions.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use super::error::ApiError;

/// Conf keys a request may not set (Livy's spark-blacklist.conf): the server
/// decides where applications run.
pub const BLOCKED_CONF: &[&str] = &[
    "spark.master",
    "spark.submit.deployMode",
    "spark.yarn.jar",
    "spark.yarn.jars",
    "spark.yarn.archive",
    "livy.rsc.server.idle-timeout",
];

type Result<T> = std::result::Result<T, ApiError>;

fn bad<T>(msg: String) -> Result<T> {
    Err(ApiError::BadRequest(msg))
}

/// Rejects characters that cannot travel safely in an argv element or a
/// properties line: NUL anywhere, and (unless `allow_newlines`) CR/LF.
pub fn plain_text(field: &str, value: &str, allow_newlines: bool) -> Result<()> {
    if value.contains('\0') {
        return bad(format!("{field}: contains a NUL character"));
    }
    if !allow_newlines && value.contains(['\n', '\r']) {
        return bad(format!("{field}: contains a line break"));
    }
    Ok(())
}

fn optional_text(field: &str, value: &Option<String>) -> Result<()> {
    value
        .as_deref()
        .map_or(Ok(()), |v| plain_text(field, v, false))
}

/// Conf keys whose values are comma-separated files spark-submit reads or
/// ships (Livy checks these against the whitelist too).
pub const FILE_CONF: &[&str] = &[
    "spark.jars",
    "spark.files",
    "spark.submit.pyFiles",
    "spark.archives",
    "spark.yarn.dist.jars",
    "spark.yarn.dist.files",
    "spark.yarn.dist.archives",
    "spark.yarn.dist.pyFiles",
];

/// Checks one path or URI the application will read. Scheme-less and `file:`
/// paths (the scheme in any case) are local: after percent-decoding, as
/// Java's `URI` does, they must be absolute, free of `..`, and inside
/// `livy.file.local-dir-whitelist`, both as written and with symlinks
/// resolved. Other schemes (hdfs:, s3a:, local:, …) are the cluster's business.
pub fn path(
    field: &str,
    value: &str,
    whitelist: &[std::path::PathBuf],
    in_list: bool,
) -> Result<()> {
    plain_text(field, value, false)?;
    if value.trim().is_empty() {
        return bad(format!("{field}: empty path"));
    }
    if in_list && value.contains(',') {
        return bad(format!(
            "{field}: {value:?} contains a comma, which spark-submit would split; rename the file"
        ));
    }
    // `#alias` suffixes (archives) are not part of the path.
    let without_fragment = value.split('#').next().unwrap_or(value);
    let encoded = match scheme(without_fragment) {
        Some((s, rest)) if s.eq_ignore_ascii_case("file") => rest.trim_start_matches("//"),
        Some((_, _)) => return Ok(()),
        None => without_fragment,
    };
    let Ok(local) = percent_encoding::percent_decode_str(encoded).decode_utf8() else {
        return bad(format!(
            "{field}: path '{value}' is not valid UTF-8 once percent-decoded"
        ));
    };
    plain_text(field, &local, false)?;
    let local_path = Path::new(local.as_ref());
    if !local_path.is_absolute() {
        return bad(format!(
            "{field}: requirement failed: Path '{value}' is not absolute."
        ));
    }
    if local_path.components().any(|c| c == Component::ParentDir) {
        return bad(format!(
            "{field}: path '{value}' must not contain '..' (percent-encoded or not)"
        ));
    }
    let outside = |how: &str| {
        let dirs: Vec<String> = whitelist.iter().map(|d| d.display().to_string()).collect();
        let dirs = if dirs.is_empty() {
            "none configured".to_owned()
        } else {
            dirs.join(", ")
        };
        bad(format!(
            "{field}: requirement failed: Local path {local}{how} cannot be added to user sessions. \
             Use a path inside livy.file.local-dir-whitelist ({dirs}) or a cluster URI (hdfs://, s3a://, local:)."
        ))
    };
    if !whitelist.iter().any(|dir| local_path.starts_with(dir)) {
        return outside("");
    }
    // A symlink inside a whitelisted directory may point anywhere: check
    // where the path really leads (its longest existing prefix, resolved).
    let real = resolve(local_path);
    if !whitelist
        .iter()
        .any(|dir| real.starts_with(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone())))
    {
        return outside(" (through a symbolic link)");
    }
    Ok(())
}

/// `path` with symlinks resolved as far as it exists; the part that does not
/// exist (yet) is appended unchanged (it holds no `..`).
fn resolve(path: &Path) -> std::path::PathBuf {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return missing.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

/// `scheme:rest` if `value` starts with a URI scheme.
fn scheme(value: &str) -> Option<(&str, &str)> {
    let (s, rest) = value.split_once(':')?;
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some((s, rest))
}

pub fn paths(field: &str, values: &[String], whitelist: &[std::path::PathBuf]) -> Result<()> {
    for (i, v) in values.iter().enumerate() {
        path(&format!("{field}[{i}]"), v, whitelist, true)?;
    }
    Ok(())
}

/// The [`FILE_CONF`] entries of `conf`: each comma-separated item is checked
/// like a top-level path (empty items, which Spark skips, are fine).
pub fn conf_paths(conf: &BTreeMap<String, String>, whitelist: &[std::path::PathBuf]) -> Result<()> {
    for key in FILE_CONF {
        let Some(list) = conf.get(*key) else { continue };
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            path(&format!("conf[{key}]"), item, whitelist, false)?;
        }
    }
    Ok(())
}

/// Linux refuses to exec an argument of `MAX_ARG_STRLEN` (32 pages) bytes or
/// more, terminating NUL included.
pub const MAX_ARGUMENT_BYTES: usize = 128 * 1024 - 1;
/// What the request may put on spark-submit's command line in total: half of
/// the usual 2 MiB `ARG_MAX`, leaving room for the server's own arguments,
/// the environment and the JVM launcher scripts.
pub const MAX_COMMAND_LINE_BYTES: usize = 1024 * 1024;

/// Refuses arguments `exec` would reject with `E2BIG`: `args` holds each
/// argument the request contributes (the field it comes from, its length in
/// bytes), in argv order.
pub fn command_line(args: &[(String, usize)]) -> Result<()> {
    for (field, len) in args {
        if *len > MAX_ARGUMENT_BYTES {
            return bad(format!(
                "{field}: {len} bytes is longer than one command-line argument may be \
                 ({MAX_ARGUMENT_BYTES} bytes); put large data in a file (files, hdfs:) and pass its name"
            ));
        }
    }
    // One NUL and one pointer per argument count against ARG_MAX too.
    let total: usize = args.iter().map(|(_, len)| len + 1 + 8).sum();
    if total > MAX_COMMAND_LINE_BYTES {
        return bad(format!(
            "the request makes a spark-submit command line of {total} bytes, over the \
             {MAX_COMMAND_LINE_BYTES} bytes allowed; put large data in a file (files, hdfs:) and pass its name"
        ));
    }
    Ok(())
}

/// A client value shortened for an error message.
pub fn short(value: &str) -> String {
    const SHOWN: usize = 60;
    match value.char_indices().nth(SHOWN) {
        None => value.to_owned(),
        Some((at, _)) => format!("{}…", &value[..at]),
    }
}

/// Spark memory strings: `512m`, `2g`, `1024` (MiB), optional `b`.
pub fn memory(field: &str, value: &Option<String>) -> Result<()> {
    let Some(v) = value else { return Ok(()) };
    let t = v.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let digits = t.trim_end_matches(['k', 'm', 'g', 't', 'p']);
    let unit_len = t.len() - digits.len();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || unit_len > 1 {
        return bad(format!(
            "{field}: {v:?} is not a memory size; use e.g. 512m or 2g"
        ));
    }
    Ok(())
}

/// A memory size in bytes (Spark's reading: no unit is MiB); `None` when
/// it is not a size ([`memory`] says so).
pub fn memory_bytes(value: &str) -> Option<u64> {
    let t = value.trim().to_ascii_lowercase();
    let unitless = t.bytes().all(|b| b.is_ascii_digit());
    let bytes = crate::config::parse_bytes(&t).ok()?;
    Some(if unitless {
        bytes.saturating_mul(1 << 20)
    } else {
        bytes
    })
}

/// A memory size no larger than the server's cap `key`.
pub fn memory_cap(field: &str, value: &Option<String>, cap: u64, key: &str) -> Result<()> {
    match value.as_deref().and_then(memory_bytes) {
        Some(n) if n > cap => bad(format!(
            "{field}: {} is more than this server allows ({}; {key})",
            value.as_deref().unwrap_or_default(),
            size_text(cap)
        )),
        _ => Ok(()),
    }
}

/// A count no larger than the server's cap `key`.
pub fn count_cap(field: &str, value: Option<u32>, cap: u32, key: &str) -> Result<()> {
    match value {
        Some(n) if n > cap => bad(format!(
            "{field}: {n} is more than this server allows ({cap}; {key})"
        )),
        _ => Ok(()),
    }
}

/// `512g`, `1536m`, `100k` or bytes: the largest exact unit.
fn size_text(bytes: u64) -> String {
    for (unit, shift) in [("t", 40), ("g", 30), ("m", 20), ("k", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}b")
}

/// A count that must be at least `min`; returns it as u32.
pub fn count(field: &str, value: Option<i64>, min: i64) -> Result<Option<u32>> {
    match value {
        None => Ok(None),
        Some(n) if n < 0 => bad(format!("{field}: must not be negative (got {n})")),
        Some(n) if n < min => bad(format!("{field}: must be at least {min} (got {n})")),
        Some(n) => u32::try_from(n)
            .map(Some)
            .or_else(|_| bad(format!("{field}: {n} is too large"))),
    }
}

/// Java class names: dotted identifiers.
pub fn class_name(value: &Option<String>) -> Result<()> {
    let Some(v) = value else { return Ok(()) };
    let ident = |s: &str| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_alphabetic() || f == '_' || f == '$')
            && c.all(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$')
    };
    if v.split('.').all(ident) {
        Ok(())
    } else {
        bad(format!(
            "className: {v:?} is not a Java class name (e.g. org.example.SparkPi)"
        ))
    }
}

/// Spark conf: no blocked keys, no empty keys, no line breaks or NULs.
pub fn conf(conf: &BTreeMap<String, String>) -> Result<()> {
    let blocked: Vec<&str> = conf
        .keys()
        .map(String::as_str)
        .filter(|k| BLOCKED_CONF.contains(k))
        .collect();
    if !blocked.is_empty() {
        return bad(format!(
            "conf: Blacklisted configuration values in session config: {}",
            blocked.join(", ")
        ));
    }
    for (k, v) in conf {
        if k.trim().is_empty() {
            return bad("conf: empty key".to_owned());
        }
        plain_text(&format!("conf key {k:?}"), k, false)?;
        if k.contains(['=', ' ', '\t']) {
            return bad(format!(
                "conf key {k:?}: must not contain '=' or whitespace"
            ));
        }
        plain_text(&format!("conf[{k}]"), v, false)?;
        if crate::records::seal::is_sealed(v) {
            return bad(format!(
                "conf[{k}]: values starting with {:?} are reserved for the server's encrypted conf values",
                crate::records::seal::SEALED_PREFIX
            ));
        }
    }
    Ok(())
}

/// Livy names: not all digits (ids and names share the `{id}` path segment).
pub fn name(value: &Option<String>) -> Result<()> {
    let Some(v) = value else { return Ok(()) };
    optional_text("name", value)?;
    if v.is_empty() {
        return bad("name: must not be empty".to_owned());
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return bad(format!(
            "name: Invalid session name: {v} (a name must not be all digits)"
        ));
    }
    Ok(())
}

pub fn simple(field: &str, value: &Option<String>) -> Result<()> {
    optional_text(field, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::PathBuf;

    #[rstest]
    #[case("/data/apps/pi.py", true)]
    #[case("file:///data/apps/pi.py", true)]
    #[case("file:/data/apps/pi.py", true)]
    #[case("hdfs:///user/x/pi.py", true)]
    #[case("s3a://bucket/pi.py", true)]
    #[case("local:/opt/spark/examples.jar", true)]
    #[case("/data/apps/env.zip#env", true)]
    #[case("apps/pi.py", false)]
    #[case("/etc/passwd", false)]
    #[case("/data/apps/../../etc/passwd", false)]
    #[case("file:///etc/passwd", false)]
    #[case("FILE:///etc/passwd", false)]
    #[case("File:/etc/passwd", false)]
    #[case("FILE:///data/apps/pi.py", true)]
    #[case("Local:/opt/spark/examples.jar", true)]
    #[case("file:///data/apps/%2e%2e/%2e%2e/etc/passwd", false)]
    #[case("/data/apps/%2E%2E/x#y", false)]
    #[case("file:///data/apps/..%2F..%2Fetc/passwd", false)]
    #[case("file:///data/apps/pi%20v2.py", true)]
    #[case("file:///data/apps/%ff.py", false)]
    #[case("file:///data/apps/a%0Ab.py", false)]
    #[case("/data/applications/pi.py", false)]
    #[case("", false)]
    #[case("/data/apps/a\nb", false)]
    fn paths_against_a_whitelist(#[case] p: &str, #[case] ok: bool) {
        let wl = vec![PathBuf::from("/data/apps")];
        assert_eq!(path("file", p, &wl, false).is_ok(), ok, "{p}");
    }

    #[rstest]
    #[case("512m", true)]
    #[case("2g", true)]
    #[case("2G", true)]
    #[case("1024", true)]
    #[case("4gb", true)]
    #[case("12x", false)]
    #[case("-1g", false)]
    #[case("g", false)]
    #[case("1mg", false)]
    fn memory_sizes(#[case] v: &str, #[case] ok: bool) {
        assert_eq!(memory("driverMemory", &Some(v.into())).is_ok(), ok, "{v}");
    }

    #[test]
    fn caps_name_the_field_and_the_key() {
        let cap = 512 << 30;
        assert_eq!(memory_bytes("2g"), Some(2 << 30));
        assert_eq!(memory_bytes("1024"), Some(1 << 30), "no unit is MiB");
        assert!(memory_cap("driverMemory", &Some("512g".into()), cap, "k.m").is_ok());
        assert!(memory_cap("driverMemory", &None, cap, "k.m").is_ok());
        let err = memory_cap("driverMemory", &Some("513g".into()), cap, "k.m")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "driverMemory: 513g is more than this server allows (512g; k.m)"
        );
        let err = memory_cap("executorMemory", &Some("600000".into()), cap, "k.e")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("executorMemory: 600000 "), "{err}");
        assert!(count_cap("numExecutors", Some(10), 10, "k.n").is_ok());
        let err = count_cap("numExecutors", Some(11), 10, "k.n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "numExecutors: 11 is more than this server allows (10; k.n)"
        );
    }
}

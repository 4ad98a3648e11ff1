//! Livy's paging rules for lists and logs (shared/livy-api.md §1.3).

use std::collections::HashMap;

use super::error::ApiError;

/// Parses an optional integer query parameter the way Livy reports failures:
/// `{"msg":"For input string: \"x\""}`.
pub fn int_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    match q.get(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("For input string: \"{v}\""))),
    }
}

/// `[from, from+size)` of a list; `from` defaults to 0 and `size` to 100.
pub fn list_window(q: &HashMap<String, String>) -> Result<(usize, usize), ApiError> {
    let from = int_param(q, "from")?.unwrap_or(0).max(0) as usize;
    let size = int_param(q, "size")?.unwrap_or(100).max(0) as usize;
    Ok((from, size))
}

/// A list page in Livy's shape, `{"from","total","sessions"}` (batches use
/// the `sessions` key too); `total` counts every record the caller may see.
/// Serialised straight from the typed views (no JSON tree in between).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ListBody<V> {
    /// Index of the first record of this page.
    from: usize,
    /// Records the caller may view in all.
    total: usize,
    /// This page's records (batches too are under `sessions`, as in Livy).
    sessions: Vec<V>,
}

pub fn list_body<V: serde::Serialize>(from: usize, total: usize, sessions: Vec<V>) -> ListBody<V> {
    ListBody {
        from,
        total,
        sessions,
    }
}

/// Log paging: `size` defaults to 100 (negative: everything) and `from`
/// defaults to the tail, `max(0, total - size)`. Returns `(from, lines)`.
pub fn log_window(
    q: &HashMap<String, String>,
    all: Vec<String>,
) -> Result<(usize, Vec<String>), ApiError> {
    let total = all.len();
    let size = match int_param(q, "size")? {
        None => 100,
        Some(n) if n < 0 => total,
        Some(n) => n as usize,
    };
    let from = match int_param(q, "from")? {
        None => total.saturating_sub(size),
        Some(n) => (n.max(0) as usize).min(total),
    };
    let end = from.saturating_add(size).min(total);
    Ok((from, all.into_iter().skip(from).take(end - from).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn lines(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn log_defaults_to_the_tail() {
        let (from, got) = log_window(&q(&[]), lines(150)).unwrap();
        assert_eq!((from, got.len(), got[0].as_str()), (50, 100, "50"));
        let (from, got) = log_window(&q(&[("size", "10")]), lines(150)).unwrap();
        assert_eq!((from, got.first().map(String::as_str)), (140, Some("140")));
    }

    #[test]
    fn log_from_and_negative_size() {
        let (from, got) = log_window(&q(&[("from", "3"), ("size", "2")]), lines(10)).unwrap();
        assert_eq!((from, got), (3, vec!["3".to_string(), "4".to_string()]));
        let (from, got) = log_window(&q(&[("size", "-1")]), lines(10)).unwrap();
        assert_eq!((from, got.len()), (0, 10));
        let (from, got) = log_window(&q(&[("from", "50")]), lines(10)).unwrap();
        assert_eq!((from, got.len()), (10, 0));
    }

    #[test]
    fn non_numbers_are_livy_400s() {
        let err = log_window(&q(&[("from", "x")]), lines(1)).unwrap_err();
        assert_eq!(err.to_string(), "For input string: \"x\"");
    }
}

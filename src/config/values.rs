//! Value syntaxes shared by configuration and request validation.

use std::time::Duration;

/// Livy/Spark time strings: `500ms`, `30s`, `10m`, `1h`, `2d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a duration such as 30s, 10m or 1h".to_owned())?;
    let secs = |k: u64| Duration::from_secs(n.saturating_mul(k));
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" | "sec" | "secs" => Ok(secs(1)),
        "m" | "min" | "mins" => Ok(secs(60)),
        "h" => Ok(secs(3600)),
        "d" => Ok(secs(86_400)),
        other => Err(format!("unknown time unit {other:?}; use ms, s, m, h or d")),
    }
}

/// Spark size strings: `512`, `512k`, `100m`, `2g`, `1t` (optionally with `b`); bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a size such as 512m or 2g".to_owned())?;
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err("expected a size such as 512m or 2g".to_owned()),
    };
    Ok(n.saturating_mul(mult))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("600s", Some(600_000))]
    #[case("600", Some(600_000))]
    #[case("10m", Some(600_000))]
    #[case("1h", Some(3_600_000))]
    #[case("250ms", Some(250))]
    #[case("ten", None)]
    #[case("5y", None)]
    #[case("", None)]
    fn durations(#[case] text: &str, #[case] millis: Option<u128>) {
        assert_eq!(parse_duration(text).ok().map(|d| d.as_millis()), millis);
    }

    #[rstest]
    #[case("512", Some(512))]
    #[case("1k", Some(1024))]
    #[case("2g", Some(2 << 30))]
    #[case("2gb", Some(2 << 30))]
    #[case("1000M", Some(1000 << 20))]
    #[case("12x", None)]
    #[case("-1g", None)]
    #[case("g", None)]
    fn sizes(#[case] text: &str, #[case] bytes: Option<u64>) {
        assert_eq!(parse_bytes(text).ok(), bytes);
    }
}

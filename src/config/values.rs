//! Value syntaxes shared by configuration and request validation: one
//! parser per syntax, which both checks a value and returns it.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// The one true/false rule of the configuration: `true` or `false`, trimmed
/// and in any ASCII case (`TRUE`, ` False `). Empty (or only blanks) is
/// `false`: an empty value means "off", as it does for `auth.type` or
/// `deploy-mode`, and as the security flags always read it. Anything else
/// (`yes`, `1`, `on`) is an error rather than a guess.
pub fn parse_flag(text: &str) -> Result<bool, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if t.is_empty() || t.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".to_owned())
    }
}

/// A non-negative integer of type `T` (trimmed): `0`, `42`.
pub fn parse_number<T: FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a non-negative integer".to_owned())
}

/// An IPv4 or IPv6 address (trimmed): `0.0.0.0`, `::1`.
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected an IP address such as 0.0.0.0".to_owned())
}

/// `10000~10010` (Livy's syntax) or a single port.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let err = || "expected a port range such as 10000~10010".to_owned();
    let (a, b) = text.split_once('~').unwrap_or((text, text));
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| err())?,
        b.trim().parse().map_err(|_| err())?,
    );
    if a > b {
        return Err(err());
    }
    Ok((a, b))
}

/// A comma-separated list: items trimmed, empty items dropped (so an empty
/// value is an empty list).
pub fn parse_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

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
    #[case(" 30s ", Some(30_000))]
    #[case("2d", Some(172_800_000))]
    #[case("5 min", Some(300_000))]
    #[case("10M", Some(600_000))]
    #[case("1.5h", None)]
    #[case("-1s", None)]
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
    #[case(" 8k ", Some(8 << 10))]
    #[case("1t", Some(1 << 40))]
    #[case("0", Some(0))]
    #[case("1.5g", None)]
    #[case("", None)]
    fn sizes(#[case] text: &str, #[case] bytes: Option<u64>) {
        assert_eq!(parse_bytes(text).ok(), bytes);
    }

    #[rstest]
    #[case("true", Some(true))]
    #[case("false", Some(false))]
    #[case(" TRUE ", Some(true))]
    #[case("True", Some(true))]
    #[case("False", Some(false))]
    #[case("fAlSe\t", Some(false))]
    #[case("", Some(false))]
    #[case("   ", Some(false))]
    #[case("yes", None)]
    #[case("no", None)]
    #[case("1", None)]
    #[case("0", None)]
    #[case("on", None)]
    #[case("t", None)]
    #[case("true false", None)]
    fn flags(#[case] text: &str, #[case] want: Option<bool>) {
        assert_eq!(parse_flag(text).ok(), want);
    }

    #[rstest]
    #[case("10000~10010", Some((10000, 10010)))]
    #[case(" 10000 ~ 10010 ", Some((10000, 10010)))]
    #[case("0~0", Some((0, 0)))]
    #[case("8080", Some((8080, 8080)))]
    #[case("10010~10000", None)]
    #[case("10000-10010", None)]
    #[case("1~65536", None)]
    #[case("~", None)]
    #[case("", None)]
    fn port_ranges(#[case] text: &str, #[case] want: Option<(u16, u16)>) {
        assert_eq!(parse_port_range(text).ok(), want);
    }

    #[rstest]
    #[case("", &[])]
    #[case(" , ,", &[])]
    #[case("a", &["a"])]
    #[case(" a , b,,c ", &["a", "b", "c"])]
    #[case("/x/y,/z", &["/x/y", "/z"])]
    fn lists(#[case] text: &str, #[case] want: &[&str]) {
        assert_eq!(parse_list(text), want);
    }

    #[rstest]
    #[case("0.0.0.0", Some("0.0.0.0"))]
    #[case(" 127.0.0.1 ", Some("127.0.0.1"))]
    #[case("::1", Some("::1"))]
    #[case("localhost", None)]
    #[case("256.0.0.1", None)]
    #[case("", None)]
    fn ips(#[case] text: &str, #[case] want: Option<&str>) {
        assert_eq!(
            parse_ip(text).ok().map(|ip| ip.to_string()),
            want.map(str::to_owned)
        );
    }

    #[rstest]
    #[case("0", Some(0))]
    #[case(" 42 ", Some(42))]
    #[case("65535", Some(65535))]
    #[case("65536", None)]
    #[case("-1", None)]
    #[case("1e3", None)]
    #[case("", None)]
    fn numbers(#[case] text: &str, #[case] want: Option<u16>) {
        assert_eq!(parse_number::<u16>(text).ok(), want);
    }
}

//! What the CLI must not pass through to a terminal or echo: control
//! characters from the server (ANSI escape sequences could recolour, retitle
//! or rewrite the user's terminal) and the password of a `--url`.

use serde_json::Value;

/// `text` without control characters: escape sequences (CSI `ESC [ … final`,
/// OSC `ESC ] … BEL|ESC \`, C1 CSI, other `ESC x`) are dropped whole, other
/// C0/C1 controls and DEL dropped; line feeds and tabs are kept.
pub fn strip_controls(text: &str) -> String {
    if !text.chars().any(is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | '_' | '^') => skip_string(&mut chars),
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' => skip_string(&mut chars),
            c if is_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn is_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Parameters and intermediates up to the final byte (`@`..`~`).
fn skip_csi(chars: &mut impl Iterator<Item = char>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// Up to BEL, ST (`ESC \`) or C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<impl Iterator<Item = char>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// A server's JSON answer with every string (keys too) stripped of controls.
pub fn clean(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(strip_controls(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(clean).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (strip_controls(&k), clean(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A server URL as it may be shown: its password (`user:pw@`) replaced by
/// `***`, whether or not the URL parses.
pub fn shown_url(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..start],
        &authority[..colon],
        &url[start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_dropped() {
        for (raw, want) in [
            ("plain\ttext\nnext", "plain\ttext\nnext"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}]0;pwned title\u{7}after", "after"),
            ("\u{1b}]8;;http://x\u{1b}\\link", "link"),
            ("a\u{9b}2Jb", "ab"),
            ("bell\u{7}\r\u{8}back\u{7f}", "bellback"),
            ("\u{1b}c reset", " reset"),
            ("ünïcödé ✓", "ünïcödé ✓"),
        ] {
            assert_eq!(strip_controls(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn json_strings_and_keys_are_cleaned() {
        let v = serde_json::json!({"a\u{1b}[1m": ["x\u{1b}[2Jy", 1, null], "n": {"m": "\u{7}z"}});
        assert_eq!(
            clean(v),
            serde_json::json!({"a": ["xy", 1, null], "n": {"m": "z"}})
        );
    }

    #[test]
    fn url_passwords_are_masked() {
        for (raw, want) in [
            ("http://u:hunter2@h:8998/x", "http://u:***@h:8998/x"),
            ("https://u:p@ss@h", "https://u:***@h"),
            ("http://u@h:1", "http://u@h:1"),
            ("http://h:1/a@b:c", "http://h:1/a@b:c"),
            ("u:pw@h:1", "u:***@h:1"),
            ("::", "::"),
        ] {
            assert_eq!(shown_url(raw), want, "{raw}");
        }
    }
}

//! Client-supplied text in the server's own log: control characters (ANSI
//! escapes, CR/LF) and Unicode line/paragraph separators are shown escaped,
//! so a request cannot forge log lines or drive the operator's terminal.

use std::fmt;

/// Displays `self.0` with control characters, U+2028 and U+2029 escaped
/// (`\u{1b}`, `\n`, …); everything else, quotes included, as is.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(needs_escape) {
            f.write_str(&rest[..at])?;
            let mut chars = rest[at..].chars();
            if let Some(c) = chars.next() {
                write!(f, "{}", c.escape_default())?;
            }
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::Escaped;
    use rstest::rstest;

    #[rstest]
    #[case("plain text, quotes \" and é", "plain text, quotes \" and é")]
    #[case("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m")]
    #[case("a\nfake line\r\t", "a\\nfake line\\r\\t")]
    #[case("x\u{2028}y\u{2029}z\u{85}", "x\\u{2028}y\\u{2029}z\\u{85}")]
    #[case("\u{7f}\u{0}", "\\u{7f}\\u{0}")]
    #[case("", "")]
    fn escapes_control_characters_only(#[case] raw: &str, #[case] shown: &str) {
        assert_eq!(Escaped(raw).to_string(), shown);
    }
}

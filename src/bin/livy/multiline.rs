//! When the shell's input is complete (a statement to send) and when Enter
//! only starts another line. The rule, per kind:
//! - an open `(`, `[` or `{`, or an open triple-quoted string, continues;
//! - a last line ending with `\` continues (pyspark keeps the backslash,
//!   Python's own continuation; other kinds have it removed);
//! - pyspark: a line ending with `:` opens a block, which a blank line ends.
//!
//! Pasted text is judged as a whole when Enter is pressed after it.

use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Completer, Helper, Highlighter, Hinter};

use crate::cli::Kind;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Code,
    /// In a one-line string opened by this quote.
    Str(char),
    /// In a triple-quoted string opened by this quote.
    Triple(char),
    Comment,
}

/// What the scanner saw: open brackets, and whether a string is still open.
struct Depth {
    brackets: i64,
    in_triple: bool,
}

fn comment_start(kind: Kind, c: char, next: Option<char>) -> bool {
    match kind {
        Kind::Pyspark | Kind::Sparkr => c == '#',
        Kind::Spark => c == '/' && next == Some('/'),
        Kind::Sql => c == '-' && next == Some('-'),
    }
}

fn scan(kind: Kind, text: &str) -> Depth {
    let chars: Vec<char> = text.chars().collect();
    let mut state = Scan::Code;
    let mut brackets = 0i64;
    let mut i = 0;
    let triple_at = |i: usize, q: char| {
        chars
            .get(i..i + 3)
            .is_some_and(|s| s.iter().all(|&c| c == q))
    };
    while i < chars.len() {
        let c = chars[i];
        match state {
            Scan::Code => {
                if comment_start(kind, c, chars.get(i + 1).copied()) {
                    state = Scan::Comment;
                } else if matches!(c, '"' | '\'') && kind != Kind::Sql && triple_at(i, c) {
                    state = Scan::Triple(c);
                    i += 2;
                } else if matches!(c, '"' | '\'' | '`') {
                    state = Scan::Str(c);
                } else if matches!(c, '(' | '[' | '{') {
                    brackets += 1;
                } else if matches!(c, ')' | ']' | '}') {
                    brackets -= 1;
                }
            }
            Scan::Str(q) => {
                if c == '\\' {
                    i += 1;
                } else if c == q || c == '\n' {
                    // A newline ends an unterminated one-line string: the
                    // interpreter will report it, the shell must not hang.
                    state = Scan::Code;
                }
            }
            Scan::Triple(q) => {
                if c == '\\' {
                    i += 1;
                } else if triple_at(i, q) {
                    state = Scan::Code;
                    i += 2;
                }
            }
            Scan::Comment => {
                if c == '\n' {
                    state = Scan::Code;
                }
            }
        }
        i += 1;
    }
    Depth {
        brackets,
        in_triple: matches!(state, Scan::Triple(_)),
    }
}

/// Whether `text` (everything typed so far) is a complete statement.
pub fn is_complete(kind: Kind, text: &str) -> bool {
    if text.trim().is_empty() {
        return true;
    }
    let depth = scan(kind, text);
    if depth.brackets > 0 || depth.in_triple {
        return false;
    }
    let last = text.rsplit('\n').next().unwrap_or("");
    if last.trim_end().ends_with('\\') {
        return false;
    }
    if kind == Kind::Pyspark {
        let opens_block = text
            .lines()
            .any(|l| strip_comment(l).trim_end().ends_with(':'));
        if opens_block && !last.trim().is_empty() {
            return false;
        }
    }
    true
}

fn strip_comment(line: &str) -> &str {
    // Good enough for the block rule: a `#` inside a string only hides a
    // trailing `:` that then needs the blank line anyway.
    line.split('#').next().unwrap_or(line)
}

/// The code to send for a complete input: trailing blank lines dropped;
/// for kinds other than pyspark, line-continuation backslashes removed.
pub fn code_to_send(kind: Kind, text: &str) -> String {
    let trimmed = text.trim_end();
    if kind == Kind::Pyspark {
        return trimmed.to_owned();
    }
    trimmed
        .lines()
        .map(|l| {
            let t = l.trim_end();
            t.strip_suffix('\\').unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rustyline helper: only a validator (no completion, no colours).
#[derive(Completer, Helper, Highlighter, Hinter)]
pub struct InputHelper {
    pub kind: Kind,
}

impl Validator for InputHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(self.kind, ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Kind::Pyspark, "1 + 1", true)]
    #[case(Kind::Pyspark, "def f(p):", false)]
    #[case(Kind::Pyspark, "def f(p):\n    return p", false)]
    #[case(Kind::Pyspark, "def f(p):\n    return p\n", true)]
    #[case(Kind::Pyspark, "def f(p):\n    return p\n\ncount = f(1)", false)]
    #[case(Kind::Pyspark, "x = {'a': 1}", true)]
    #[case(Kind::Pyspark, "x = sc.parallelize(r) \\", false)]
    #[case(Kind::Pyspark, "x = sc.parallelize(r) \\\n    .count()", true)]
    #[case(Kind::Pyspark, "print(\"(\")", true)]
    #[case(Kind::Pyspark, "f(1,  # (\n", false)]
    #[case(Kind::Pyspark, "s = \"\"\"a\n(", false)]
    #[case(Kind::Pyspark, "s = \"\"\"a\n(\"\"\"", true)]
    #[case(Kind::Pyspark, "x = 'unterminated", true)]
    #[case(Kind::Pyspark, "   ", true)]
    #[case(Kind::Spark, "val count = sc.parallelize(1 to 3).map { i =>", false)]
    #[case(
        Kind::Spark,
        "val count = sc.parallelize(1 to 3).map { i =>\ni\n}.reduce(_ + _);",
        true
    )]
    #[case(Kind::Spark, "println(\"}\") // {", true)]
    #[case(Kind::Spark, "if (x) 1 else 0:", true)]
    #[case(Kind::Sparkr, "f <- function(e) {", false)]
    #[case(Kind::Sparkr, "f <- function(e) {\n  e # }\n}", true)]
    #[case(Kind::Sql, "SELECT ('(')", true)]
    #[case(Kind::Sql, "SELECT * FROM t -- (", true)]
    #[case(Kind::Sql, "SELECT (1", false)]
    fn completeness(#[case] kind: Kind, #[case] text: &str, #[case] complete: bool) {
        assert_eq!(is_complete(kind, text), complete, "{text:?}");
    }

    #[test]
    fn code_sent() {
        assert_eq!(code_to_send(Kind::Pyspark, "a \\\n b\n\n"), "a \\\n b");
        assert_eq!(
            code_to_send(Kind::Spark, "val a = 1 +\\\n 2\n"),
            "val a = 1 +\n 2"
        );
    }
}

//! Java-properties-style files (`livy.conf`, `spark-defaults.conf`): `key = value`,
//! `key: value` or `key value`, `#`/`!` comments, `\` line continuations.

/// Parses properties text into (line number, key, value) triples, in file order.
pub fn parse(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((idx, raw)) = lines.next() {
        let mut line = raw.trim_start().to_owned();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        while line.ends_with('\\') && !line.ends_with("\\\\") {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.trim_start()),
                None => break,
            }
        }
        let split = line
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(line.len());
        let key = line[..split].trim().to_owned();
        let mut rest = line[split..].trim_start();
        if let Some(stripped) = rest.strip_prefix(['=', ':']) {
            rest = stripped.trim_start();
        }
        out.push((idx + 1, key, rest.trim_end().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_the_separators_livy_and_spark_use() {
        let text = "# comment\n! also\n\nlivy.server.port = 9000\nspark.master  spark://h:7077\na:b\nlong = one,\\\n   two\nempty=\n";
        let got: Vec<(String, String)> = parse(text).into_iter().map(|(_, k, v)| (k, v)).collect();
        let want = [
            ("livy.server.port", "9000"),
            ("spark.master", "spark://h:7077"),
            ("a", "b"),
            ("long", "one,two"),
            ("empty", ""),
        ];
        assert_eq!(got.len(), want.len());
        for ((k, v), (wk, wv)) in got.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
    }
}

//! BIND key files, as `tsig-keygen` writes them and `named.conf` includes them:
//!
//! ```text
//! // comments: //, # and /* ... */
//! key "ddns-update" {
//!     algorithm hmac-sha256;
//!     secret "base64...";
//! };
//! key other-key { algorithm hmac-sha512; secret "..."; };
//! ```
//!
//! Names may be quoted or not; a file may hold several keys and other statements (they are
//! skipped). Errors never quote the file: it holds secrets.

/// One `key` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub name: String,
    pub algorithm: Option<String>,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
}

/// Splits the text into tokens with their line numbers, leaving out comments.
fn tokens(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let start = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("a /* comment opened on line {start} is never closed")),
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some('\n') => line += 1,
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("a quoted string opened on line {start} is never closed")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            i += 2;
                            continue;
                        }
                        Some(&ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            s.push(ch);
                        }
                    }
                    i += 1;
                }
                out.push((Token::Quoted(s), start));
            }
            '{' => {
                out.push((Token::Open, line));
                i += 1;
            }
            '}' => {
                out.push((Token::Close, line));
                i += 1;
            }
            ';' => {
                out.push((Token::Semi, line));
                i += 1;
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || matches!(ch, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    if ch == '/' && matches!(chars.get(i + 1), Some('/' | '*')) {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                out.push((Token::Word(s), line));
            }
        }
    }
    Ok(out)
}

/// Whether the text has the shape of a key file (a `key` statement), rather than a secret
/// on its own.
pub fn looks_like_key_file(text: &str) -> bool {
    tokens(text).is_ok_and(|t| {
        t.windows(3).any(|w| {
            matches!(&w[0].0, Token::Word(k) if k.eq_ignore_ascii_case("key"))
                && matches!(&w[1].0, Token::Word(_) | Token::Quoted(_))
                && w[2].0 == Token::Open
        })
    })
}

/// Every `key` statement in the file, in order. Other statements are skipped whole.
pub fn parse(text: &str) -> Result<Vec<KeyEntry>, String> {
    let tokens = tokens(text)?;
    let mut keys = Vec::new();
    let mut i = 0;
    let at = |i: usize| {
        tokens
            .get(i)
            .map(|(_, l)| *l)
            .unwrap_or_else(|| tokens.last().map_or(1, |(_, l)| *l))
    };
    while i < tokens.len() {
        let is_key = matches!(&tokens[i].0, Token::Word(w) if w.eq_ignore_ascii_case("key"))
            && matches!(tokens.get(i + 2).map(|t| &t.0), Some(Token::Open));
        if !is_key {
            i = skip_statement(&tokens, i).map_err(|line| format!("unbalanced braces near line {line}"))?;
            continue;
        }
        let name = match &tokens[i + 1].0 {
            Token::Word(n) | Token::Quoted(n) => n.clone(),
            _ => return Err(format!("a key statement without a name on line {}", at(i))),
        };
        let mut entry = KeyEntry {
            name,
            algorithm: None,
            secret: None,
        };
        i += 3;
        loop {
            match tokens.get(i).map(|t| &t.0) {
                None => {
                    return Err(format!(
                        "key `{}` (line {}) is never closed with `}};`",
                        entry.name,
                        at(i)
                    ));
                }
                Some(Token::Close) => {
                    i += 1;
                    if matches!(tokens.get(i).map(|t| &t.0), Some(Token::Semi)) {
                        i += 1;
                    }
                    break;
                }
                Some(Token::Semi) => i += 1,
                Some(Token::Word(clause)) => {
                    let clause = clause.to_ascii_lowercase();
                    // A word that is no clause may be a secret out of place: never quote it.
                    let shown = if matches!(clause.as_str(), "algorithm" | "secret") {
                        format!("`{clause}`")
                    } else {
                        "a clause".to_string()
                    };
                    let value = match tokens.get(i + 1).map(|t| &t.0) {
                        Some(Token::Word(v) | Token::Quoted(v)) => v.clone(),
                        _ => {
                            return Err(format!(
                                "{shown} without a value in key `{}` on line {}",
                                entry.name,
                                at(i)
                            ));
                        }
                    };
                    if !matches!(tokens.get(i + 2).map(|t| &t.0), Some(Token::Semi)) {
                        return Err(format!(
                            "a `;` is missing after {shown} in key `{}` on line {}",
                            entry.name,
                            at(i)
                        ));
                    }
                    match clause.as_str() {
                        "algorithm" => entry.algorithm = Some(value.to_ascii_lowercase()),
                        "secret" => entry.secret = Some(value),
                        _ => {}
                    }
                    i += 3;
                }
                Some(_) => return Err(format!("unexpected text in key `{}` on line {}", entry.name, at(i))),
            }
        }
        keys.push(entry);
    }
    Ok(keys)
}

/// The index after the statement starting at `i` (up to its `;`, braces balanced), or the
/// line where the braces do not balance.
fn skip_statement(tokens: &[(Token, usize)], mut i: usize) -> Result<usize, usize> {
    let mut depth = 0usize;
    while let Some((t, line)) = tokens.get(i) {
        i += 1;
        match t {
            Token::Open => depth += 1,
            Token::Close if depth == 0 => return Err(*line),
            Token::Close => depth -= 1,
            Token::Semi if depth == 0 => return Ok(i),
            _ => {}
        }
    }
    if depth > 0 {
        return Err(tokens.last().map_or(1, |(_, l)| *l));
    }
    Ok(i)
}

/// Whether two key names are the same DNS name (case and a trailing dot do not matter).
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_whatever_the_comments_and_quoting() {
        let text = "# one\nkey \"a\" { algorithm HMAC-SHA256; secret \"c2VjcmV0\"; };\n\
                    options { directory \"/var\"; };\n\
                    // two\nkey b { secret \"b3RoZXI=\"; /* inline */ algorithm hmac-sha512; };";
        let keys = parse(text).unwrap();
        assert_eq!(
            keys,
            vec![
                KeyEntry {
                    name: "a".into(),
                    algorithm: Some("hmac-sha256".into()),
                    secret: Some("c2VjcmV0".into())
                },
                KeyEntry {
                    name: "b".into(),
                    algorithm: Some("hmac-sha512".into()),
                    secret: Some("b3RoZXI=".into())
                },
            ]
        );
        assert!(looks_like_key_file(text));
        assert!(!looks_like_key_file("c2VjcmV0\n"));
    }

    #[test]
    fn broken_files_say_where_without_quoting_them() {
        for (text, words) in [
            ("key \"a\" { secret \"c2Vj", "never closed"),
            ("key a { secret \"c2VjcmV0\" }; ", "`;` is missing"),
            ("/* open", "never closed"),
            ("key a { algorithm hmac-sha256;", "never closed"),
            // The secret written where a clause belongs, without `secret` in front.
            ("key a { c2VjcmV0LXRleHQ; };", "without a value"),
            ("key a { c2VjcmV0LXRleHQ \"x\" };", "`;` is missing"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(words), "{text}: {e}");
            assert!(!e.to_ascii_lowercase().contains("c2vj"), "{e}");
        }
    }
}

//! `${name}` templates. Runbook variables are substituted when the runbook is loaded;
//! what remains refers to values a step produces while the run is under way (for
//! example an address captured by an earlier step) and is filled in just before use.
//! `$${` writes a literal `${`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Lit(String),
    Var(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    segments: Vec<Segment>,
}

/// A malformed `${…}` at a byte offset within the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        if text.is_empty() {
            return Self::default();
        }
        Self {
            segments: vec![Segment::Lit(text)],
        }
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(at) = rest.find('$') {
            lit.push_str(&rest[..at]);
            let after = &rest[at..];
            if let Some(escaped) = after.strip_prefix("$${") {
                lit.push_str("${");
                rest = escaped;
                offset += at + 3;
            } else if after.starts_with("${") {
                let Some(close) = after.find('}') else {
                    return Err(TemplateError {
                        offset: offset + at,
                        message: "unterminated `${`: add the closing `}` (write `$${` for a literal `${`)".to_string(),
                    });
                };
                let name = &after[2..close];
                if !is_valid_name(name) {
                    return Err(TemplateError {
                        offset: offset + at,
                        message: format!(
                            "`${{{name}}}` is not a variable reference: names use letters, digits and `_` and start with a letter or `_`"
                        ),
                    });
                }
                if !lit.is_empty() {
                    segments.push(Segment::Lit(std::mem::take(&mut lit)));
                }
                segments.push(Segment::Var(name.to_string()));
                rest = &after[close + 1..];
                offset += at + close + 1;
            } else {
                lit.push('$');
                rest = &after[1..];
                offset += at + 1;
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            segments.push(Segment::Lit(lit));
        }
        Ok(Self { segments })
    }

    /// The names this template still refers to, in order of appearance.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(v) => Some(v.as_str()),
            Segment::Lit(_) => None,
        })
    }

    /// The plain text when nothing is left to fill in.
    pub fn as_literal(&self) -> Option<String> {
        if self.vars().next().is_some() {
            return None;
        }
        Some(self.literal_text())
    }

    fn literal_text(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Lit(l) => l.as_str(),
                Segment::Var(_) => "",
            })
            .collect()
    }

    /// Fills in the variables `lookup` knows and keeps the others as references.
    pub fn substitute(&self, lookup: &dyn Fn(&str) -> Option<Template>) -> Template {
        let mut segments = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Var(name) => match lookup(name) {
                    Some(t) => segments.extend(t.segments),
                    None => segments.push(seg.clone()),
                },
                Segment::Lit(_) => segments.push(seg.clone()),
            }
        }
        Template { segments }.normalized()
    }

    /// The final text, or the first variable that has no value yet.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Lit(l) => out.push_str(l),
                Segment::Var(name) => out.push_str(&lookup(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(out)
    }

    fn normalized(self) -> Self {
        let mut segments: Vec<Segment> = Vec::new();
        for seg in self.segments {
            match (segments.last_mut(), seg) {
                (Some(Segment::Lit(prev)), Segment::Lit(next)) => prev.push_str(&next),
                (_, Segment::Lit(l)) if l.is_empty() => {}
                (_, seg) => segments.push(seg),
            }
        }
        Self { segments }
    }

    /// The template in source syntax (`${name}` for references, `$${` for a literal `${`).
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Lit(l) => out.push_str(&l.replace("${", "$${")),
                Segment::Var(v) => {
                    out.push_str("${");
                    out.push_str(v);
                    out.push('}');
                }
            }
        }
        out
    }
}

/// Why `name` cannot name a step's output (a capture, an exposed address), if it cannot.
/// Later commands get outputs as environment variables, so names the shell or the programs it
/// starts use themselves are refused.
pub fn output_name_problem(name: &str) -> Option<&'static str> {
    const RESERVED: &[&str] = &[
        "PATH",
        "HOME",
        "IFS",
        "ENV",
        "BASH_ENV",
        "SHELL",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PWD",
        "OLDPWD",
        "CDPATH",
        "GLOBIGNORE",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "TERM",
        "LANG",
        "KUBECONFIG",
    ];
    const RESERVED_PREFIXES: &[&str] = &["LD_", "DYLD_", "LC_", "CUTOVER_"];
    if !is_valid_name(name) {
        Some("not a variable name")
    } else if RESERVED.contains(&name)
        || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || name.to_ascii_lowercase().ends_with("_proxy")
    {
        Some(
            "a name the shell or the programs it starts use themselves (later commands get outputs as environment variables)",
        )
    } else {
        None
    }
}

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_source())
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_source())
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Template::parse(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_cannot_take_names_the_shell_uses() {
        for ok in ["lb_ip", "auth", "path", "VERSION", "baseline_error_rate"] {
            assert_eq!(output_name_problem(ok), None, "{ok}");
        }
        for reserved in [
            "PATH",
            "IFS",
            "BASH_ENV",
            "LD_PRELOAD",
            "CUTOVER_STEP",
            "https_proxy",
            "NO_PROXY",
        ] {
            assert!(
                output_name_problem(reserved).unwrap().contains("the shell"),
                "{reserved}"
            );
        }
        assert_eq!(output_name_problem("lb-ip"), Some("not a variable name"));
    }

    #[test]
    fn parses_references_and_escapes() {
        let t = Template::parse("https://${host}:${port}/$${literal}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["host", "port"]);
        assert_eq!(t.to_source(), "https://${host}:${port}/$${literal}");
        let rendered = t
            .render(&|n| Some(if n == "host" { "a".into() } else { "1".into() }))
            .unwrap();
        assert_eq!(rendered, "https://a:1/${literal}");
    }

    #[test]
    fn substitution_keeps_unknown_references() {
        let t = Template::parse("${zone}/${lb_ip}").unwrap();
        let out = t.substitute(&|n| (n == "zone").then(|| Template::literal("example.test")));
        assert_eq!(out.to_source(), "example.test/${lb_ip}");
        assert_eq!(out.as_literal(), None);
    }

    #[test]
    fn unterminated_reference_is_an_error_at_its_offset() {
        let err = Template::parse("ab${zone").unwrap_err();
        assert_eq!(err.offset, 2);
    }

    #[test]
    fn a_lone_dollar_is_literal() {
        let t = Template::parse("costs $5 and $HOME").unwrap();
        assert_eq!(t.as_literal().unwrap(), "costs $5 and $HOME");
    }
}

//! Keeps secrets out of everything the tool writes or shows. A secret is the value of
//! an environment variable whose name contains PASSWORD, SECRET, KEY or TOKEN, or a
//! value the runbook reads from the environment (`headers_env`). Every event passes
//! through here before it is journaled.

use crate::engine::RunEvent;

pub const MASK: &str = "[redacted]";

/// How a secret inside a value that later steps use (a captured output) is kept in the
/// journal: a reference to where the secret comes from, `[redacted: environment variable
/// API_TOKEN]`, which this process turns back into the value just before the value is used.
const SEAL_OPEN: &str = "[redacted: ";
const SEAL_CLOSE: &str = "]";

/// Names of environment variables whose values are treated as secrets.
const SECRET_NAME_PARTS: &[&str] = &["PASSWORD", "SECRET", "KEY", "TOKEN"];

/// Values shorter than this, taken from the environment by name alone, are not masked:
/// masking `1` or `yes` everywhere would make the journal unreadable.
const MIN_ENV_SECRET_LEN: usize = 4;

/// The shortest end of a secret masked where output was cut through it.
const MIN_CUT_PART: usize = 2;

#[derive(Debug, Clone)]
struct Secret {
    /// Where it comes from, e.g. `environment variable DB_PASSWORD`: never the value.
    source: String,
    value: String,
}

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<Secret>,
}

pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
}

impl Redactor {
    /// Secrets from this process's environment.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars())
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut r = Self::default();
        for (name, value) in vars {
            if is_secret_env_name(&name) && value.chars().count() >= MIN_ENV_SECRET_LEN {
                r.add(&format!("environment variable {name}"), &value);
            }
        }
        r
    }

    /// A value known to be secret: always masked, whatever its length. Each secret keeps a
    /// source of its own (`… (2)` for a second value from the same place), so a sealed value
    /// names exactly one.
    pub fn add(&mut self, source: &str, secret: &str) {
        let value = secret.trim_end_matches(['\n', '\r']);
        if value.is_empty() || self.secrets.iter().any(|s| s.value == value) {
            return;
        }
        let taken = |name: &str| self.secrets.iter().any(|s| s.source == name);
        let mut unique = source.to_string();
        let mut n = 1;
        while taken(&unique) {
            n += 1;
            unique = format!("{source} ({n})");
        }
        self.secrets.push(Secret {
            source: unique,
            value: value.to_string(),
        });
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.value.as_str()) {
                out = out.replace(s.value.as_str(), MASK);
            }
        }
        out
    }

    /// Like `redact`, for text whose beginning was cut off: the end of a secret that the
    /// cut went through is masked too.
    pub fn redact_cut(&self, text: &str) -> String {
        let mut out = self.redact(text);
        for s in &self.secrets {
            let longest = s
                .value
                .char_indices()
                .skip(1)
                .map(|(i, _)| &s.value[i..])
                .find(|suffix| suffix.chars().count() >= MIN_CUT_PART && out.starts_with(suffix));
            if let Some(suffix) = longest {
                out = format!("{MASK}{}", &out[suffix.len()..]);
            }
        }
        out
    }

    /// `text` for the journal, with each secret replaced by a reference to its source
    /// instead of the mask, so `unseal` can give a later step the real value.
    pub fn seal(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.value.as_str()) {
                out = out.replace(s.value.as_str(), &format!("{SEAL_OPEN}{}{SEAL_CLOSE}", s.source));
            }
        }
        out
    }

    /// A sealed text with its secrets back, for use in memory only. Fails with the source
    /// of a secret this process does not know (an environment variable not set since the
    /// value was captured, say).
    pub fn unseal(&self, text: &str) -> Result<String, String> {
        if !text.contains(SEAL_OPEN) {
            return Ok(text.to_string());
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(SEAL_OPEN) {
            out.push_str(&rest[..at]);
            let after = &rest[at + SEAL_OPEN.len()..];
            let known = self.secrets.iter().find(|s| {
                after
                    .strip_prefix(s.source.as_str())
                    .is_some_and(|tail| tail.starts_with(SEAL_CLOSE))
            });
            match known {
                Some(s) => {
                    out.push_str(&s.value);
                    rest = &after[s.source.len() + SEAL_CLOSE.len()..];
                }
                None => {
                    let source = after.split(SEAL_CLOSE).next().unwrap_or(after);
                    return Err(source.to_string());
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Whether `text` contains any secret.
    pub fn leaks(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.value.as_str()))
    }

    /// Where the first secret found in `text` comes from (never the value itself).
    pub fn leak_source(&self, text: &str) -> Option<&str> {
        self.secrets
            .iter()
            .find(|s| text.contains(s.value.as_str()))
            .map(|s| s.source.as_str())
    }

    /// The event with every secret masked in its free texts.
    pub fn redact_event(&self, event: RunEvent) -> RunEvent {
        if self.secrets.is_empty() {
            return event;
        }
        event.map_text(&mut |text| self.redact(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Evidence, Failure};

    #[test]
    fn masks_values_of_secret_named_variables() {
        let r = Redactor::from_vars([
            ("DB_PASSWORD".to_string(), "hunter2hunter2".to_string()),
            ("api_token".to_string(), "tok-123456".to_string()),
            ("HOME".to_string(), "/root".to_string()),
            ("SHORT_KEY".to_string(), "1".to_string()),
        ]);
        assert_eq!(
            r.redact("pw=hunter2hunter2 t=tok-123456 home=/root k=1"),
            "pw=[redacted] t=[redacted] home=/root k=1"
        );
        assert_eq!(r.leak_source("x tok-123456"), Some("environment variable api_token"));
    }

    #[test]
    fn a_sealed_value_names_its_secrets_and_unseals_to_the_original() {
        let vars = || {
            [
                ("API_TOKEN".to_string(), "tok-\"$`x'1".to_string()),
                ("API_TOKEN_OLD".to_string(), "older-token".to_string()),
            ]
        };
        let mut r = Redactor::from_vars(vars());
        r.add("the kubeconfig credentials of user ops", "first-credential");
        r.add("the kubeconfig credentials of user ops", "second-credential");
        let captured = "Bearer tok-\"$`x'1 then older-token, first-credential/second-credential";
        let sealed = r.seal(captured);
        assert!(!r.leaks(&sealed), "{sealed}");
        assert_eq!(
            sealed,
            "Bearer [redacted: environment variable API_TOKEN] then [redacted: environment variable API_TOKEN_OLD], \
             [redacted: the kubeconfig credentials of user ops]/[redacted: the kubeconfig credentials of user ops (2)]"
        );
        // The journal's redaction leaves a sealed value as it is.
        assert_eq!(r.redact(&sealed), sealed);
        // A new process with the same environment gets the value back.
        let mut again = Redactor::from_vars(vars());
        again.add("the kubeconfig credentials of user ops", "first-credential");
        again.add("the kubeconfig credentials of user ops", "second-credential");
        assert_eq!(again.unseal(&sealed).unwrap(), captured);
        assert_eq!(again.unseal("plain [redacted] text").unwrap(), "plain [redacted] text");
        // One without the variable says which secret it lacks.
        let without = Redactor::from_vars([("API_TOKEN".to_string(), "tok-\"$`x'1".to_string())]);
        assert_eq!(
            without.unseal(&sealed).unwrap_err(),
            "environment variable API_TOKEN_OLD"
        );
    }

    #[test]
    fn masks_the_end_of_a_secret_that_a_cut_went_through() {
        let mut r = Redactor::default();
        r.add("test", "s3cr3t-d3pl0y-t0k3n");
        assert_eq!(r.redact_cut("t0k3n and more"), "[redacted] and more");
        assert_eq!(r.redact_cut("plain output"), "plain output");
    }

    #[test]
    fn events_stay_well_formed_when_a_secret_looks_like_a_time() {
        // A secret equal to a year must not break timestamps: only free text is masked.
        let mut r = Redactor::default();
        r.add("test", "2026");
        let event = RunEvent::StepFailed {
            step: "a".into(),
            failure: Failure {
                message: "token 2026 refused".into(),
                advice: None,
                evidence: Evidence::Command {
                    exit_code: Some(1),
                    elapsed_ms: 2026,
                    stdout: "2026".into(),
                    stderr: String::new(),
                },
                ..Failure::default()
            },
        };
        match r.redact_event(event) {
            RunEvent::StepFailed { failure, .. } => {
                assert_eq!(failure.message, "token [redacted] refused");
                assert!(
                    matches!(failure.evidence, Evidence::Command { elapsed_ms: 2026, ref stdout, .. } if stdout == "[redacted]")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

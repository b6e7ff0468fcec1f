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
    /// Where it comes from, e.g. `environment variable DB_PASSWORD`: never the value. One
    /// value can come from several places (two variables holding the same token); they are
    /// kept sorted, and the first names the secret in sealed text, so the name does not
    /// depend on the order the sources were read in.
    sources: Vec<String>,
    value: String,
}

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<Secret>,
}

/// The source named by a reference (`[redacted: SOURCE]`) at the start of `text`, and the
/// reference's length.
fn reference(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix(SEAL_OPEN)?;
    let end = inner.find(SEAL_CLOSE)?;
    Some((&inner[..end], SEAL_OPEN.len() + end + SEAL_CLOSE.len()))
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

    /// A value known to be secret: always masked, whatever its length.
    pub fn add(&mut self, source: &str, secret: &str) {
        // A reference ends at the first `]`: a source name (a kubeconfig user's) has none.
        let source = &source.replace(SEAL_CLOSE, ")");
        let value = secret.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return;
        }
        if let Some(known) = self.secrets.iter_mut().find(|s| s.value == value) {
            if !known.sources.iter().any(|s| s == source) {
                known.sources.push(source.to_string());
                known.sources.sort();
            }
            return;
        }
        self.secrets.push(Secret {
            sources: vec![source.to_string()],
            value: value.to_string(),
        });
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    }

    pub fn redact(&self, text: &str) -> String {
        self.replace_secrets(text, &|_| MASK.to_string())
    }

    /// One pass over `text`, the longest secret first at each place, each secret found
    /// replaced by `mark(secret)`. A reference `seal` wrote (to a source this redactor knows)
    /// is kept whole, so a secret that happens to be a word of a source name ("password")
    /// never breaks one.
    fn replace_secrets(&self, text: &str, mark: &dyn Fn(&Secret) -> String) -> String {
        if !self.leaks(text) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            if let Some(len) = self.reference_at(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
            for s in &self.secrets {
                if let Some(after) = rest.strip_prefix(s.value.as_str()) {
                    out.push_str(&mark(s));
                    rest = after;
                    continue 'scan;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    /// The length of a reference to a known source at the start of `text`, if there is one.
    fn reference_at(&self, text: &str) -> Option<usize> {
        let (source, len) = reference(text)?;
        self.by_source(source).map(|_| len)
    }

    /// The secret that comes from `source` (under any of its names).
    fn by_source(&self, source: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.sources.iter().any(|n| n == source))
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

    /// `text` (a captured value) for the journal, with each secret replaced by a reference
    /// to its source instead of the mask, so `unseal` can give a later step the real value.
    /// Text that already looks like a reference is refused: unsealing it would hand a later
    /// step whatever secret it names.
    pub fn seal(&self, text: &str) -> Result<String, String> {
        if text.contains(SEAL_OPEN) {
            return Err(format!("it contains `{SEAL_OPEN}`, which cutover uses to mark secrets"));
        }
        Ok(self.replace_secrets(text, &|s| format!("{SEAL_OPEN}{}{SEAL_CLOSE}", s.sources[0])))
    }

    /// A sealed text with its secrets back, for use in memory only. Fails with the source
    /// of a secret this process does not know (an environment variable not set since the
    /// value was captured, say).
    pub fn unseal(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(SEAL_OPEN) {
            out.push_str(&rest[..at]);
            let Some((source, len)) = reference(&rest[at..]) else {
                out.push_str(&rest[at..]);
                return Ok(out);
            };
            let secret = self.by_source(source).ok_or_else(|| source.to_string())?;
            out.push_str(&secret.value);
            rest = &rest[at + len..];
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
            .map(|s| s.sources[0].as_str())
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
        let vars = [
            ("API_TOKEN".to_string(), "tok-\"$`x'1".to_string()),
            ("OTHER_KEY".to_string(), "another-key".to_string()),
        ];
        let mut r = Redactor::from_vars(vars.clone());
        r.add("the kubeconfig token of user ops", "first-credential");
        let captured = "Bearer tok-\"$`x'1 then first-credential, another-key";
        let sealed = r.seal(captured).unwrap();
        assert!(!r.leaks(&sealed), "{sealed}");
        assert_eq!(
            sealed,
            "Bearer [redacted: environment variable API_TOKEN] then [redacted: the kubeconfig token of user ops], \
             [redacted: environment variable OTHER_KEY]"
        );
        // A new process with the same secrets, read in another order, gets the value back.
        let mut again = Redactor::default();
        again.add("the kubeconfig token of user ops", "first-credential");
        for (name, value) in vars.iter().rev() {
            again.add(&format!("environment variable {name}"), value);
        }
        assert_eq!(again.unseal(&sealed).unwrap(), captured);
        assert_eq!(again.unseal("plain [redacted] text").unwrap(), "plain [redacted] text");
        // One without the variable says which secret it lacks.
        let without = Redactor::from_vars([("OTHER_KEY".to_string(), "another-key".to_string())]);
        assert_eq!(without.unseal(&sealed).unwrap_err(), "environment variable API_TOKEN");
    }

    #[test]
    fn a_value_from_two_sources_is_named_the_same_whatever_the_order() {
        let token = "ghp_0123456789abcdef".to_string();
        let both = [
            ("GITHUB_TOKEN".to_string(), token.clone()),
            ("GH_TOKEN".to_string(), token.clone()),
        ];
        let one = Redactor::from_vars(both.clone());
        let other = Redactor::from_vars(both.into_iter().rev());
        let sealed = one.seal(&token).unwrap();
        assert_eq!(sealed, other.seal(&token).unwrap());
        assert_eq!(sealed, "[redacted: environment variable GH_TOKEN]");
        // The reference names one of them (the first in order); a session needs that one.
        let only_github = Redactor::from_vars([("GITHUB_TOKEN".to_string(), token.clone())]);
        assert_eq!(
            only_github.unseal(&sealed).unwrap_err(),
            "environment variable GH_TOKEN"
        );
        let mut aliased = Redactor::from_vars([("GITHUB_TOKEN".to_string(), token.clone())]);
        aliased.add("environment variable GH_TOKEN", &token);
        assert_eq!(aliased.unseal(&sealed).unwrap(), token);
    }

    #[test]
    fn a_secret_that_is_a_word_of_a_source_name_does_not_break_a_reference() {
        let mut r = Redactor::from_vars([("ADMIN_PASSWORD".to_string(), "password".to_string())]);
        r.add("the kubeconfig password of user ops]x", "kube-pass-123");
        let sealed = r.seal("kube-pass-123 and password").unwrap();
        assert_eq!(
            sealed,
            "[redacted: the kubeconfig password of user ops)x] and [redacted: environment variable ADMIN_PASSWORD]"
        );
        // The journal's redaction passes over it: a reference holds no secret.
        assert_eq!(r.redact(&sealed), sealed);
        assert_eq!(r.unseal(&r.redact(&sealed)).unwrap(), "kube-pass-123 and password");
        // Outside a reference the word is still masked.
        assert_eq!(r.redact("the password is password"), "the [redacted] is [redacted]");
    }

    #[test]
    fn text_that_already_looks_like_a_sealed_secret_is_refused() {
        let r = Redactor::from_vars([("DEPLOY_TOKEN".to_string(), "s3cr3t-token".to_string())]);
        // Unsealing it would hand a later step the token the text names.
        let forged = "[redacted: environment variable DEPLOY_TOKEN]";
        assert!(r.seal(forged).unwrap_err().contains("cutover uses to mark secrets"));
        assert_eq!(r.seal("nothing secret here").unwrap(), "nothing secret here");
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

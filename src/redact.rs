//! Keeps secrets out of everything the tool writes or shows. A secret is the value of
//! an environment variable whose name contains PASSWORD, SECRET, KEY or TOKEN, or a
//! value the runbook reads through a `*_env` / `*_file` field. Every string that enters
//! the journal passes through here first.

use serde::Serialize;
use serde::de::DeserializeOwned;

pub const MASK: &str = "[redacted]";

/// Names of environment variables whose values are treated as secrets.
const SECRET_NAME_PARTS: &[&str] = &["PASSWORD", "SECRET", "KEY", "TOKEN"];

/// Values shorter than this, taken from the environment by name alone, are not masked:
/// masking `1` or `yes` everywhere would make the journal unreadable.
const MIN_ENV_SECRET_LEN: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
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
                r.add(&value);
            }
        }
        r
    }

    /// A value known to be secret (read through `*_env` or `*_file`): always masked.
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim_end_matches(['\n', '\r']);
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_string());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// Whether `text` contains any secret (used by tests and as a last check).
    pub fn leaks(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// Masks secrets in every string inside a serializable value.
    pub fn redact_value<T: Serialize + DeserializeOwned>(&self, value: T) -> T {
        if self.secrets.is_empty() {
            return value;
        }
        let Ok(mut json) = serde_json::to_value(&value) else {
            return value;
        };
        if !self.walk(&mut json) {
            return value;
        }
        serde_json::from_value(json).unwrap_or(value)
    }

    fn walk(&self, v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) if self.leaks(s) => {
                *s = self.redact(s);
                true
            }
            // Every element is walked: `any` would stop at the first change.
            serde_json::Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.walk(item);
                }
                changed
            }
            serde_json::Value::Object(map) => {
                let mut changed = false;
                for item in map.values_mut() {
                    changed |= self.walk(item);
                }
                changed
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn masks_inside_nested_values() {
        let mut r = Redactor::default();
        r.add("s3cr3t-value");
        let v: Vec<String> = r.redact_value(vec!["a s3cr3t-value b".to_string()]);
        assert_eq!(v, ["a [redacted] b"]);
    }
}

//! Secrets never live in a runbook: they come from environment variables (`*_env`) or
//! files (`*_file`). This scan refuses anything that looks like a secret written inline.

use super::diagnostic::Diagnostic;
use super::reader::Sink;
use super::tree::{Node, Table, Value};

/// Words that make a field or variable name a secret.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
];

/// Header names whose values are credentials.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "x-auth-token",
];

/// Whether a field or variable named `name` holds a secret (when not a `*_env`/`*_file` source).
pub fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("_env") || lower.ends_with("_file") {
        return false;
    }
    let parts: Vec<&str> = lower.split(['_', '-', '.']).collect();
    parts.iter().any(|p| SECRET_WORDS.contains(p)) || (parts.len() > 1 && parts.last() == Some(&"key"))
}

pub fn check_inline_secrets(root: &Table, sink: &Sink) {
    scan_table(root, "", sink);
}

fn scan_table(table: &Table, path: &str, sink: &Sink) {
    for (key, node) in &table.entries {
        let here = if path.is_empty() {
            key.name.clone()
        } else {
            format!("{path}.{}", key.name)
        };
        let is_scalar = matches!(node.value, Value::Str(_) | Value::Int(_) | Value::Float(_));
        if is_scalar && looks_secret(&key.name) {
            sink.push(
                Diagnostic::error("inline-secret", format!("`{here}` looks like a secret written into the runbook"), Some(node.span.clone()))
                    .with_help(format!(
                        "runbooks are shared and journaled: read it from the environment with `{0}_env = \"VAR_NAME\"` or from a file with `{0}_file = \"/path\"`",
                        key.name
                    ))
                    .masking_the_value(),
            );
        }
        if key.name == "headers" {
            check_headers(node, sink);
        }
        // `credentials_env = { api_key = "VAR" }`: the values name variables; the reader
        // refuses anything that is not a variable name, masking it.
        if key.name.ends_with("_env") && matches!(node.value, Value::Table(_)) {
            continue;
        }
        scan_node(node, &here, sink);
    }
}

/// A credential written inside a value: what it is, if one is found. References
/// (`${var}`, `$VAR`) are fine: the value comes from elsewhere.
pub fn secret_in_value(text: &str) -> Option<&'static str> {
    let is_reference = |v: &str| v.starts_with('$') || v.is_empty();
    // scheme://user:password@host
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let authority = &rest[at + 3..];
        let end = authority
            .find(['/', '?', '#', ' ', '"', '\''])
            .unwrap_or(authority.len());
        if let Some((userinfo, _)) = authority[..end].rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && !is_reference(password)
        {
            return Some("a password in a URL");
        }
        rest = &authority[end..];
    }
    // ?token=… &password=…
    let lower = text.to_ascii_lowercase();
    for name in [
        "token",
        "access_token",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
    ] {
        for sep in ['?', '&'] {
            let needle = format!("{sep}{name}=");
            if let Some(at) = lower.find(&needle) {
                let value = &text[at + needle.len()..];
                let end = value.find(['&', ' ', '"', '\'', '#']).unwrap_or(value.len());
                if !is_reference(&value[..end]) {
                    return Some("a credential in a URL query");
                }
            }
        }
    }
    // Authorization: Bearer … / Basic …
    for scheme in ["bearer ", "basic "] {
        if let Some(at) = lower.find(scheme) {
            let value = text[at + scheme.len()..].split_whitespace().next().unwrap_or("");
            let value = value.trim_matches(['"', '\'']);
            if value.len() >= 8 && !is_reference(value) {
                return Some("a credential after Bearer/Basic");
            }
        }
    }
    None
}

fn scan_node(node: &Node, path: &str, sink: &Sink) {
    if let Value::Str(text) = &node.value
        && let Some(what) = secret_in_value(text)
    {
        sink.push(
            Diagnostic::error(
                "inline-secret",
                format!("`{path}` holds {what}"),
                Some(node.span.clone()),
            )
            .with_help(
                "runbooks are shared and journaled: put the secret in an environment variable and refer to it \
                     ($VAR in a command, headers_env for HTTP headers)",
            )
            .masking_the_value(),
        );
    }
    match &node.value {
        Value::Table(t) => scan_table(t, path, sink),
        Value::Array(items) => {
            for item in items {
                scan_node(item, path, sink);
            }
        }
        _ => {}
    }
}

fn check_headers(node: &Node, sink: &Sink) {
    let Value::Table(headers) = &node.value else {
        return;
    };
    for (name, value) in &headers.entries {
        if SECRET_HEADERS.contains(&name.name.to_ascii_lowercase().as_str()) {
            sink.push(
                Diagnostic::error(
                    "inline-secret",
                    format!(
                        "header `{}` carries a credential and is written into the runbook",
                        name.name
                    ),
                    Some(value.span.clone()),
                )
                .with_help(format!(
                    "read it from the environment instead: headers_env = {{ {} = \"VAR_NAME\" }}",
                    name.name
                ))
                .masking_the_value(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_inside_values() {
        for text in [
            "postgres://app:hunter2@db.internal/app",
            "https://api.example.com/health?token=abc123",
            "curl -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9' https://x",
            "https://x/y?a=1&password=p4ss",
        ] {
            assert!(secret_in_value(text).is_some(), "{text}");
        }
        for text in [
            "postgres://app:${db_password}@db.internal/app",
            "https://user@example.com/",
            "curl -H \"Authorization: Bearer $TOKEN\" https://x",
            "https://api.example.com/health?tokens_total=3",
            "ssh vm-1 sudo systemctl stop cron",
        ] {
            assert_eq!(secret_in_value(text), None, "{text}");
        }
    }

    #[test]
    fn recognises_secret_names() {
        for name in [
            "password",
            "db_password",
            "api_key",
            "tsig_secret",
            "TOKEN",
            "access-key",
            "secret",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["secret_env", "password_file", "monkey", "key_name", "zone", "keyboard"] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}

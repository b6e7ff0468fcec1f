//! What the real API server does to a written ConfigMap, Secret or Lease between reading the body and
//! storing it: decoding (base64 `[]byte` values, `MicroTime`s, a Secret's write-only `stringData`),
//! defaulting (a Secret's `type`), and validation (keys, the 1 MiB limit, a Lease's durations,
//! what an update may not change). What does not decode answers 400, what does not validate 422,
//! with the real server's messages. Other types pass through untouched.

use data_encoding::BASE64;
use serde_json::{Map, Value, json};

use super::resources::ResourceInfo;
use super::status::{ApiError, FieldError};

/// `core.MaxSecretSize`: the most the values of a ConfigMap or a Secret may hold, in bytes.
pub(crate) const MAX_DATA_BYTES: usize = 1 << 20;

fn is(info: &ResourceInfo, group: &str, plural: &str) -> bool {
    info.group == group && info.plural == plural
}

/// Decodes and defaults `obj` as the server's conversion does: base64 values are checked and
/// re-encoded canonically, a Secret's `stringData` is folded into `data` (it wins over the same key
/// there) and dropped, `type` defaults to `Opaque`, a Lease's times are parsed and written back in
/// UTC. Running it again over its own output changes nothing.
pub(crate) fn decode(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Ok(());
    };
    let decoded = if is(info, "", "secrets") {
        decode_secret(map)
    } else if is(info, "", "configmaps") {
        decode_configmap(map)
    } else if is(info, "coordination.k8s.io", "leases") {
        decode_lease(map)
    } else {
        Ok(())
    };
    decoded.map_err(|e| ApiError::undecodable(info, e))
}

fn decode_secret(map: &mut Map<String, Value>) -> Result<(), String> {
    canonical_bytes(map, "Secret", "data")?;
    match map.remove("stringData") {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            let mut data = match map.remove("data") {
                Some(Value::Object(data)) => data,
                _ => Map::new(),
            };
            for (key, value) in entries {
                let Value::String(text) = value else {
                    return Err(type_error(&value, "Secret.stringData", "string"));
                };
                data.insert(key, json!(BASE64.encode(text.as_bytes())));
            }
            if !data.is_empty() {
                map.insert("data".into(), Value::Object(data));
            }
        }
        Some(other) => return Err(type_error(&other, "Secret.stringData", "map[string]string")),
    }
    if map.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
        map.insert("type".into(), json!("Opaque"));
    }
    Ok(())
}

fn decode_configmap(map: &mut Map<String, Value>) -> Result<(), String> {
    match map.get("data") {
        Some(Value::Null) => {
            map.remove("data");
        }
        Some(Value::Object(entries)) => {
            if let Some(bad) = entries.values().find(|v| !v.is_string()) {
                return Err(type_error(bad, "ConfigMap.data", "string"));
            }
        }
        Some(other) => return Err(type_error(other, "ConfigMap.data", "map[string]string")),
        None => {}
    }
    canonical_bytes(map, "ConfigMap", "binaryData")
}

/// A `map[string][]byte` field: every value must be base64 as Go decodes it; stored re-encoded.
fn canonical_bytes(map: &mut Map<String, Value>, kind: &str, field: &str) -> Result<(), String> {
    match map.get_mut(field) {
        None => Ok(()),
        Some(Value::Null) => {
            map.remove(field);
            Ok(())
        }
        Some(Value::Object(entries)) => {
            for value in entries.values_mut() {
                match value {
                    Value::String(text) => {
                        let bytes = go_base64(text).map_err(|at| format!("illegal base64 data at input byte {at}"))?;
                        *value = json!(BASE64.encode(&bytes));
                    }
                    Value::Null => {}
                    other => return Err(type_error(other, &format!("{kind}.{field}"), "[]uint8")),
                }
            }
            Ok(())
        }
        Some(other) => Err(type_error(other, &format!("{kind}.{field}"), "map[string][]uint8")),
    }
}

fn decode_lease(map: &mut Map<String, Value>) -> Result<(), String> {
    let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for field in ["acquireTime", "renewTime"] {
        match spec.get(field) {
            None => {}
            Some(Value::Null) => {
                spec.remove(field);
            }
            Some(Value::String(text)) => {
                let utc = micro_time(text)?;
                spec.insert(field.into(), json!(utc));
            }
            Some(other) => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go value of type string",
                    json_type(other)
                ));
            }
        }
    }
    Ok(())
}

/// `encoding/json`'s complaint about a value of the wrong JSON type.
fn type_error(value: &Value, field: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {field} of type {go_type}",
        json_type(value)
    )
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validates a decoded object; `old` is what it replaces on an update. The checks are the real
/// server's `ValidateConfigMap(Update)`, `ValidateSecret(Update)` and `ValidateLeaseSpec`, less
/// metadata and the type-specific Secret rules (`kubernetes.io/tls` and the like).
pub(crate) fn validate(info: &ResourceInfo, name: &str, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let errors = if is(info, "", "configmaps") {
        configmap_errors(obj, old)
    } else if is(info, "", "secrets") {
        secret_errors(obj, old)
    } else if is(info, "coordination.k8s.io", "leases") {
        lease_errors(obj)
    } else {
        Vec::new()
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_fields(info.group, info.kind, name, &errors))
    }
}

fn entries<'a>(obj: &'a Value, field: &str) -> Vec<(&'a String, &'a Value)> {
    obj.get(field)
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

/// Decoded length of a value `decode` left canonical.
fn byte_len(value: &Value) -> usize {
    value
        .as_str()
        .and_then(|s| BASE64.decode(s.as_bytes()).ok())
        .map_or(0, |b| b.len())
}

/// What an update of an object with `immutable: true` may not change.
fn immutable_errors(obj: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    const WHY: &str = "field is immutable when `immutable` is set";
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if obj.get("immutable") != Some(&Value::Bool(true)) {
        errors.push(FieldError::forbidden("immutable", WHY));
    }
    for field in fields {
        if obj.get(*field) != old.get(*field) {
            errors.push(FieldError::forbidden(*field, WHY));
        }
    }
    errors
}

fn configmap_errors(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = old.map_or_else(Vec::new, |old| immutable_errors(obj, old, &["data", "binaryData"]));
    let binary = entries(obj, "binaryData");
    let mut total = 0;
    for (key, value) in entries(obj, "data") {
        errors.extend(key_errors("data", key));
        if binary.iter().any(|(k, _)| *k == key) {
            errors.push(FieldError::invalid(
                format!("data[{key}]"),
                &json!(key),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in &binary {
        errors.extend(key_errors("binaryData", key));
        total += byte_len(value);
    }
    if total > MAX_DATA_BYTES {
        // The path of the whole object prints as `[]`.
        errors.push(FieldError::too_long("[]", MAX_DATA_BYTES));
    }
    errors
}

fn secret_errors(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(old) = old {
        let (new_type, old_type) = (obj.get("type"), old.get("type"));
        if new_type != old_type {
            errors.push(FieldError::invalid(
                "type",
                new_type.unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
        errors.extend(immutable_errors(obj, old, &["data"]));
    }
    let mut total = 0;
    for (key, value) in entries(obj, "data") {
        errors.extend(key_errors("data", key));
        total += byte_len(value);
    }
    if total > MAX_DATA_BYTES {
        errors.push(FieldError::too_long("data", MAX_DATA_BYTES));
    }
    errors
}

/// `IsConfigMapKey`, which Secrets' keys answer to as well.
fn key_errors(field: &str, key: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if key.len() > 253 {
        problems.push("must be no more than 253 characters");
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        problems.push(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        );
    }
    match key {
        "." => problems.push("must not be '.'"),
        ".." => problems.push("must not be '..'"),
        k if k.starts_with("..") => problems.push("must not start with '..'"),
        _ => {}
    }
    problems
        .into_iter()
        .map(|p| FieldError::invalid(format!("{field}[{key}]"), &json!(key), p))
        .collect()
}

fn lease_errors(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = obj.get("spec");
    let number = |field: &str| spec.and_then(|s| s.get(field)).filter(|v| v.is_number());
    if let Some(v) = number("leaseDurationSeconds").filter(|v| v.as_f64().is_some_and(|n| n <= 0.0)) {
        errors.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            v,
            "must be greater than 0",
        ));
    }
    if let Some(v) = number("leaseTransitions").filter(|v| v.as_f64().is_some_and(|n| n < 0.0)) {
        errors.push(FieldError::invalid(
            "spec.leaseTransitions",
            v,
            "must be greater than or equal to 0",
        ));
    }
    errors
}

/// Go's `base64.StdEncoding.DecodeString`, which `encoding/json` uses for a `[]byte`: padding
/// required, `\r` and `\n` skipped, trailing bits not checked. On failure, the input offset Go
/// reports (`illegal base64 data at input byte N`).
pub(crate) fn go_base64(text: &str) -> Result<Vec<u8>, usize> {
    fn sextet(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let src = text.as_bytes();
    let skip_newlines = |mut at: usize| {
        while at < src.len() && matches!(src[at], b'\n' | b'\r') {
            at += 1;
        }
        at
    };
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        // One quantum: four sextets, or two or three and padding at the very end.
        let mut quantum = [0u8; 4];
        let mut len = 0;
        while len < 4 {
            if si == src.len() {
                if len == 0 {
                    return Ok(out);
                }
                return Err(si - len);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = sextet(c) {
                quantum[len] = v;
                len += 1;
                continue;
            }
            if matches!(c, b'\n' | b'\r') {
                continue;
            }
            if c != b'=' || len < 2 {
                return Err(si - 1);
            }
            if len == 2 {
                // "==": the second '=' must follow, newlines aside.
                si = skip_newlines(si);
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            si = skip_newlines(si);
            if si < src.len() {
                return Err(si);
            }
            break;
        }
        let v = quantum.iter().fold(0u32, |acc, &s| (acc << 6) | u32::from(s));
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if len < 4 {
            return Ok(out);
        }
    }
}

/// `metav1.MicroTime`'s decoding: Go's `time.Parse` with the layout `2006-01-02T15:04:05.000000Z07:00`
/// (exactly six fractional digits), failing with Go's message. Returns the time in UTC, as the
/// server writes it back.
pub(crate) fn micro_time(value: &str) -> Result<String, String> {
    const LAYOUT: &str = "2006-01-02T15:04:05.000000Z07:00";
    let whole = quote(value.as_bytes());
    let cannot = |rest: &[u8], element: &str| {
        format!(
            "parsing time {whole} as {}: cannot parse {} as {}",
            quote(LAYOUT.as_bytes()),
            quote(rest),
            quote(element.as_bytes())
        )
    };
    let out_of_range = |what: &str| format!("parsing time {whole}: {what} out of range");

    let rest = value.as_bytes();
    if rest.len() < 4 || !rest[..4].iter().all(u8::is_ascii_digit) {
        return Err(cannot(rest, "2006"));
    }
    let year = digits(&rest[..4]);
    let rest = &rest[4..];
    let rest = rest.strip_prefix(b"-").ok_or_else(|| cannot(rest, "-"))?;
    let (month, rest) = getnum(rest, true).ok_or_else(|| cannot(rest, "01"))?;
    if !(1..=12).contains(&month) {
        return Err(out_of_range("month"));
    }
    let rest = rest.strip_prefix(b"-").ok_or_else(|| cannot(rest, "-"))?;
    let (day, rest) = getnum(rest, true).ok_or_else(|| cannot(rest, "02"))?;
    let rest = rest.strip_prefix(b"T").ok_or_else(|| cannot(rest, "T"))?;
    let (hour, rest) = getnum(rest, false).ok_or_else(|| cannot(rest, "15"))?;
    if hour >= 24 {
        return Err(out_of_range("hour"));
    }
    let rest = rest.strip_prefix(b":").ok_or_else(|| cannot(rest, ":"))?;
    let (minute, rest) = getnum(rest, true).ok_or_else(|| cannot(rest, "04"))?;
    if minute >= 60 {
        return Err(out_of_range("minute"));
    }
    let rest = rest.strip_prefix(b":").ok_or_else(|| cannot(rest, ":"))?;
    let (second, rest) = getnum(rest, true).ok_or_else(|| cannot(rest, "05"))?;
    if second >= 60 {
        return Err(out_of_range("second"));
    }
    if rest.len() < 7 || !matches!(rest[0], b'.' | b',') || !rest[1..7].iter().all(u8::is_ascii_digit) {
        return Err(cannot(rest, ".000000"));
    }
    let micros = digits(&rest[1..7]);
    let rest = &rest[7..];
    let (offset_seconds, rest) = match rest {
        [b'Z', tail @ ..] => (0i64, tail),
        [sign, h1, h2, b':', m1, m2, tail @ ..] => {
            let zone = cannot(rest, "Z07:00");
            let (hours, _) = getnum(&[*h1, *h2], true).ok_or_else(|| zone.clone())?;
            let (minutes, _) = getnum(&[*m1, *m2], true).ok_or_else(|| zone.clone())?;
            if hours > 24 {
                return Err(out_of_range("time zone offset hour"));
            }
            if minutes > 60 {
                return Err(out_of_range("time zone offset minute"));
            }
            let seconds = i64::from(hours * 3600 + minutes * 60);
            match sign {
                b'+' => (seconds, tail),
                b'-' => (-seconds, tail),
                _ => return Err(zone),
            }
        }
        _ => return Err(cannot(rest, "Z07:00")),
    };
    if !rest.is_empty() {
        return Err(format!("parsing time {whole}: extra text: {}", quote(rest)));
    }
    let local = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)
        .and_then(|d| d.and_hms_micro_opt(hour, minute, second, micros))
        .ok_or_else(|| out_of_range("day"))?;
    let utc = local - chrono::TimeDelta::seconds(offset_seconds);
    Ok(utc.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

fn digits(ascii: &[u8]) -> u32 {
    ascii.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

/// Go's `getnum`: two digits, or (unless `fixed`) one.
fn getnum(s: &[u8], fixed: bool) -> Option<(u32, &[u8])> {
    match s {
        [a, b, rest @ ..] if a.is_ascii_digit() && b.is_ascii_digit() => Some((digits(&[*a, *b]), rest)),
        [a, rest @ ..] if a.is_ascii_digit() && !fixed => Some((digits(&[*a]), rest)),
        _ => None,
    }
}

/// The quoting of Go's `time` package errors: `"` and `\` escaped, bytes outside printable ASCII as `\xNN`.
fn quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7f => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_sit_where_go_puts_them() {
        assert_eq!(go_base64("aGVsbG8="), Ok(b"hello".to_vec()));
        assert_eq!(go_base64("aGVs\nbG8="), Ok(b"hello".to_vec()));
        assert_eq!(go_base64("aGVsbA=="), Ok(b"hell".to_vec()));
        assert_eq!(go_base64(""), Ok(Vec::new()));
        // The examples users hit: plain text where base64 belongs.
        assert_eq!(go_base64("admin"), Err(4));
        assert_eq!(go_base64("billy"), Err(4));
        assert_eq!(go_base64("bill"), Ok(vec![0x6e, 0x29, 0x65]));
        assert_eq!(go_base64("<foo>"), Err(0));
        assert_eq!(go_base64("aGVsbG8"), Err(4));
        assert_eq!(go_base64("aGVsbA="), Err(7));
        assert_eq!(go_base64("aGVsbA=x"), Err(6));
        assert_eq!(go_base64("aGVsbG8=x"), Err(8));
        assert_eq!(go_base64("a==="), Err(1));
    }

    #[test]
    fn micro_times_parse_as_go_parses_them() {
        assert_eq!(
            micro_time("2025-01-02T03:04:05.123456Z").as_deref(),
            Ok("2025-01-02T03:04:05.123456Z")
        );
        assert_eq!(
            micro_time("2025-01-02T03:04:05.123456+02:00").as_deref(),
            Ok("2025-01-02T01:04:05.123456Z")
        );
        let layout = "\"2006-01-02T15:04:05.000000Z07:00\"";
        assert_eq!(
            micro_time("2025-01-02T03:04:05Z"),
            Err(format!(
                "parsing time \"2025-01-02T03:04:05Z\" as {layout}: cannot parse \"Z\" as \".000000\""
            ))
        );
        assert_eq!(
            micro_time("2025-01-02 03:04:05.000000Z"),
            Err(format!(
                "parsing time \"2025-01-02 03:04:05.000000Z\" as {layout}: cannot parse \" 03:04:05.000000Z\" as \"T\""
            ))
        );
        assert_eq!(
            micro_time("2025-13-02T03:04:05.000000Z"),
            Err("parsing time \"2025-13-02T03:04:05.000000Z\": month out of range".to_string())
        );
        assert_eq!(
            micro_time("2025-02-30T03:04:05.000000Z"),
            Err("parsing time \"2025-02-30T03:04:05.000000Z\": day out of range".to_string())
        );
        assert_eq!(
            micro_time("2025-01-02T03:04:05.000000Zjunk"),
            Err("parsing time \"2025-01-02T03:04:05.000000Zjunk\": extra text: \"junk\"".to_string())
        );
    }

    #[test]
    fn keys_are_checked_like_config_map_keys() {
        assert!(key_errors("data", "chunk-0001.json").is_empty());
        let bad: Vec<String> = key_errors("data", "a b").iter().map(FieldError::text).collect();
        assert_eq!(
            bad,
            [
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
        let dots: Vec<String> = key_errors("binaryData", "..x").iter().map(FieldError::text).collect();
        assert_eq!(
            dots,
            ["binaryData[..x]: Invalid value: \"..x\": must not start with '..'"]
        );
    }
}

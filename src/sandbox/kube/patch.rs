//! The patch formats: JSON merge patch (RFC 7386), an approximation of strategic merge patch, and
//! JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// The patch type, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ct: &str) -> Option<PatchKind> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(PatchKind::Apply),
            _ => None,
        }
    }
}

/// Applies `patch` to `target`; the error text is what the server reports in a 422/400.
pub(crate) fn apply(kind: PatchKind, target: &mut Value, patch: &Value) -> Result<(), String> {
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            merge(target, patch);
            Ok(())
        }
        PatchKind::Strategic => {
            strategic(target, patch);
            Ok(())
        }
        PatchKind::Json => json_patch(target, patch),
    }
}

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces.
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("object");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch, approximated: like a merge patch, except that lists whose items all carry a
/// `name` (containers, env, volumes, ports...) merge item by item, and the `$patch` directives
/// `replace`/`delete` are honoured. Other `$` directives (`$setElementOrder`, `$retainKeys`) are dropped.
pub(crate) fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut clean = patch.clone();
            clean.remove("$patch");
            *target = Value::Object(clean);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("object");
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Array(items) if named_items(items) => {
                let existing = target.entry(k.clone()).or_insert(Value::Array(Vec::new()));
                if !existing.as_array().is_some_and(|a| named_items(a)) {
                    *existing = Value::Array(Vec::new());
                }
                let list = existing.as_array_mut().expect("array");
                for item in items {
                    let name = item["name"].clone();
                    let deleting = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match list.iter().position(|e| e["name"] == name) {
                        Some(i) if deleting => {
                            list.remove(i);
                        }
                        Some(i) => strategic(&mut list[i], item),
                        None if deleting => {}
                        None => {
                            let mut fresh = Value::Object(Map::new());
                            strategic(&mut fresh, item);
                            list.push(fresh);
                        }
                    }
                }
            }
            Value::Object(_) => {
                let slot = target.entry(k.clone()).or_insert(Value::Null);
                strategic(slot, v);
                if slot.is_null() {
                    target.remove(k);
                }
            }
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

fn named_items(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| i.get("name").is_some_and(Value::is_string))
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Splits a JSON pointer into its parent pointer and last token.
fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let i = path
        .rfind('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok((&path[..i], unescape(&path[i + 1..])))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>().map_err(|_| format!("invalid index {last:?}"))?
            };
            if i > a.len() {
                return Err(format!("add operation does not apply: index {i} out of bounds"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("add operation does not apply: doc is missing path: \"{path}\"")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: \"{path}\"");
    match target.pointer_mut(parent) {
        Some(Value::Object(m)) => m.remove(&last).ok_or_else(missing),
        Some(Value::Array(a)) => {
            let i = last.parse::<usize>().map_err(|_| missing())?;
            if i < a.len() { Ok(a.remove(i)) } else { Err(missing()) }
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 JSON patch.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("json patch must be a list of operations")?;
    for op in ops {
        let path = op["path"].as_str().ok_or("json patch operation without a path")?;
        match op["op"].as_str().unwrap_or_default() {
            "add" => add(target, path, op["value"].clone())?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                if target.pointer(path).is_none() {
                    return Err(format!("replace operation does not apply: doc is missing key: {path}"));
                }
                *target.pointer_mut(path).expect("checked") = op["value"].clone();
            }
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            "move" => {
                let from = op["from"].as_str().ok_or("move operation without from")?;
                let v = remove(target, from)?;
                add(target, path, v)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("copy operation without from")?;
                let v = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("copy from missing path {from}"))?;
                add(target, path, v)?;
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null_and_replaces_lists() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge(&mut v, &json!({"b": {"c": null, "e": 4}, "l": [3]}));
        assert_eq!(v, json!({"a": 1, "b": {"d": 3, "e": 4}, "l": [3]}));
    }

    #[test]
    fn strategic_patch_merges_named_lists() {
        let mut v = json!({"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]});
        strategic(
            &mut v,
            &json!({"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"}]}),
        );
        assert_eq!(v, json!({"containers": [{"name": "a", "image": "x:2"}]}));
    }

    #[test]
    fn json_patch_ops() {
        let mut v = json!({"spec": {"replicas": 1, "l": [1]}});
        json_patch(
            &mut v,
            &json!([
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/spec/l/-", "value": 2},
                {"op": "test", "path": "/spec/replicas", "value": 3},
            ]),
        )
        .unwrap();
        assert_eq!(v, json!({"spec": {"replicas": 3, "l": [1, 2]}}));
        assert!(json_patch(&mut v, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}

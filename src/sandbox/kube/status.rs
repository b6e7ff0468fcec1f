//! `kind: Status` answers, phrased like the real API server's.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::resources::ResourceInfo;

/// An API error: the HTTP code and the `Status` body the real server would send.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(self, info: &ResourceInfo, name: Option<&str>) -> ApiError {
        self.with_group_kind(info.group, info.plural, name)
    }

    /// Details naming `kind` in `group`: the server puts a resource (`configmaps`) there for most
    /// errors, a kind (`ConfigMap`) for validation errors and delete preconditions.
    fn with_group_kind(mut self, group: &str, kind: &str, name: Option<&str>) -> ApiError {
        let mut d = Map::new();
        if let Some(name) = name {
            d.insert("name".into(), json!(name));
        }
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        d.insert("kind".into(), json!(kind));
        self.details = Some(Value::Object(d));
        self
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// `deployments.apps "web" is forbidden: User "test" cannot patch resource "deployments/scale" in API group "apps" in the namespace "shop"`
    pub fn forbidden(
        user: &str,
        verb: &str,
        info: &ResourceInfo,
        sub: Option<&str>,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> ApiError {
        let subject = match name {
            Some(n) => format!("{} \"{}\"", info.qualified(), n),
            None => info.qualified(),
        };
        let resource = match sub {
            Some(s) => format!("{}/{}", info.plural, s),
            None => info.plural.to_string(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            info.group
        );
        ApiError::new(403, "Forbidden", message).with_details(info, name)
    }

    /// `forbidden: User "system:anonymous" cannot get path "/api"`
    pub fn forbidden_path(user: &str, verb: &str, path: &str) -> ApiError {
        ApiError::new(
            403,
            "Forbidden",
            format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
        )
    }

    pub fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{}\" not found", info.qualified(), name))
            .with_details(info, Some(name))
    }

    /// The answer for a path that names nothing the server serves.
    pub fn no_route() -> ApiError {
        ApiError::new(404, "NotFound", "the server could not find the requested resource")
    }

    pub fn already_exists(info: &ResourceInfo, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", info.qualified(), name),
        )
        .with_details(info, Some(name))
    }

    pub fn conflict(info: &ResourceInfo, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                info.qualified(),
                name
            ),
        )
        .with_details(info, Some(name))
    }

    /// A delete whose `preconditions` do not hold. The server checks them against the object it
    /// read and names the object by kind: `Operation cannot be fulfilled on ConfigMap "x": ...`.
    pub fn precondition_failed(info: &ResourceInfo, name: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {reason}",
                kind_qualified(info)
            ),
        )
        .with_group_kind(info.group, info.kind, Some(name))
    }

    /// A body the server cannot decode into the type (bad base64 in `[]byte` fields, a time that
    /// does not parse): `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4`.
    pub fn undecodable(info: &ResourceInfo, error: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a {kind}: {error}",
            info.version,
            kind = info.kind
        ))
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
            ),
        )
    }

    pub fn invalid(info: &ResourceInfo, name: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", kind_qualified(info), name, message.into()),
        )
        .with_details(info, Some(name))
    }

    /// A 422 from validation (`NewInvalid`): the message lists the field errors after
    /// `<kind> "<name>" is invalid: `, and `details.causes` carries each one for clients (kubectl
    /// prints those). `kind` is the type's kind, except where the server puts a resource there
    /// (the missing-resourceVersion check of an update says `leases.coordination.k8s.io`).
    pub fn invalid_fields(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<&FieldError> = errors.iter().filter(|e| seen.insert(e.text())).collect();
        let listed = match unique.as_slice() {
            [one] => one.text(),
            many => format!("[{}]", many.iter().map(|e| e.text()).collect::<Vec<_>>().join(", ")),
        };
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut error = ApiError::new(422, "Invalid", format!("{qualified} \"{name}\" is invalid: {listed}"))
            .with_group_kind(group, kind, Some(name));
        let causes: Vec<Value> = unique
            .iter()
            .map(|e| json!({"reason": e.reason, "message": e.body, "field": e.field}))
            .collect();
        if let Some(details) = error.details.as_mut() {
            details["causes"] = json!(causes);
        }
        error
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

/// One field error of a 422, rendered as `k8s.io/apimachinery/pkg/util/validation/field` renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// The cause type: `FieldValueInvalid`, `FieldValueTooLong`, `FieldValueForbidden`.
    pub reason: &'static str,
    /// The path: `data[key]`, `spec.leaseDurationSeconds`, or `[]` for the whole object.
    pub field: String,
    /// The error without its path: `Invalid value: "x": must be ...`.
    pub body: String,
}

impl FieldError {
    /// `field.Invalid`: the value as Go prints it, a string quoted and a number bare.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
        let shown = match value {
            Value::String(s) => go_quote(s),
            Value::Null => "null".to_string(),
            other => other.to_string(),
        };
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            body: format!("Invalid value: {shown}: {detail}"),
        }
    }

    /// `field.TooLong`; the value itself is never shown.
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> FieldError {
        FieldError {
            reason: "FieldValueTooLong",
            field: field.into(),
            body: format!("Too long: may not be more than {max_bytes} bytes"),
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueForbidden",
            field: field.into(),
            body: format!("Forbidden: {detail}"),
        }
    }

    /// `path: body`, one item of the 422's message.
    pub fn text(&self) -> String {
        format!("{}: {}", self.field, self.body)
    }
}

/// Go's `%q` of a string, for the printable ASCII and control characters a key or value holds.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Deployment.apps`, or `Pod` in the core group.
fn kind_qualified(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.kind.to_string()
    } else {
        format!("{}.{}", info.kind, info.group)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::routes::json_response(code, &self.to_json())
    }
}

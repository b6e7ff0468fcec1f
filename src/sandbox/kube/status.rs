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

    fn with_details(mut self, info: &ResourceInfo, name: Option<&str>) -> ApiError {
        let mut d = Map::new();
        if let Some(name) = name {
            d.insert("name".into(), json!(name));
        }
        if !info.group.is_empty() {
            d.insert("group".into(), json!(info.group));
        }
        d.insert("kind".into(), json!(info.plural));
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

//! The HTTP surface: authentication, authorization, path parsing and the REST verbs.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::patch::{self, PatchKind};
use super::resources::{self, ResourceInfo};
use super::select::{FieldSelector, LabelSelector};
use super::status::{ApiError, FieldError};
use super::store::{State, ns_name, random_suffix};
use super::{admit, discovery, portforward, table, watch};

/// What every request handler shares.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// `127.0.0.1:PORT`, for `/api`'s serverAddressByClientCIDRs.
    pub address: String,
    /// While true, requests wait before they are answered (a network partition).
    pub hung: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once requests are no longer held, at once when they are not.
    async fn wait_while_hung(&self) {
        let mut hung = self.hung.subscribe();
        // An error means the sender is gone, which it is not while `self` lives.
        let _ = hung.wait_for(|hung| !*hung).await;
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

pub(crate) fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut res = (code, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}

type ApiResult<T> = Result<T, ApiError>;

/// Query parameters in order, percent-decoded (repeated keys kept).
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

/// The user a bearer token stands for, as it appears in messages: `test-token` → `test`.
pub(crate) fn user_of(token: &str) -> &str {
    token.strip_suffix("-token").filter(|u| !u.is_empty()).unwrap_or(token)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// The resource a request names.
pub(crate) struct Target {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

fn parse_target(group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let owned = |s: Option<&&str>| s.map(|s| s.to_string());
    if rest.len() >= 3
        && rest[0] == "namespaces"
        && let Some(info) = resources::find(group, version, rest[2]).filter(|i| i.namespaced)
    {
        if rest.len() > 5 || rest[1].is_empty() {
            return Err(ApiError::no_route());
        }
        let target = Target {
            info,
            namespace: Some(rest[1].to_string()),
            name: owned(rest.get(3)),
            sub: owned(rest.get(4)),
        };
        return check_sub(target);
    }
    let info = resources::find(group, version, rest[0]).ok_or_else(ApiError::no_route)?;
    if rest.len() > 3 || (info.namespaced && rest.len() > 1) {
        return Err(ApiError::no_route());
    }
    check_sub(Target {
        info,
        namespace: None,
        name: owned(rest.get(1)),
        sub: owned(rest.get(2)),
    })
}

fn check_sub(t: Target) -> ApiResult<Target> {
    match &t.sub {
        Some(s) if !t.info.has_subresource(s) => Err(ApiError::no_route()),
        _ => Ok(t),
    }
}

async fn handle(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    match dispatch(&shared, req).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(shared: &Arc<Shared>, req: Request) -> ApiResult<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().map(str::to_string);
    let query = Query::parse(raw_query.as_deref());
    let token = bearer(req.headers());
    shared.lock().requests.push(match &raw_query {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    });
    shared.wait_while_hung().await;
    {
        let state = shared.lock();
        if token.as_ref().is_some_and(|t| state.expired_tokens.contains(t)) {
            return Err(ApiError::unauthorized());
        }
        let api = path.starts_with("/api/") || path.starts_with("/apis/");
        if let Some((code, message)) = state.failing.as_ref().filter(|_| api) {
            let reason = match code {
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                504 => "Timeout",
                _ => "InternalError",
            };
            return Err(ApiError::new(*code, reason, message.clone()));
        }
    }
    let user = token.as_deref().map(user_of).unwrap_or("system:anonymous").to_string();

    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Ok(json_response(StatusCode::OK, &discovery::version())),
        ["healthz" | "livez" | "readyz"] => return Ok((StatusCode::OK, "ok").into_response()),
        _ if token.is_none() => return Err(ApiError::forbidden_path(&user, &verb_of_method(&method), &path)),
        ["api"] => return Ok(json_response(StatusCode::OK, &discovery::api_versions(&shared.address))),
        ["apis"] => return Ok(json_response(StatusCode::OK, &discovery::api_group_list())),
        ["apis", g] => {
            return discovery::api_group(g)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::no_route);
        }
        ["openapi", "v3"] => return Ok(json_response(StatusCode::OK, &discovery::openapi_v3_paths())),
        ["openapi", "v3", gv @ ..] => {
            return discovery::openapi_v3_document(gv)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::no_route);
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route()),
    };
    if !resources::group_version_served(group, version) {
        return Err(ApiError::no_route());
    }
    if rest.is_empty() {
        return Ok(json_response(StatusCode::OK, &discovery::resource_list(group, version)));
    }
    let target = parse_target(group, version, rest)?;
    let verb = match (&method, &target.name, target.sub.as_deref()) {
        (&Method::GET, None, _) if query.flag("watch") => "watch",
        (&Method::GET, None, _) => "list",
        (&Method::GET, Some(_), _) => "get",
        (&Method::POST, None, _) => "create",
        (&Method::POST, Some(_), Some("portforward")) => "create",
        (&Method::PUT, Some(_), _) => "update",
        (&Method::PATCH, Some(_), _) => "patch",
        (&Method::DELETE, Some(_), _) => "delete",
        (&Method::DELETE, None, _) => "deletecollection",
        _ => return Err(ApiError::method_not_allowed()),
    };
    authorize(shared, &user, verb, &target)?;

    if target.sub.as_deref() == Some("portforward") {
        let (Some(ns), Some(name)) = (target.namespace.clone(), target.name.clone()) else {
            return Err(ApiError::no_route());
        };
        return portforward::handle(shared.clone(), ns, name, query, req).await;
    }
    if verb == "watch" {
        return watch::handle(shared.clone(), target, query);
    }

    let wants_table = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let parse_body = || -> ApiResult<Value> {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body of the request could not be decoded as JSON: {e}")))
    };

    let mut state = shared.lock();
    let ns = target.namespace.clone().unwrap_or_default();
    let info = target.info;
    match (verb, target.name.as_deref(), target.sub.as_deref()) {
        ("list", None, _) => {
            let selected = select(&state, info, target.namespace.as_deref(), &query)?;
            let rv = state.resource_version().to_string();
            if wants_table {
                let body = table::table(info, &selected, &rv, query.get("includeObject").unwrap_or("Metadata"));
                return Ok(json_response(StatusCode::OK, &body));
            }
            let items: Vec<Value> = selected
                .into_iter()
                .map(|o| {
                    let mut o = o.clone();
                    if let Some(m) = o.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    o
                })
                .collect();
            let list = json!({
                "kind": format!("{}List", info.kind),
                "apiVersion": info.api_version(),
                "metadata": {"resourceVersion": rv},
                "items": items,
            });
            Ok(json_response(StatusCode::OK, &list))
        }
        ("get", Some(name), sub) => {
            let obj = state
                .get(info, &ns, name)
                .ok_or_else(|| ApiError::not_found(info, name))?;
            let body = match sub {
                Some("scale") => scale_view(obj),
                _ if wants_table => table::table(
                    info,
                    &[obj],
                    obj["metadata"]["resourceVersion"].as_str().unwrap_or_default(),
                    query.get("includeObject").unwrap_or("Metadata"),
                ),
                _ => obj.clone(),
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        ("create", None, _) => {
            let created = create(&mut state, info, &ns, parse_body()?)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        ("update", Some(name), sub) => {
            let body = parse_body()?;
            let updated = match sub {
                Some("scale") => update_scale(&mut state, info, &ns, name, &body)?,
                _ => update(&mut state, info, &ns, name, sub, body)?,
            };
            Ok(json_response(StatusCode::OK, &updated))
        }
        ("patch", Some(name), sub) => {
            let kind = PatchKind::from_content_type(&content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&content_type))?;
            if kind == PatchKind::Apply && query.get("fieldManager").is_none_or(str::is_empty) {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let body = parse_body()?;
            let patched = patch_object(&mut state, info, &ns, name, sub, kind, &body)?;
            Ok(json_response(StatusCode::OK, &patched))
        }
        ("delete", Some(name), None) => {
            let obj = state
                .get(info, &ns, name)
                .ok_or_else(|| ApiError::not_found(info, name))?;
            if !body.is_empty() {
                check_preconditions(info, name, obj, &parse_body()?)?;
            }
            let deleted = delete(&mut state, info, &ns, name);
            Ok(json_response(StatusCode::OK, &deleted))
        }
        ("deletecollection", None, None) => {
            let doomed: Vec<(String, String)> = select(&state, info, target.namespace.as_deref(), &query)?
                .into_iter()
                .map(ns_name)
                .collect();
            let items: Vec<Value> = doomed
                .iter()
                .map(|(ns, name)| delete(&mut state, info, ns, name))
                .collect();
            let list = json!({
                "kind": format!("{}List", info.kind),
                "apiVersion": info.api_version(),
                "metadata": {"resourceVersion": state.resource_version().to_string()},
                "items": items,
            });
            Ok(json_response(StatusCode::OK, &list))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn verb_of_method(method: &Method) -> String {
    match *method {
        Method::GET | Method::HEAD => "get".into(),
        Method::POST => "post".into(),
        Method::PUT => "put".into(),
        Method::PATCH => "patch".into(),
        Method::DELETE => "delete".into(),
        ref other => other.as_str().to_lowercase(),
    }
}

fn authorize(shared: &Shared, user: &str, verb: &str, target: &Target) -> ApiResult<()> {
    let resource = match &target.sub {
        Some(s) => format!("{}/{}", target.info.plural, s),
        None => target.info.plural.to_string(),
    };
    let state = shared.lock();
    let denied = user == "system:anonymous"
        || state.denies.contains(&(verb.to_string(), resource.clone()))
        || state.denies.contains(&("*".to_string(), resource));
    if !denied {
        return Ok(());
    }
    // For a namespace itself, the API server's request info names the namespace after it.
    let namespace = match (&target.namespace, target.info.plural, &target.name) {
        (Some(ns), _, _) => Some(ns.as_str()),
        (None, "namespaces", Some(name)) => Some(name.as_str()),
        _ => None,
    };
    Err(ApiError::forbidden(
        user,
        verb,
        target.info,
        target.sub.as_deref(),
        namespace,
        target.name.as_deref(),
    ))
}

/// The objects a list (or deletecollection, or watch) selects.
fn select<'a>(
    state: &'a State,
    info: &ResourceInfo,
    namespace: Option<&str>,
    query: &Query,
) -> ApiResult<Vec<&'a Value>> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), info)?;
    Ok(state
        .list(info, namespace)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect())
}

fn check_kind(info: &ResourceInfo, body: &Value) -> ApiResult<()> {
    match body.get("kind").and_then(Value::as_str) {
        Some(kind) if kind != info.kind => Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        ))),
        _ => Ok(()),
    }
}

/// The status a fresh object of this type starts with (clients cannot set it on create).
fn initial_status(info: &ResourceInfo) -> Option<Value> {
    match info.plural {
        "pods" => Some(json!({"phase": "Pending", "qosClass": "BestEffort"})),
        "namespaces" => Some(json!({"phase": "Active"})),
        "services" | "ingresses" => Some(json!({"loadBalancer": {}})),
        "persistentvolumeclaims" => Some(json!({"phase": "Pending"})),
        _ => None,
    }
}

fn create(state: &mut State, info: &'static ResourceInfo, ns: &str, mut body: Value) -> ApiResult<Value> {
    check_kind(info, &body)?;
    admit::decode(info, &mut body)?;
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    let meta = &mut body["metadata"];
    let body_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or_default();
    if info.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let name = match (
        meta.get("name").and_then(Value::as_str),
        meta.get("generateName").and_then(Value::as_str),
    ) {
        (Some(n), _) if !n.is_empty() => n.to_string(),
        (_, Some(prefix)) if !prefix.is_empty() => format!("{prefix}{}", random_suffix(5)),
        _ => {
            return Err(ApiError::invalid(
                info,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
    };
    meta["name"] = json!(name);
    if let Some(m) = meta.as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
        ] {
            m.remove(field);
        }
    }
    // The server validates before it looks at the namespace or for a name already taken.
    admit::validate(info, &name, &body, None)?;
    if info.namespaced {
        let ns_info = resources::find("", "v1", "namespaces").expect("namespaces are served");
        if state.get(ns_info, "", ns).is_none() {
            return Err(ApiError::not_found(ns_info, ns));
        }
    }
    if state.get(info, ns, &name).is_some() {
        return Err(ApiError::already_exists(info, &name));
    }
    if info.has_status() {
        match initial_status(info) {
            Some(s) => body["status"] = s,
            None => {
                body.as_object_mut().expect("object").remove("status");
            }
        }
    }
    if info.plural == "namespaces" {
        body["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        if body.pointer("/spec/finalizers").is_none() {
            body["spec"]["finalizers"] = json!(["kubernetes"]);
        }
    }
    Ok(state.write(info, ns, body))
}

/// Writes `new` over the existing object, honouring the status subresource split and the optimistic lock.
fn store_over(
    state: &mut State,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    old: &Value,
    sub: Option<&str>,
    mut new: Value,
) -> ApiResult<Value> {
    let new_name = new.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(name);
    if new_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({new_name}) does not match the name on the URL ({name})"
        )));
    }
    let current_rv = old["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    match new.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
        Some(rv) if !rv.is_empty() && rv != current_rv => return Err(ApiError::conflict(info, name)),
        _ => {}
    }
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    new["metadata"]["name"] = json!(name);
    let new = match sub {
        Some("status") => {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            merged
        }
        _ if info.has_status() => {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    new.as_object_mut().expect("object").remove("status");
                }
            }
            new
        }
        _ => new,
    };
    admit::validate(info, name, &new, Some(old))?;
    Ok(state.write(info, ns, new))
}

fn update(
    state: &mut State,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    mut body: Value,
) -> ApiResult<Value> {
    check_kind(info, &body)?;
    admit::decode(info, &mut body)?;
    let Some(old) = state.get(info, ns, name).cloned() else {
        if info.allows_create_on_update() && sub.is_none() {
            return create(state, info, ns, body);
        }
        return Err(ApiError::not_found(info, name));
    };
    let unconditional = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if unconditional && !info.allows_unconditional_update() {
        // The registry names the resource where the kind usually goes: `leases.coordination.k8s.io "x" is invalid`.
        return Err(ApiError::invalid_fields(
            info.group,
            info.plural,
            name,
            &[FieldError::invalid(
                "metadata.resourceVersion",
                &json!(0),
                "must be specified for an update",
            )],
        ));
    }
    store_over(state, info, ns, name, &old, sub, body)
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    state: &mut State,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    kind: PatchKind,
    body: &Value,
) -> ApiResult<Value> {
    let Some(old) = state.get(info, ns, name).cloned() else {
        if kind == PatchKind::Apply && sub.is_none() {
            let mut fresh = body.clone();
            fresh["metadata"]["name"] = json!(name);
            return create(state, info, ns, fresh);
        }
        return Err(ApiError::not_found(info, name));
    };
    let invalid = |e: String| ApiError::new(422, "Invalid", e);
    if sub == Some("scale") {
        let mut scale = scale_view(&old);
        patch::apply(kind, &mut scale, body).map_err(invalid)?;
        return set_scale(state, info, ns, name, &old, &scale);
    }
    let mut new = old.clone();
    // The resourceVersion a patch carries is a precondition; without one the patch applies to the latest.
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    patch::apply(kind, &mut new, body).map_err(invalid)?;
    admit::decode(info, &mut new)?;
    if new.pointer("/metadata/uid") != old.pointer("/metadata/uid") && new.pointer("/metadata/uid").is_some() {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                new["metadata"]["uid"].as_str().unwrap_or_default(),
                old["metadata"]["uid"].as_str().unwrap_or_default()
            ),
        ));
    }
    store_over(state, info, ns, name, &old, sub, new)
}

/// A DeleteOptions body's `preconditions`, checked against the stored object as the registry's
/// `BeforeDelete` does (uid first, then resourceVersion).
fn check_preconditions(info: &ResourceInfo, name: &str, obj: &Value, options: &Value) -> ApiResult<()> {
    let Some(preconditions) = options.get("preconditions") else {
        return Ok(());
    };
    let stored = |field: &str| obj["metadata"][field].as_str().unwrap_or_default();
    let wanted = |field: &str| preconditions.get(field).and_then(Value::as_str);
    if let Some(uid) = wanted("uid").filter(|uid| *uid != stored("uid")) {
        return Err(ApiError::precondition_failed(
            info,
            name,
            format_args!(
                "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                stored("uid")
            ),
        ));
    }
    if let Some(rv) = wanted("resourceVersion").filter(|rv| *rv != stored("resourceVersion")) {
        return Err(ApiError::precondition_failed(
            info,
            name,
            format_args!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                stored("resourceVersion")
            ),
        ));
    }
    Ok(())
}

fn delete(state: &mut State, info: &'static ResourceInfo, ns: &str, name: &str) -> Value {
    if info.plural == "namespaces" {
        // The namespace controller's work, done at once: everything in it goes.
        for r in resources::RESOURCES.iter().filter(|r| r.namespaced) {
            let names: Vec<String> = state.list(r, Some(name)).into_iter().map(|o| ns_name(o).1).collect();
            for n in names {
                state.remove(r, name, &n);
            }
        }
    }
    let mut obj = state.remove(info, ns, name).unwrap_or(Value::Null);
    if info.plural == "namespaces" {
        obj["status"]["phase"] = json!("Terminating");
        obj["metadata"]["deletionTimestamp"] = json!(super::store::now());
    }
    obj
}

/// The `autoscaling/v1` Scale of a scalable object.
pub(crate) fn scale_view(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let mut m = serde_json::Map::new();
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(field) {
            m.insert(field.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": LabelSelector::text_of(obj.pointer("/spec/selector").unwrap_or(&Value::Null)),
        },
    })
}

fn set_scale(
    state: &mut State,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    old: &Value,
    scale: &Value,
) -> ApiResult<Value> {
    let current_rv = old["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    match scale.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
        Some(rv) if !rv.is_empty() && rv != current_rv => return Err(ApiError::conflict(info, name)),
        _ => {}
    }
    let replicas = scale.pointer("/spec/replicas").map(|r| r.as_i64().filter(|r| *r >= 0));
    let replicas = match replicas {
        None => 0,
        Some(Some(r)) => r,
        Some(None) => {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                    scale["spec"]["replicas"]
                ),
            ));
        }
    };
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(replicas);
    let written = state.write(info, ns, new);
    Ok(scale_view(&written))
}

fn update_scale(
    state: &mut State,
    info: &'static ResourceInfo,
    ns: &str,
    name: &str,
    body: &Value,
) -> ApiResult<Value> {
    let old = state
        .get(info, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(info, name))?;
    set_scale(state, info, ns, name, &old, body)
}

/// Selected objects for a watch's initial events.
pub(crate) fn select_for_watch<'a>(
    state: &'a State,
    target: &Target,
    query: &Query,
) -> ApiResult<(Vec<&'a Value>, LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), target.info)?;
    let mut objects = select(state, target.info, target.namespace.as_deref(), query)?;
    if let Some(name) = &target.name {
        objects.retain(|o| ns_name(o).1 == *name);
    }
    Ok((objects, labels, fields))
}

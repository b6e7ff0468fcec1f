//! `?watch=true`: a stream of `{"type": ..., "object": ...}` lines, resumable from a recent resourceVersion.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::routes::{Query, Shared, Target, select_for_watch};
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::Change;

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

struct Filter {
    group: &'static str,
    plural: &'static str,
    namespace: Option<String>,
    name: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, c: &Change) -> bool {
        c.group == self.group
            && c.plural == self.plural
            && self.namespace.as_ref().is_none_or(|ns| *ns == c.namespace)
            && self
                .name
                .as_ref()
                .is_none_or(|n| c.object.pointer("/metadata/name").and_then(Value::as_str) == Some(n))
            && self.labels.matches(&c.object)
            && self.fields.matches(&c.object)
    }
}

pub(crate) fn handle(shared: Arc<Shared>, target: Target, query: Query) -> Result<Response, ApiError> {
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let since = query.get("resourceVersion").unwrap_or_default();
    let mut first: Vec<Bytes> = Vec::new();
    let mut expired = false;
    let (history, mut rx, filter, mut last_rv) = {
        let state = shared.lock();
        let (objects, labels, fields) = select_for_watch(&state, &target, &query)?;
        let last_rv = match since {
            "" | "0" => {
                first.extend(objects.iter().map(|o| line("ADDED", o)));
                state.resource_version()
            }
            rv => {
                let rv = rv
                    .parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?;
                if rv < state.oldest_history_rv() {
                    let gone = ApiError::new(
                        410,
                        "Expired",
                        format!("too old resource version: {rv} ({})", state.resource_version()),
                    );
                    first.push(line("ERROR", &gone.to_json()));
                    expired = true;
                }
                rv
            }
        };
        let (history, rx) = state.subscribe();
        let filter = Filter {
            group: target.info.group,
            plural: target.info.plural,
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            labels,
            fields,
        };
        (history, rx, filter, last_rv)
    };
    let (tx, mut body_rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        for b in first {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        for c in history {
            if c.rv > last_rv && filter.matches(&c) {
                last_rv = c.rv;
                if tx.send(Ok(line(c.kind, &c.object))).await.is_err() {
                    return;
                }
            }
        }
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                change = rx.recv() => match change {
                    Ok(c) => {
                        if c.rv > last_rv && filter.matches(&c) {
                            last_rv = c.rv;
                            if tx.send(Ok(line(c.kind, &c.object))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::new(410, "Expired", "the watch fell behind; list again");
                        let _ = tx.send(Ok(line("ERROR", &gone.to_json()))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| body_rx.poll_recv(cx));
    let mut res = Response::new(Body::from_stream(stream));
    *res.status_mut() = StatusCode::OK;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

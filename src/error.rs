//! Small helpers for errors from the libraries the clients use.

/// The innermost cause of an error chain: "Connection refused (os error 111)" rather than
/// the layers of client wrappers around it.
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

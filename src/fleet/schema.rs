//! The JSON Schema of the fleet file (`cutover schema fleet`), built with the runbook
//! schema's pieces from the fields `file.rs` reads: editors check a fleet file as it is
//! typed, and the tests check the shipped one and the schema against the parser.

use serde_json::{Map, Value, json};

use crate::runbook::schema::{DRAFT, Table, int, render_value, string, strings, table, tables, words};

pub fn fleet_schema() -> Value {
    let header = Table::new("The fleet: its name, and how its waves go")
        .required(
            "name",
            string(
                "The fleet's name; its record is `<name>.<environment>` (`cutover export` takes it)",
                "estate-2026",
            ),
        )
        .field(
            "description",
            string(
                "What the fleet moves, in a sentence",
                "example-bank's services to Kubernetes",
            ),
        )
        .field(
            "concurrency",
            int(
                1,
                10_000,
                "Applications driven at once inside a wave (default: the whole wave)",
                2,
            ),
        )
        .field(
            "on_rollback",
            words(
                &["ask", "roll_back", "keep"],
                "What happens to the other applications of a wave when one rolls back (default: ask)",
                "ask",
            ),
        );
    let app = Table::new("An application: its runbook, and the vars files it is loaded with")
        .required(
            "name",
            string(
                "The application's name: lines and decisions (APP/STEP) use it",
                "billing",
            ),
        )
        .required(
            "runbook",
            string("Its runbook, relative to the fleet file", "apps/billing.toml"),
        )
        .field(
            "vars",
            strings(
                "[vars] files merged over its runbook, in order (relative to the fleet file)",
                &["apps/billing.vars.toml"],
            ),
        );
    let wave =
        Table::new("A wave: applications that move together; it starts when every application of the one before holds")
            .field("name", string("The wave's name (default: \"wave N\")", "pilot"))
            .required("apps", strings("The applications of this wave, by name", &["billing"]))
            .field(
                "concurrency",
                int(1, 10_000, "This wave's own limit of applications at once", 1),
            );
    let root = Table::new("A cutover fleet file: the applications of an estate and the waves they move in")
        .required("fleet", table(header))
        .field("app", tables("The applications", app))
        .field("wave", tables("The waves, in order", wave));
    let mut ordered = Map::new();
    ordered.insert("$schema".to_string(), json!(DRAFT));
    ordered.insert("title".to_string(), json!("cutover fleet"));
    if let Value::Object(rest) = root.build() {
        ordered.extend(rest);
    }
    Value::Object(ordered)
}

/// The fleet schema as `cutover schema fleet` prints it.
pub fn render() -> String {
    render_value(&fleet_schema())
}

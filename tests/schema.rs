//! The runbook's JSON Schema (`cutover schema`, checked in as assets/runbook.schema.json)
//! agrees with the loader: every runbook that loads validates, the broken-runbook corpus is
//! refused where a schema can say why, and every field the schema lists is one the loader
//! reads (and the other way round).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use cutover::runbook::schema::{AWAITING_LOADER, render, runbook_schema};
use cutover::runbook::{LoadError, environment_names, load_str};

use crate::support::{Sandbox, assert_exit, text};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// TOML as JSON, the way an editor hands it to the schema: date-times become strings.
fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn new() -> Self {
        Self::of(runbook_schema())
    }

    fn of(schema: Value) -> Self {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("urn:cutover:runbook", schema)
            .expect("the schema is JSON");
        let index = compiler
            .compile("urn:cutover:runbook", &mut schemas)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
        Validator { schemas, index }
    }

    fn check_json(&self, instance: &Value) -> Result<(), String> {
        self.schemas
            .validate(instance, self.index)
            .map_err(|e| format!("{e:#}"))
    }

    /// Validates a runbook's text; the error names the schema's complaint.
    fn check(&self, toml_text: &str) -> Result<(), String> {
        let value: toml::Value = toml::from_str(toml_text).map_err(|e| format!("not TOML: {e}"))?;
        self.check_json(&to_json(&value))
    }
}

/// Whether the runbook loads: without an environment, or in every one it defines.
fn loads(path: &Path, text: &str) -> Result<(), String> {
    let envs = environment_names(text);
    let tries: Vec<Option<&str>> = if envs.is_empty() {
        vec![None]
    } else {
        envs.iter().map(|e| Some(e.as_str())).collect()
    };
    for env in tries {
        load_str(path, text, env).map_err(|e| format!("with --env {env:?}: {e}"))?;
    }
    Ok(())
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    out.sort();
}

#[test]
fn the_checked_in_schema_is_what_cutover_schema_prints() {
    let sb = Sandbox::new();
    let out = sb.output(&["schema"]);
    assert_exit(&out, 0);
    assert_eq!(
        text(&out.stdout),
        render(),
        "`cutover schema` prints the library's schema"
    );
    let file = Path::new(ROOT).join("assets/runbook.schema.json");
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == text(&out.stdout),
        "assets/runbook.schema.json is not what `cutover schema` prints: run `cargo run -- schema -o assets/runbook.schema.json`"
    );

    // -o writes the same bytes.
    let written = sb.path().join("schema.json");
    let out = sb.output(&["schema", "-o", written.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert_eq!(std::fs::read_to_string(&written).unwrap(), checked_in);
}

#[test]
fn the_fleet_schema_is_checked_in_and_refuses_what_the_fleet_parser_refuses() {
    let sb = Sandbox::new();
    let out = sb.output(&["schema", "fleet"]);
    assert_exit(&out, 0);
    let checked_in = std::fs::read_to_string(Path::new(ROOT).join("assets/fleet.schema.json")).unwrap_or_default();
    assert!(
        checked_in == text(&out.stdout),
        "assets/fleet.schema.json is not what `cutover schema fleet` prints: run `cargo run -- schema fleet -o assets/fleet.schema.json`"
    );
    let v = Validator::of(cutover::fleet::schema::fleet_schema());
    let good = "[fleet]\nname = \"estate\"\non_rollback = \"keep\"\n[[app]]\nname = \"a\"\nrunbook = \"a.toml\"\nvars = [\"a.vars.toml\"]\n[[wave]]\nname = \"one\"\napps = [\"a\"]\nconcurrency = 1\n";
    v.check(good).unwrap_or_else(|e| panic!("a good fleet file: {e}"));
    for (broken, why) in [
        (
            "[fleet]\nname = \"x\"\non_rollback = \"panic\"\n",
            "an unknown on_rollback word",
        ),
        ("[fleet]\nname = \"x\"\nconcurency = 2\n", "a misspelt field"),
        (
            "[fleet]\nname = \"x\"\n[[app]]\nname = \"a\"\n",
            "an application without its runbook",
        ),
        (
            "[fleet]\nname = \"x\"\n[[wave]]\napps = [\"a\"]\nconcurrency = 0\n",
            "a concurrency of 0",
        ),
        ("[flet]\nname = \"x\"\n", "no [fleet]"),
    ] {
        assert!(v.check(broken).is_err(), "the schema accepts {why}");
        let dir = tempfile::tempdir().unwrap();
        assert!(
            cutover::fleet::parse(&dir.path().join("f.toml"), broken).is_err(),
            "the fleet parser accepts {why}"
        );
    }
}

#[test]
fn the_schema_is_draft_07_with_a_description_on_every_field() {
    let schema = runbook_schema();
    assert_eq!(schema["$schema"], json!("http://json-schema.org/draft-07/schema#"));
    let mut undescribed = Vec::new();
    fn walk(v: &Value, at: String, undescribed: &mut Vec<String>) {
        if let Some(Value::Object(props)) = v.get("properties") {
            for (name, p) in props {
                let here = format!("{at}/{name}");
                // A field of a variant rule (`then`) is described where the table lists it.
                if p.get("description").is_none() && !at.contains("/then") {
                    undescribed.push(here.clone());
                }
                walk(p, here, undescribed);
            }
        }
        for key in ["items", "additionalProperties", "definitions"] {
            if let Some(inner) = v.get(key).filter(|i| i.is_object()) {
                walk(inner, format!("{at}/{key}"), undescribed);
            }
        }
        if let Some(Value::Object(defs)) = v.get("definitions") {
            for (name, d) in defs {
                walk(d, format!("{at}/definitions/{name}"), undescribed);
            }
        }
        if let Some(Value::Array(rules)) = v.get("allOf") {
            for (i, r) in rules.iter().enumerate() {
                if let Some(then) = r.get("then") {
                    walk(then, format!("{at}/allOf/{i}/then"), undescribed);
                }
            }
        }
    }
    walk(&schema, String::new(), &mut undescribed);
    assert!(undescribed.is_empty(), "fields without a description: {undescribed:?}");
    // The fixed words are enums.
    let step = &schema["definitions"]["step"]["properties"];
    assert!(step["kind"]["enum"].as_array().unwrap().contains(&json!("dns.flip")));
    assert_eq!(step["on_failure"]["enum"], json!(["stop", "rollback"]));
    assert!(
        schema["properties"]["dns"]["properties"]["provider"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("route53"))
    );
    assert_eq!(
        schema["properties"]["state"]["properties"]["backend"]["enum"],
        json!(["local", "kubernetes"])
    );
}

#[test]
fn every_shipped_runbook_validates() {
    let v = Validator::new();
    let fleets = Validator::of(cutover::fleet::schema::fleet_schema());
    let mut files = Vec::new();
    toml_files(&Path::new(ROOT).join("runbooks"), &mut files);
    assert!(files.len() >= 4, "{files:?}");
    let mut fleet_files = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("#:schema "),
            "{} does not start with the `#:schema` line",
            path.display()
        );
        // Each file names its own schema, relative to itself: check that it is this one.
        let named = text.lines().next().unwrap().trim_start_matches("#:schema ").trim();
        let named = path.parent().unwrap().join(named).canonicalize().unwrap();
        let fleet = cutover::fleet::is_fleet(&text);
        let expected = Path::new(ROOT)
            .join(if fleet {
                "assets/fleet.schema.json"
            } else {
                "assets/runbook.schema.json"
            })
            .canonicalize()
            .unwrap();
        assert_eq!(named, expected, "{} points at the wrong schema", path.display());
        if fleet {
            fleet_files += 1;
            if let Err(e) = fleets.check(&text) {
                panic!("{} does not validate against the fleet schema:\n{e}", path.display());
            }
            continue;
        }
        if let Err(e) = v.check(&text) {
            panic!("{} does not validate against the schema:\n{e}", path.display());
        }
    }
    assert!(
        fleet_files >= 1,
        "runbooks/fleet.toml is checked against the fleet schema"
    );
}

/// The runbooks the tests load: the scenario files, and every raw string in tests/*.rs that
/// is a runbook the loader accepts.
#[test]
fn every_runbook_the_tests_load_validates() {
    let v = Validator::new();
    let mut files = Vec::new();
    toml_files(&Path::new(ROOT).join("tests/scenarios"), &mut files);
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        if loads(path, &text).is_ok() {
            checked += 1;
            if let Err(e) = v.check(&text) {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(Path::new(ROOT).join("tests")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "rs") {
            sources.push(entry.path());
        }
    }
    sources.sort();
    for path in sources {
        let source = std::fs::read_to_string(&path).unwrap();
        for (i, raw) in source.split("r#\"").skip(1).enumerate() {
            let Some((body, _)) = raw.split_once("\"#") else {
                continue;
            };
            if !body.contains("[[phase]]") || toml::from_str::<toml::Value>(body).is_err() {
                continue;
            }
            if loads(&path, body).is_err() {
                continue;
            }
            checked += 1;
            if let Err(e) = v.check(body) {
                failures.push(format!("{} (raw string {}): {e}\n{body}", path.display(), i + 1));
            }
        }
    }
    eprintln!("{checked} runbooks checked");
    assert!(checked > files.len(), "only {checked} runbooks found");
    assert!(
        failures.is_empty(),
        "runbooks that load but do not validate:\n{}",
        failures.join("\n\n")
    );
}

/// The broken-runbook corpus cases a schema can refuse: each with a piece of the schema's
/// error that shows it is refused for the case's own mistake.
const SCHEMA_REFUSES: &[(&str, &str)] = &[
    ("03-unknown-section", "'rollbak' not allowed"),
    ("04-unknown-kind", "/kind"),
    ("05-unknown-field", "'timout' not allowed"),
    ("10-bad-duration-unit", "'24hh' does not match"),
    ("11-bad-duration-bare-number", "want string, but got number"),
    ("12-bad-duration-bare-string", "/after/delay"),
    ("13-bad-not-before", "/not_before"),
    ("17-approve-yes", "'yes' does not match"),
    ("18-approve-type-empty", "'type:' does not match"),
    ("19-on-failure-explode", "/on_failure"),
    ("28-env-overrides-phase", "'phase' not allowed"),
    ("29-unknown-section-phases", "'phases' not allowed"),
    ("34-headers-env-not-a-name", "/headers_env/Authorization"),
    ("36-tsig-secret-inline", "'secret' not allowed"),
    ("38-unknown-dns-provider", "/dns/provider"),
    ("40-hosted-provider-credential-value", "/dns/credentials_env/api_key"),
    ("42-smoke-check-without-port", "missing properties 'port'"),
    ("43-expose-service-and-ingress", "not failed"),
    ("45-p99-increase-not-a-percentage", "/metrics/max_p99_increase"),
    ("47-env-name-climbs-out", "'x/../../escaped' does not match"),
    ("48-env-name-with-slash", "'eu/prod' does not match"),
    ("49-names-with-control-characters", "/id"),
    ("50-name-with-leading-dot", "'.hidden' does not match"),
    ("51-empty-names", "invalid property ''"),
    ("52-name-500-characters", "length must be <=64"),
    ("59-state-in-the-cluster-misspelt", "/state/"),
    ("60-state-unknown-backend", "/state/backend"),
];

/// The cases only the loader can judge, and why.
const NEEDS_THE_LOADER: &[(&str, &str)] = &[
    ("01-toml-syntax", "not TOML: there is nothing to validate"),
    (
        "02-missing-name",
        "`[runbook] name` is optional in the schema: a runbook that is only included may leave it out",
    ),
    (
        "06-duplicate-step-id",
        "ids unique across steps: a reference between tables",
    ),
    (
        "07-duplicate-phase-id",
        "ids unique across phases: a reference between tables",
    ),
    ("08-undefined-var", "which `${name}` is defined: variables"),
    ("09-var-cycle", "variables that refer to each other"),
    ("14-after-missing-step", "`after` names a step that exists: a reference"),
    (
        "15-after-later-step",
        "`after` names an earlier step: order of references",
    ),
    ("16-after-self", "`after` names another step: a reference"),
    ("20-inline-secret-var", "a secret by its value (heuristics on text)"),
    (
        "21-inline-authorization-header",
        "a credential in a header's value (heuristics on text)",
    ),
    (
        "22-resolve-host-mismatch",
        "`resolve.host` equals the URL's host: two values compared",
    ),
    (
        "23-output-used-too-early",
        "an output used before the step that sets it: order of references",
    ),
    (
        "24-rollback-after",
        "`after` in a rollback step refers to the run's steps",
    ),
    (
        "25-phase-after-hold-order",
        "phase order against after_hold: order across tables",
    ),
    ("26-unknown-env", "which --env is given: the command line"),
    ("27-env-required", "that --env is given: the command line"),
    ("30-no-steps", "phases without any step across the runbook"),
    ("31-password-in-url", "a credential inside a URL (heuristics on text)"),
    (
        "32-bearer-in-command",
        "a credential inside a command (heuristics on text)",
    ),
    ("33-everything-after-hold", "every phase after the hold: across tables"),
    (
        "35-dns-step-without-dns-section",
        "a dns.* step needs [dns]: across sections",
    ),
    ("37-record-outside-zone", "a record in the zone: two values compared"),
    (
        "39-revert-without-flip",
        "a dns.revert needs a dns.flip: across steps (the schema refuses the file, but for its hmac-md5 TSIG algorithm)",
    ),
    (
        "41-k8s-step-without-k8s-section",
        "a k8s.* step needs [k8s]: across sections",
    ),
    (
        "44-watch-without-metrics-section",
        "a metrics.* step needs [metrics]: across sections",
    ),
    (
        "46-watch-without-baseline",
        "metrics.watch needs a metrics.baseline before it: across steps",
    ),
    (
        "53-control-characters-in-text",
        "control characters in any text (the loader checks every string)",
    ),
    (
        "54-runbook-name-from-a-variable",
        "a name built from a variable is judged after substitution",
    ),
    (
        "55-post-with-retries",
        "retries only with idempotent or a safe method: two fields compared",
    ),
    (
        "56-cname-at-the-zone-apex",
        "a CNAME at the apex: record names against the zone",
    ),
    (
        "57-per-name-targets-that-miss-a-record",
        "per-name targets cover every record: across sections",
    ),
    (
        "58-dual-stack-value-of-the-wrong-type",
        "an address of the other family: values against [dns] type",
    ),
];

#[test]
fn the_schema_refuses_the_broken_runbooks_it_can_express() {
    let v = Validator::new();
    let mut files = Vec::new();
    toml_files(&Path::new(ROOT).join("tests/runbooks/broken"), &mut files);
    let mut report = Vec::new();
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let result = v.check(&text);
        let refused = SCHEMA_REFUSES.iter().any(|(n, _)| *n == stem);
        let loader = NEEDS_THE_LOADER.iter().any(|(n, _)| *n == stem);
        match (refused, loader, result) {
            (true, false, Err(e)) => {
                let (_, fragment) = SCHEMA_REFUSES.iter().find(|(n, _)| *n == stem).unwrap();
                if !e.contains(fragment) {
                    report.push(format!("{}: refused, but not for `{fragment}`:\n{e}", path.display()));
                }
            }
            (true, false, Ok(())) => report.push(format!("{}: the schema accepts it", path.display())),
            (false, true, _) => {}
            (true, true, _) => report.push(format!("{stem} is in both lists")),
            (false, false, r) => report.push(format!(
                "{stem} is in neither list (the schema {})",
                match r {
                    Ok(()) => "accepts it".to_string(),
                    Err(e) => format!("refuses it: {e}"),
                }
            )),
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_duration_pattern_accepts_what_the_loader_does() {
    let v = Validator::of(json!({"type": "string", "pattern": format!("^(?:{})$", cutover::duration::PATTERN)}));
    for sample in [
        "30s", "24h", "1h30m", "200ms", "2d", "0s", "1.5h", " 5m ", "10 s", "3 weeks", "1h 30m", "72h", "500us", "1M",
    ] {
        assert!(cutover::duration::parse(sample).is_ok(), "{sample}");
        assert!(v.check_json(&json!(sample)).is_ok(), "the pattern refuses {sample:?}");
    }
    for sample in ["", "30", "s", "30x", "1h-30m", "soon", "5 minutes ago", "1..5s", "-5s"] {
        assert!(cutover::duration::parse(sample).is_err(), "{sample}");
        assert!(v.check_json(&json!(sample)).is_err(), "the pattern accepts {sample:?}");
    }
}

/// A key no reader knows: the loader's "unknown field" help then lists the keys it asked for.
const PROBE: &str = "zzqx_probe";

/// A runbook around one step: the sections every kind needs, and the steps the examples
/// refer to (`after`, `flip`, `lowered_by`, a baseline before a watch).
fn runbook_with(schema: &Value, sections: &[(&str, Value)], step: Option<Value>) -> String {
    let mut root = serde_json::Map::new();
    root.insert("runbook".into(), json!({"name": "drift", "hold": "72h"}));
    for s in ["dns", "k8s", "metrics"] {
        root.insert(s.into(), schema["properties"][s]["examples"][0].clone());
    }
    for (name, value) in sections {
        root.insert(name.to_string(), value.clone());
    }
    let mut steps = vec![
        json!({"id": "lower-ttl", "kind": "dns.lower_ttl"}),
        json!({"id": "flip", "kind": "dns.flip", "from": "192.0.2.10", "to": "192.0.2.20"}),
        json!({"id": "baseline", "kind": "metrics.baseline"}),
    ];
    steps.extend(step);
    root.insert("phase".into(), json!([{"id": "window", "step": steps}]));
    toml::to_string(&Value::Object(root)).unwrap()
}

/// The keys the loader asked for in the table holding the probe.
fn asked_keys(text: &str) -> Result<BTreeSet<String>, String> {
    let err = match load_str(Path::new("drift.toml"), text, None) {
        Ok(_) => return Err("the probe was accepted".into()),
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics,
        Err(e) => return Err(e.to_string()),
    };
    let unknown: Vec<_> = err.items.iter().filter(|d| d.code == "unknown-field").collect();
    let others: Vec<String> = unknown
        .iter()
        .filter(|d| !d.message.contains(PROBE))
        .map(|d| d.message.clone())
        .collect();
    if !others.is_empty() {
        return Err(format!("fields of the schema the loader does not know: {others:?}"));
    }
    let probe = unknown
        .iter()
        .find(|d| d.message.contains(PROBE))
        .ok_or("no diagnostic for the probe")?;
    let help = probe.help.clone().unwrap_or_default();
    let listed = help.strip_prefix("fields here: ").ok_or(format!("help: {help}"))?;
    Ok(listed.split(", ").map(str::to_string).collect())
}

/// The keys a table's schema allows for one example (its variant's fields).
fn allowed_keys(table: &Value, example: &Value) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = table["properties"].as_object().unwrap().keys().cloned().collect();
    // A variant narrows the keys with `propertyNames` in its rule.
    for rule in table["allOf"].as_array().into_iter().flatten() {
        let Some(Value::Object(cond)) = rule["if"]["properties"].as_object().map(|p| Value::Object(p.clone())) else {
            continue;
        };
        let matches = cond.iter().all(|(k, c)| example.get(k) == c.get("const"));
        if let (true, Some(Value::Array(names))) = (matches, rule["then"]["propertyNames"].get("enum")) {
            keys = names.iter().map(|n| n.as_str().unwrap().to_string()).collect();
        }
    }
    keys.retain(|k| !AWAITING_LOADER.contains(&k.as_str()));
    keys
}

fn with_probe(mut example: Value) -> Value {
    example[PROBE] = json!(1);
    example
}

/// For every step kind: a step that sets every field of the kind's schema loads (the loader
/// knows each field, and the schema agrees it is valid), and the keys the loader asks for
/// are exactly the schema's.
#[test]
fn every_step_kind_reads_the_fields_its_schema_lists() {
    let schema = runbook_schema();
    let v = Validator::new();
    let step = &schema["definitions"]["step"];
    let examples = step["examples"].as_array().unwrap();
    let kinds = step["properties"]["kind"]["enum"].as_array().unwrap();
    assert_eq!(examples.len(), kinds.len(), "one example per kind");
    let mut problems = Vec::new();
    for example in examples {
        let kind = example["kind"].as_str().unwrap();
        let mut example = example.clone();
        example["id"] = json!("under-test");
        let text = runbook_with(&schema, &[], Some(example.clone()));
        if let Err(e) = load_str(Path::new("drift.toml"), &text, None) {
            problems.push(format!("{kind}: the loader refuses the schema's example:\n{e}\n{text}"));
        }
        if let Err(e) = v.check(&text) {
            problems.push(format!("{kind}: the schema refuses its own example:\n{e}"));
        }
        match asked_keys(&runbook_with(&schema, &[], Some(with_probe(example.clone())))) {
            Ok(asked) => {
                let allowed = allowed_keys(step, &example);
                if asked != allowed {
                    problems.push(format!(
                        "{kind}: the loader reads {:?} the schema lacks; the schema lists {:?} the loader does not read",
                        asked.difference(&allowed).collect::<Vec<_>>(),
                        allowed.difference(&asked).collect::<Vec<_>>()
                    ));
                }
            }
            Err(e) => problems.push(format!("{kind}: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The same for the sections: each example (one per variant: every DNS provider) loads and
/// validates, and the keys the section's reader asks for are the schema's.
#[test]
fn every_section_reads_the_fields_its_schema_lists() {
    let schema = runbook_schema();
    let v = Validator::new();
    let mut problems = Vec::new();
    let mut seen = 0;
    for section in ["runbook", "dns", "k8s", "metrics", "state", "notify", "rollback"] {
        let table = &schema["properties"][section];
        for example in table["examples"].as_array().unwrap() {
            seen += 1;
            let what = format!(
                "[{section}] {}",
                example.get("provider").or(example.get("backend")).unwrap_or(&json!(""))
            );
            let mut example = example.clone();
            if section == "runbook" {
                example["name"] = json!("drift");
            }
            let text = runbook_with(&schema, &[(section, example.clone())], None);
            if let Err(e) = load_str(Path::new("drift.toml"), &text, None) {
                problems.push(format!("{what}: the loader refuses the schema's example:\n{e}\n{text}"));
            }
            if let Err(e) = v.check(&text) {
                problems.push(format!("{what}: the schema refuses its own example:\n{e}"));
            }
            match asked_keys(&runbook_with(&schema, &[(section, with_probe(example.clone()))], None)) {
                Ok(asked) => {
                    let allowed = allowed_keys(table, &example);
                    // A reader may ask for a key of another variant (to say it does not belong).
                    let all: BTreeSet<String> = table["properties"].as_object().unwrap().keys().cloned().collect();
                    if !allowed.is_subset(&asked) || !asked.is_subset(&all) {
                        problems.push(format!(
                            "{what}: the loader reads {:?} the schema lacks; the schema lists {:?} the loader does not read",
                            asked.difference(&all).collect::<Vec<_>>(),
                            allowed.difference(&asked).collect::<Vec<_>>()
                        ));
                    }
                }
                Err(e) => problems.push(format!("{what}: {e}")),
            }
        }
    }
    assert!(seen >= 14, "{seen} examples");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A runbook that includes a procedure is a layer (a step's one field, a section's one value)
/// and a procedure leaves values to its apps: their shapes are checked, not what is required.
#[test]
fn layers_and_procedures_are_checked_for_shapes_not_for_what_they_leave_out() {
    let v = Validator::new();
    let layer = "[runbook]\nname = \"app\"\ninclude = [\"p.toml\"]\n[k8s]\ncontext = \"prod\"\n[[phase]]\nid = \"prepare\"\n  [[phase.step]]\n  id = \"smoke\"\n  on_failure = \"rollback\"\n";
    v.check(layer).unwrap_or_else(|e| panic!("a layer: {e}"));
    let typo = layer.replace("on_failure", "on_falure");
    assert!(v.check(&typo).is_err(), "a misspelt field in a layer is refused");
    let bad_word = layer.replace("\"rollback\"", "\"explode\"");
    assert!(v.check(&bad_word).is_err(), "a wrong word in a layer is refused");
    let alone = layer.replace("include = [\"p.toml\"]\n", "");
    assert!(
        v.check(&alone).is_err(),
        "runnable alone, a step needs its kind and [k8s] its namespace"
    );
}

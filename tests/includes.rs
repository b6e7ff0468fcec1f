//! Shared procedures: runbooks that include others, `--vars` files, and where each value
//! of the merged runbook came from.
//!
//! A case under `tests/runbooks/includes/NN-*/` is a `main.toml` with the files it reads
//! beside it. Its first line says what is wrong; `# env: NAME` and `# vars: FILE` (relative
//! to the case) on its first three lines say how it is loaded. What the operator sees is
//! kept as a snapshot: the errors, or the warnings of a case that loads.

use std::path::{Path, PathBuf};

use cutover::runbook::{Action, LoadError, Loaded, load_file, load_file_with};

use crate::runbook_diagnostics::{relative, requested_env, what_is_wrong};
use crate::support::{Sandbox, assert_exit, text};

/// The vars files a case asks for: `# vars: FILE` on one of its first three lines.
fn requested_vars(case: &Path, text: &str) -> Vec<PathBuf> {
    text.lines()
        .take(3)
        .filter_map(|line| line.trim_end().strip_prefix("# vars: "))
        .map(|name| case.join(name.trim()))
        .collect()
}

#[test]
fn include_cases() {
    insta::glob!("runbooks/includes/*/main.toml", |absolute| {
        let path = relative(absolute);
        let case = path.parent().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let description = what_is_wrong(&text);
        let env = requested_env(&text);
        let vars = requested_vars(case, &text);

        let shown = match load_file_with(&path, env.as_deref(), &vars) {
            Ok(loaded) => {
                assert!(
                    !loaded.warnings.items.is_empty(),
                    "{} loaded without a warning, but: {description}",
                    path.display()
                );
                loaded.warnings.render(&loaded.source)
            }
            Err(err @ LoadError::Invalid { .. }) => err.to_string(),
            Err(err) => panic!("{} did not fail validation: {err}", path.display()),
        };
        insta::with_settings!({ description => description, omit_expression => true }, {
            insta::assert_snapshot!(shown);
        });
    });
}

fn load(path: &str, env: Option<&str>, vars: &[&str]) -> Loaded {
    let vars: Vec<PathBuf> = vars.iter().map(PathBuf::from).collect();
    load_file_with(Path::new(path), env, &vars).unwrap_or_else(|e| panic!("{path} does not load:\n{e}"))
}

fn diagnostics_of(path: &str) -> String {
    match load_file(Path::new(path), None) {
        Ok(_) => panic!("{path} loaded"),
        Err(e) => e.to_string(),
    }
}

/// An error in a file two includes down is shown at that file's line and column, with the
/// chain of includes that brought it in, innermost first.
#[test]
fn an_error_in_an_included_file_names_that_file_and_the_chain() {
    let dir = "tests/runbooks/includes/01-error-in-an-included-file";
    let shown = diagnostics_of(&format!("{dir}/main.toml"));
    let at = format!("--> {dir}/procedures/checklist.toml:6:3");
    let inner = format!("= included from {dir}/procedures/standard.toml:3:12");
    let outer = format!("= included from {dir}/main.toml:4:12");
    assert!(shown.contains(&at), "{shown}");
    let (i, o) = (shown.find(&inner), shown.find(&outer));
    assert!(i.is_some() && o.is_some() && i < o, "{shown}");
}

#[test]
fn a_cycle_of_includes_is_shown_round_the_circle() {
    let dir = "tests/runbooks/includes/02-cycle";
    let shown = diagnostics_of(&format!("{dir}/main.toml"));
    assert!(
        shown.contains(&format!(
            "{dir}/main.toml → {dir}/a.toml → {dir}/b.toml → {dir}/main.toml"
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!("--> {dir}/b.toml:2:12")), "{shown}");
}

/// The billing app changes the procedure's smoke step: its own checks, in the step the
/// procedure placed, with the rest of the step (title, kind) from the procedure.
#[test]
fn an_app_overrides_the_checks_of_the_procedures_smoke_step() {
    let loaded = load("runbooks/apps/billing.toml", Some("staging"), &[]);
    let rb = &loaded.runbook;
    let prepare: Vec<&str> = rb.phases[0].steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        prepare,
        ["rollout", "smoke", "expose", "lb-answers", "dns-check", "lower-ttl"]
    );
    let smoke = &rb.phases[0].steps[1];
    assert_eq!(smoke.title, "Readiness of every process through a port-forward");
    let Action::K8sSmoke(s) = &smoke.action else {
        panic!("smoke is {:?}", smoke.action)
    };
    let checks: Vec<(&str, u16, &str)> = s
        .checks
        .iter()
        .map(|c| (c.deployment.as_str(), c.port, c.path.as_str()))
        .collect();
    assert_eq!(
        checks,
        [
            ("web", 3000, "/health/readiness"),
            ("workers", 3001, "/health"),
            ("consumer-invoices", 3002, "/health"),
            ("consumer-payments", 3003, "/health"),
            ("consumer-ledger", 3004, "/health"),
        ]
    );
    // The provenance says so: the step is the procedure's, its checks the app's.
    let origin = &loaded.provenance.steps["smoke"];
    assert_eq!(
        loaded.source.file_line(origin.defined.start),
        "runbooks/procedures/blue-green-dns.toml:65"
    );
    let changed: Vec<(&str, String)> = origin
        .overridden
        .iter()
        .map(|(k, span)| (k.as_str(), loaded.source.file_line(span.start)))
        .collect();
    assert_eq!(changed, [("checks", "runbooks/apps/billing.toml:44".to_string())]);
    // The app's [runbook] wins, and `include` is gone from what was loaded.
    assert_eq!(rb.name, "billing-cutover");
    assert_eq!(rb.hold, std::time::Duration::from_secs(72 * 3600));
}

/// search places its own steps among the procedure's with insert_after, in the window and
/// in the rollback, and flips both its hostnames.
#[test]
fn new_steps_go_where_insert_after_says() {
    let loaded = load("runbooks/apps/search.toml", Some("production"), &[]);
    let rb = &loaded.runbook;
    let window: Vec<&str> = rb.phases[1].steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        window,
        [
            "baseline",
            "flip",
            "verify",
            "stop-vm-scheduler",
            "scheduler-on-k8s",
            "watch",
            "validate"
        ]
    );
    let rollback: Vec<&str> = rb.rollback.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        rollback,
        ["dns-back", "scheduler-off-k8s", "restart-vm-scheduler", "scale-to-zero"]
    );
    let Action::K8sScale(scale) = &rb.phases[1].steps[4].action else {
        panic!()
    };
    assert_eq!(
        (scale.deployments.as_slice(), scale.replicas),
        (&["scheduler".to_string()][..], Some(1))
    );
    let dns = rb.dns.as_ref().expect("[dns] from the procedure");
    assert_eq!(
        dns.records,
        ["search.example-bank.example.", "find.example-bank.example."]
    );
}

#[test]
fn precedence_is_procedure_then_app_then_vars_files_then_the_environment() {
    let dir = "tests/runbooks/includes/precedence";
    let app = format!("{dir}/app.toml");
    let one = format!("{dir}/one.vars.toml");
    let two = format!("{dir}/two.vars.toml");
    let value = |loaded: &Loaded, name: &str| loaded.runbook.vars[name].to_string();

    let plain = load(&app, Some("prod"), &[]);
    let with_vars = load(&app, Some("prod"), &[&one, &two]);
    let expected_plain = [
        ("p", "procedure"),
        ("a", "app"),
        ("v", "app"),
        ("v2", "app"),
        ("e", "app-env"),
        ("pe", "procedure-env"),
        ("ea", "app-env"),
    ];
    for (name, expected) in expected_plain {
        assert_eq!(value(&plain, name), expected, "{name} without vars files");
    }
    let expected_with_vars = [
        ("p", "procedure"),
        ("a", "app"),
        ("v", "vars-one"),
        // The later vars file wins.
        ("v2", "vars-two"),
        // An environment's overlay wins over every [vars], a vars file's too.
        ("e", "app-env"),
        ("pe", "procedure-env"),
        // Overlays merge in the same order as the layers: a vars file's is on top.
        ("ea", "vars-env"),
    ];
    for (name, expected) in expected_with_vars {
        assert_eq!(value(&with_vars, name), expected, "{name} with vars files");
    }
    assert_eq!(
        with_vars.runbook.phases[0].steps[0].title,
        "procedure app vars-one vars-two app-env procedure-env vars-env"
    );
    // Each value's origin is the file that set it.
    let origin = |name: &str| with_vars.source.file_line(with_vars.provenance.vars[name].start);
    assert_eq!(origin("p"), format!("{dir}/procedure.toml:6"));
    assert_eq!(origin("v2"), format!("{dir}/two.vars.toml:2"));
    assert_eq!(origin("e"), format!("{dir}/app.toml:13"));
    assert_eq!(origin("ea"), format!("{dir}/one.vars.toml:7"));
    // The digest is of the resolved runbook: another vars file, another digest.
    assert_ne!(plain.digest, with_vars.digest);
}

/// The digest follows the content of a vars file, not only which files were given.
#[test]
fn the_digest_changes_when_a_vars_file_does() {
    let sb = Sandbox::new();
    let runbook = sb.write(
        "app.toml",
        "[runbook]\nname = \"app\"\n[vars]\nhost = \"a.example\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"s\"\n  kind = \"manual\"\n  title = \"${host}\"\n",
    );
    let vars = sb.write("v.vars.toml", "[vars]\nhost = \"b.example\"\n");
    let given = [vars.clone()];
    let first = load_file_with(&runbook, None, &given).unwrap();
    let again = load_file_with(&runbook, None, &given).unwrap();
    assert_eq!(first.digest, again.digest);
    sb.write("v.vars.toml", "[vars]\nhost = \"c.example\"\n");
    let changed = load_file_with(&runbook, None, &given).unwrap();
    assert_ne!(first.digest, changed.digest);
    assert_eq!(changed.runbook.phases[0].steps[0].title, "c.example");
}

/// `cutover plan --vars`: the merged values, each with the file:line it came from, and the
/// procedure's steps with the fields the app changed; no line wider than 100 columns in
/// what provenance adds.
#[test]
fn plan_with_vars_shows_where_each_value_came_from() {
    let sb = Sandbox::new();
    let out = sb.output(&[
        "plan",
        "runbooks/apps/billing.toml",
        "--env",
        "staging",
        "--vars",
        "runbooks/apps/billing.staging-eu.vars.toml",
    ]);
    assert_exit(&out, 0);
    let plan = text(&out.stdout);
    let line_of = |needle: &str| {
        plan.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{plan}"))
            .to_string()
    };
    assert!(
        line_of("runbooks/procedures/blue-green-dns.toml (included at").contains("runbooks/apps/billing.toml:12"),
        "{plan}"
    );
    line_of("runbooks/apps/billing.staging-eu.vars.toml (--vars)");
    let context = line_of("k8s_context = ");
    assert!(
        context.contains("staging-eu-west-2") && context.ends_with("runbooks/apps/billing.staging-eu.vars.toml:10"),
        "{context}"
    );
    assert!(
        line_of("hostname = ").ends_with("runbooks/apps/billing.toml:26"),
        "{plan}"
    );
    assert!(
        line_of("readiness_path = ").ends_with("runbooks/procedures/blue-green-dns.toml:26"),
        "{plan}"
    );
    assert!(plan.contains("cluster: context staging-eu-west-2"), "{plan}");
    // The smoke step: the procedure's, with the app's checks.
    let smoke = plan
        .split("2. smoke")
        .nth(1)
        .expect("the smoke step")
        .split("3. expose")
        .next()
        .unwrap();
    assert!(
        smoke.contains("from runbooks/procedures/blue-green-dns.toml:65"),
        "{smoke}"
    );
    assert!(
        smoke.contains("changed in runbooks/apps/billing.toml: checks (line 44)"),
        "{smoke}"
    );
    assert!(smoke.contains(":3004/health"), "{smoke}");
    let variables = plan
        .split("\nVariables")
        .nth(1)
        .unwrap()
        .split("\nPhase 1")
        .next()
        .unwrap();
    for line in variables
        .lines()
        .chain(plan.lines().filter(|l| l.trim_start().starts_with("from ")))
    {
        assert!(line.chars().count() <= 100, "wider than 100 columns: {line:?}");
    }

    // Without --vars, the app's own value, from the app.
    let out = sb.output(&["plan", "runbooks/apps/billing.toml", "--env", "staging"]);
    assert_exit(&out, 0);
    let plan = text(&out.stdout);
    assert!(!plan.contains("(--vars)"), "{plan}");
    assert!(
        plan.lines()
            .any(|l| l.contains("k8s_context = staging-eu ") && l.ends_with("runbooks/apps/billing.toml:31")),
        "{plan}"
    );
}

/// A vars file's mistakes are reported in the vars file, at line and column, by validate.
#[test]
fn validate_reports_a_vars_file_problem_at_its_position() {
    let sb = Sandbox::new();
    let out = sb.output(&[
        "validate",
        "tests/runbooks/includes/05-vars-file-with-a-dns-section/main.toml",
        "--vars",
        "tests/runbooks/includes/05-vars-file-with-a-dns-section/settings.vars.toml",
    ]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--> tests/runbooks/includes/05-vars-file-with-a-dns-section/settings.vars.toml:4:2"),
        "{stderr}"
    );
    // A missing vars file is an error, not silence.
    let out = sb.output(&["validate", "runbooks/apps/billing.toml", "--vars", "nowhere.vars.toml"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("cannot read vars file nowhere.vars.toml"));
}

/// A directory, or a file that is not a regular file, is refused at the include.
#[test]
fn an_include_that_is_not_a_regular_file_is_refused() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path().join("procedures")).unwrap();
    let runbook = sb.write(
        "app.toml",
        "[runbook]\nname = \"app\"\ninclude = [\"procedures\", \"/dev/null\"]\n",
    );
    let err = load_file(&runbook, None).expect_err("nothing to include");
    let shown = err.to_string();
    assert_eq!(shown.matches("it is not a regular file").count(), 2, "{shown}");
    assert!(shown.contains("app.toml:3:12"), "{shown}");
}

/// One procedure included along many paths is read each time, up to a bound.
#[test]
fn a_procedure_included_along_many_paths_is_bounded() {
    let sb = Sandbox::new();
    // Each level includes the next twice: 2^7 reads without a bound.
    for level in 1..7 {
        sb.write(
            &format!("l{level}.toml"),
            &format!("[runbook]\ninclude = [\"l{0}.toml\", \"l{0}.toml\"]\n", level + 1),
        );
    }
    sb.write("l7.toml", "[vars]\nx = \"1\"\n");
    let runbook = sb.write("app.toml", "[runbook]\nname = \"app\"\ninclude = [\"l1.toml\"]\n");
    let err = load_file(&runbook, None).expect_err("too many files");
    let LoadError::Invalid { file, diagnostics } = &err else {
        panic!("{err}")
    };
    assert!(diagnostics.items.iter().any(|d| d.code == "too-many-files"), "{err}");
    assert_eq!(file.files.len(), cutover::runbook::MAX_FILES);
}

/// `cutover run --vars`: the run keeps the values it started with; a vars file changed under
/// a run is refused like a changed runbook.
#[test]
fn a_run_refuses_a_changed_vars_file() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "app.toml",
        "[runbook]\nname = \"app\"\nhold = \"0s\"\n[vars]\nmsg = \"default\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"ticket\"\n  kind = \"manual\"\n  title = \"Ticket for ${msg}\"\n  note = \"required\"\n",
    );
    let vars = sb.write("v.vars.toml", "[vars]\nmsg = \"one\"\n");
    let (rb, vars) = (rb.to_str().unwrap(), vars.to_str().unwrap());
    assert_exit(&sb.output(&["run", rb, "--headless", "--vars", vars]), 3);
    // The same files: the run goes on (and waits again).
    assert_exit(&sb.output(&["run", rb, "--headless", "--vars", vars]), 3);
    std::fs::write(vars, "[vars]\nmsg = \"two\"\n").unwrap();
    let out = sb.output(&["run", rb, "--headless", "--vars", vars]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("the runbook changed since run"), "{stderr}");
    assert!(stderr.contains("--vars files"), "{stderr}");
}

//! A corpus of broken runbooks, each broken in one way, with the diagnostic an operator
//! sees for it kept as a snapshot; and a check that the runbooks we ship stay valid.
//!
//! A file under `tests/runbooks/broken/` starts with a comment saying what is wrong. It may
//! ask for an environment with a comment `# env: NAME` on its first or second line.

use std::path::{Path, PathBuf};

use cutover::runbook::{LoadError, environments_of, load_file, load_file_with};

/// The crate root, canonicalised the same way `insta::glob!` canonicalises its base.
pub(crate) fn crate_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// `path` relative to the crate root, so rendered diagnostics name the same file on every machine.
/// Tests run with the crate root as the working directory, so the relative path also opens the file.
pub(crate) fn relative(path: &Path) -> PathBuf {
    let root = crate_root();
    path.strip_prefix(&root)
        .or_else(|_| path.strip_prefix(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|_| panic!("{} is not under {}", path.display(), root.display()))
        .to_path_buf()
}

/// The environment a broken runbook asks for: `# env: NAME` on its first or second line.
pub(crate) fn requested_env(text: &str) -> Option<String> {
    text.lines()
        .take(2)
        .find_map(|line| line.trim_end().strip_prefix("# env: "))
        .map(|name| name.trim().to_string())
}

/// The first-line comment saying what is wrong with a broken runbook.
pub(crate) fn what_is_wrong(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let Some(comment) = first.strip_prefix('#') else {
        panic!("a broken runbook starts with a comment saying what is wrong, found: {first:?}");
    };
    comment.trim().to_string()
}

#[test]
fn broken_runbooks() {
    insta::glob!("runbooks/broken/*.toml", |absolute| {
        let path = relative(absolute);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let description = what_is_wrong(&text);
        let env = requested_env(&text);

        let err = match load_file(&path, env.as_deref()) {
            Ok(_) => panic!(
                "{} loaded without errors, but it is broken: {description}",
                path.display()
            ),
            Err(err) => err,
        };
        let LoadError::Invalid { diagnostics, .. } = &err else {
            panic!("{} did not fail validation: {err}", path.display());
        };
        assert!(
            diagnostics.error_count() >= 1,
            "{} failed without an error diagnostic:\n{err}",
            path.display()
        );

        let description = match &env {
            Some(env) => format!("{description} (env: {env})"),
            None => description,
        };
        insta::with_settings!({ description => description, omit_expression => true }, {
            insta::assert_snapshot!(err.to_string());
        });
    });
}

/// The runbooks under `dir` (not the vars files beside them), sorted.
fn runbooks_in(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| !p.to_string_lossy().ends_with(".vars.toml"))
        // A fleet file is checked by tests/fleet.rs.
        .filter(|p| !cutover::fleet::is_fleet_file(p))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_runbooks_are_valid_in_every_environment() {
    // A procedure (runbooks/procedures/) is checked through the apps that include it.
    let apps = runbooks_in("runbooks/apps");
    assert!(apps.len() >= 2, "the example apps are in runbooks/apps/");
    let files: Vec<PathBuf> = runbooks_in("runbooks").into_iter().chain(apps).collect();

    for path in &files {
        let environments = environments_of(path);
        if environments.is_empty() {
            if let Err(err) = load_file(path, None) {
                panic!("{} does not load:\n{err}", path.display());
            }
        }
        for env in &environments {
            match load_file(path, Some(env)) {
                Ok(loaded) => assert_eq!(&loaded.runbook.environment, env),
                Err(err) => panic!("{} does not load with --env {env}:\n{err}", path.display()),
            }
        }
    }

    // A shipped vars file loads, without a warning, with the app it is named after
    // (`billing.staging-eu.vars.toml`: `billing.toml`), in every environment.
    for entry in std::fs::read_dir("runbooks/apps").unwrap() {
        let vars = entry.unwrap().path();
        let Some(name) = vars.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(rest) = name.strip_suffix(".vars.toml") else {
            continue;
        };
        let app = vars.with_file_name(format!("{}.toml", rest.split('.').next().unwrap_or(rest)));
        let environments = environments_of(&app);
        assert!(
            !environments.is_empty(),
            "{} has no app {}",
            vars.display(),
            app.display()
        );
        for env in environments {
            match load_file_with(&app, Some(&env), std::slice::from_ref(&vars)) {
                Ok(loaded) => assert!(
                    loaded.warnings.items.is_empty(),
                    "{} with {} warns:\n{}",
                    app.display(),
                    vars.display(),
                    loaded.warnings.render(&loaded.source)
                ),
                Err(err) => panic!(
                    "{} --env {env} --vars {} does not load:\n{err}",
                    app.display(),
                    vars.display()
                ),
            }
        }
    }
}

/// The procedure alone has no values for its variables: loading it says so, clearly.
#[test]
fn the_procedure_alone_asks_for_its_variables() {
    let path = Path::new("runbooks/procedures/blue-green-dns.toml");
    let err = load_file(path, None).expect_err("a procedure is not runnable alone");
    let LoadError::Invalid { diagnostics, .. } = &err else {
        panic!("{err}");
    };
    let undefined: Vec<&str> = diagnostics
        .items
        .iter()
        .filter(|d| d.code == "undefined-var")
        .map(|d| d.message.as_str())
        .collect();
    for var in ["hostname", "zone", "vm_ip", "window", "namespace", "prometheus_job"] {
        assert!(
            undefined.iter().any(|m| m.contains(&format!("`${{{var}}}`"))),
            "no undefined-var for {var}: {undefined:?}"
        );
    }
    let text = err.to_string();
    assert!(text.contains("runbooks/procedures/blue-green-dns.toml:"), "{text}");
}

/// A rollback that scales the new side to zero before DNS is moved back would cut off every
/// client DNS still sends there: validation warns, pointing at the step.
#[test]
fn a_rollback_that_scales_to_zero_without_a_revert_is_warned_about() {
    let text = r#"[runbook]
name = "scale-first"
[dns]
server = "192.0.2.53:53"
zone = "example.com"
records = ["api.example.com"]
tsig_key = { name = "cutover", secret_env = "CUTOVER_TSIG_SECRET" }
[k8s]
context = "prod"
namespace = "shop"
deployments = ["web"]
[[phase]]
id = "window"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  from = "192.0.2.10"
  to = "198.51.100.7"
[rollback]
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "k8s.scale"
  replicas = 0
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
"#;
    let loaded = cutover::runbook::load_str(Path::new("scale-first.toml"), text, None).expect("valid, with a warning");
    let warnings = loaded.warnings.render(&loaded.source);
    assert!(
        warnings.contains("scale-without-revert") && warnings.contains("scale-first.toml:21:"),
        "{warnings}"
    );
    // With the revert first, there is nothing to warn about.
    let fixed = text.replace(
        "  [[rollback.step]]\n  id = \"scale-to-zero\"\n  kind = \"k8s.scale\"\n  replicas = 0\n  [[rollback.step]]\n  id = \"dns-back\"\n  kind = \"dns.revert\"\n",
        "  [[rollback.step]]\n  id = \"dns-back\"\n  kind = \"dns.revert\"\n  [[rollback.step]]\n  id = \"scale-to-zero\"\n  kind = \"k8s.scale\"\n  replicas = 0\n",
    );
    assert_ne!(fixed, text);
    let loaded = cutover::runbook::load_str(Path::new("scale-first.toml"), &fixed, None).unwrap();
    assert!(!loaded.warnings.render(&loaded.source).contains("scale-without-revert"));
}

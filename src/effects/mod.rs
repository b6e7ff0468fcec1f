//! The hands of the tool: turn a step into an intent (everything resolved, nothing done
//! yet), then perform it and report the outcome. The runner records the intent in the
//! journal between the two, so nothing happens that the journal does not know about.

pub mod command;
pub mod dns;
pub mod http;
pub mod k8s;
pub mod metrics;
pub mod notify;
pub mod process;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::{Failure, Intent, Outcome, RunState, StepState};
use crate::outside::Reporter;
use crate::redact::Redactor;
use crate::runbook::steps::Split;
use crate::runbook::{Action, Runbook, Step, Template};

/// What every effect may need to know about the run.
#[derive(Debug, Clone)]
pub struct Context {
    pub run_id: String,
    pub attempt: u32,
    pub redactor: Arc<Redactor>,
}

/// A step ready to perform.
pub enum Job {
    Confirm {
        by: String,
        note: Option<String>,
    },
    Gate,
    Command(command::CommandJob),
    Http(http::HttpProbe),
    Dns(Box<dns::DnsJob>),
    K8s(Box<k8s::K8sJob>),
    Metrics(Box<metrics::MetricsJob>),
    /// A dry run's stand-in for a step that would change something: what it would do.
    DryRun(Outcome),
}

pub struct Prepared {
    pub intent: Intent,
    pub job: Job,
}

/// Refuses a runbook that holds the value of a secret from the environment: it would
/// be journaled as it is. Names where the secret comes from, never the value.
pub fn refuse_leaking_runbook(runbook: &Runbook, redactor: &Redactor) -> Result<(), String> {
    let text = serde_json::to_string(runbook).unwrap_or_default();
    match redactor.leak_source(&text) {
        Some(source) => Err(format!(
            "runbook `{}` contains the value of {source}, a secret: it would be written to the journal. \
             Take the value out of the runbook and read it from the environment instead",
            runbook.name
        )),
        None => Ok(()),
    }
}

/// The secrets a run may touch: secret-named environment variables, and every value the
/// runbook reads from the environment for a header.
pub fn redactor_for(runbook: &Runbook) -> Redactor {
    let mut r = Redactor::from_env();
    // Every step kind says which environment variables it sends (`StepSpec::secret_env`).
    for step in runbook.steps().map(|(_, s)| s).chain(runbook.rollback.iter()) {
        for var in step.action.secret_env() {
            if let Ok(value) = std::env::var(var) {
                r.add(&format!("environment variable {var}"), &value);
            }
        }
    }
    // The `[notify]` targets' URLs, routing keys and headers.
    for var in runbook.notify.iter().flat_map(|n| n.secret_env()) {
        if let Ok(value) = std::env::var(var) {
            r.add(&format!("environment variable {var}"), &value);
        }
    }
    // Prometheus credentials and headers from the environment.
    if let Some(m) = &runbook.metrics {
        let vars = m
            .bearer_token_env
            .iter()
            .chain(m.basic_auth.iter().map(|(_, var)| var))
            .chain(m.headers_env.values());
        for var in vars {
            if let Ok(value) = std::env::var(var) {
                r.add(&format!("environment variable {var}"), &value);
            }
        }
    }
    // Kubernetes credentials in the kubeconfig: tokens, passwords, client keys.
    if let Some(k) = &runbook.k8s {
        add_kubeconfig_secrets(&mut r, k.kubeconfig.as_deref());
    }
    // DNS credentials: the TSIG secret and a hosted provider's keys.
    match runbook.dns.as_ref().map(|d| &d.provider) {
        Some(crate::runbook::DnsProvider::Rfc2136 { tsig: Some(key), .. }) => {
            if let Ok((secret, source)) = crate::dns::provider::tsig_secret(key) {
                r.add(&format!("the TSIG secret ({source})"), &secret);
            }
        }
        Some(crate::runbook::DnsProvider::Hosted { credentials_env, .. }) => {
            for var in credentials_env.values() {
                if let Ok(value) = std::env::var(var) {
                    r.add(&format!("environment variable {var}"), &value);
                }
            }
        }
        _ => {}
    }
    r
}

/// The credentials of every user in the kubeconfig the run uses. Short values are left
/// out: masking them would garble ordinary text (and they are no real credentials).
fn add_kubeconfig_secrets(r: &mut Redactor, path: Option<&str>) {
    use secrecy::ExposeSecret as _;
    let config = match path {
        Some(p) => kube::config::Kubeconfig::read_from(p).ok(),
        None => kube::config::Kubeconfig::read().ok(),
    };
    for named in config.iter().flat_map(|c| &c.auth_infos) {
        let Some(auth) = &named.auth_info else { continue };
        for (what, secret) in [
            ("token", &auth.token),
            ("password", &auth.password),
            ("client key", &auth.client_key_data),
        ] {
            let Some(secret) = secret else { continue };
            let value = secret.expose_secret();
            if value.len() >= 8 {
                r.add(&format!("the kubeconfig {what} of user {}", named.name), value);
            }
        }
    }
}

/// What a step's `${name}` templates are filled from: the outputs of earlier steps, with
/// the secrets a captured value held put back (in memory only; the journal keeps them
/// sealed, see `Redactor::seal`).
pub(crate) struct Values<'a> {
    /// The step being prepared.
    pub step: &'a str,
    pub outputs: &'a BTreeMap<String, String>,
    pub runbook: &'a Runbook,
    pub redactor: &'a Redactor,
}

impl Values<'_> {
    pub(crate) fn render(&self, template: &Template) -> Result<String, Failure> {
        let mut used = BTreeMap::new();
        for name in template.vars() {
            if let Some(value) = self.outputs.get(name) {
                let value = self
                    .redactor
                    .unseal(value)
                    .map_err(|source| self.lacks(name, &source))?;
                used.insert(name.to_string(), value);
            }
        }
        template.render(&|name| used.get(name).cloned()).map_err(|missing| {
            let producer = self.producer(&missing);
            Failure::new(format!("`${{{missing}}}` has no value yet")).advise(match producer {
                Some(p) => format!("step `{p}` sets it; it must succeed first"),
                None => "nothing in this run sets it".to_string(),
            })
        })
    }

    /// Like `render`, for a value that leaves in public (a DNS record): one that would carry a
    /// secret is refused.
    pub(crate) fn render_public(&self, template: &Template, place: &str) -> Result<String, Failure> {
        let value = self.render(template)?;
        match self.redactor.leak_source(&value) {
            None => Ok(value),
            Some(source) => Err(Failure::new(format!(
                "`{template}` would put {source} into {place}, where anyone can read it"
            ))
            .advise("capture the address or name itself, not a value that holds a secret")),
        }
    }

    /// The outputs a command gets as environment variables (every one whose name is allowed
    /// for an output, see `output_name_problem`). One whose secret this session lacks is left
    /// out, and a command whose text (`run`, already filled in) uses it as `$name` fails.
    pub(crate) fn environment_for(&self, run: &str) -> Result<Vec<(String, String)>, Failure> {
        let mut env = Vec::new();
        for (name, value) in self.outputs {
            if crate::runbook::template::output_name_problem(name).is_some() {
                continue;
            }
            match self.redactor.unseal(value) {
                Ok(value) => env.push((name.clone(), value)),
                Err(source) if mentions_shell_var(run, name) => return Err(self.lacks(name, &source)),
                Err(_) => {}
            }
        }
        Ok(env)
    }

    fn producer(&self, output: &str) -> Option<String> {
        self.runbook
            .steps()
            .map(|(_, s)| s)
            .find(|s| s.action.outputs().contains(&output))
            .map(|s| s.id.clone())
    }

    fn lacks(&self, name: &str, source: &str) -> Failure {
        let by = self
            .producer(name)
            .map(|p| format!(" (captured by `{p}`)"))
            .unwrap_or_default();
        let give = match source.strip_prefix("environment variable ") {
            Some(var) => format!("export {var} in this shell, with the value it had then,"),
            None => format!("make {source} available to cutover again"),
        };
        Failure::new(format!(
                "step `{}` needs `${{{name}}}`{by}, which holds the secret from {source}, and this session does not have it",
                self.step
            )).advise(format!("{give} and retry `{}`", self.step))
    }
}

/// Whether a shell command's text reads variable `name` (`$name`, `${name}`, `${name:-…}`).
fn mentions_shell_var(run: &str, name: &str) -> bool {
    run.match_indices('$').any(|(at, _)| {
        let after = &run[at + 1..];
        let after = after.strip_prefix('{').unwrap_or(after);
        after
            .strip_prefix(name)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    })
}

const STOPPED_ADVICE: &str = "what was done is in the journal; the step can be run again";

/// What a step that was stopped half-way (a rollback, or the operator quitting) reports.
pub(crate) fn stopped() -> Failure {
    Failure::new("stopped before it finished (a rollback, or the operator quit)").advise(STOPPED_ADVICE.to_string())
}

/// Resolves everything a step will use, without changing anything (a DNS step reads
/// the records first, so its intent holds the exact change).
pub async fn prepare(step: &Step, run: &RunState, ctx: &Context) -> Result<Prepared, Failure> {
    let index = run.index(&step.id).unwrap_or(0);
    let Some(state) = run.step(&step.id) else {
        return Err(Failure::new(format!("step `{}` is not in this run", step.id)));
    };
    let values = Values {
        step: &step.id,
        outputs: &run.outputs,
        runbook: &run.runbook,
        redactor: &ctx.redactor,
    };
    // One arm per family, and one per kind inside each: a new kind does not build until
    // it says how it is prepared.
    let prepared = match step.action.split() {
        Split::Dns(dns_step) => {
            let (intent, mut job) = dns::prepare(dns_step, index, run, &values).await?;
            job.dry_run = run.dry_run;
            return Ok(Prepared {
                intent,
                job: Job::Dns(Box::new(job)),
            });
        }
        Split::K8s(k8s_step) => {
            let (intent, job) = k8s::prepare(k8s_step, step, run).await?;
            return Ok(Prepared {
                intent,
                job: Job::K8s(Box::new(job)),
            });
        }
        Split::Metrics(metrics_step) => {
            let (intent, job) = metrics::prepare(metrics_step, step, run, chrono::Utc::now())?;
            return Ok(Prepared {
                intent,
                job: Job::Metrics(Box::new(job)),
            });
        }
        Split::Notify(n) => return notify::prepare(n, step, run, &values, ctx),
        Split::Manual(_) => return Ok(confirm(state)),
        Split::Wait(_) => {
            return Ok(Prepared {
                intent: Intent::Gate,
                job: Job::Gate,
            });
        }
        Split::Command(c) => prepare_command(c, step, &values, ctx),
        Split::Http(h) => prepare_http(h, &values),
    }?;
    match prepared.job {
        // A command may change anything: a dry run shows it and runs nothing.
        Job::Command(c) if run.dry_run => Ok(Prepared {
            intent: prepared.intent,
            job: Job::DryRun(Outcome {
                summary: format!("dry run: would run `{}`", ctx.redactor.redact(&c.run)),
                details: vec!["commands are not run in a dry run: they may change anything".to_string()],
                outputs: c
                    .capture
                    .iter()
                    .map(|name| (name.clone(), format!("(dry run: output of {})", step.id)))
                    .collect(),
                ..Outcome::default()
            }),
        }),
        // So may a request that is not a read.
        Job::Http(h) if run.dry_run && !matches!(&step.action, Action::Http(c) if c.safe_method()) => Ok(Prepared {
            intent: prepared.intent,
            job: Job::DryRun(Outcome {
                summary: format!("dry run: would send {} {}", h.method, h.url),
                details: vec![format!(
                    "only GET, HEAD and OPTIONS are sent in a dry run{}",
                    if h.headers.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; headers: {}",
                            h.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    }
                )],
                ..Outcome::default()
            }),
        }),
        job => Ok(Prepared { job, ..prepared }),
    }
}

/// A checklist item: confirmed by whoever approved it.
fn confirm(state: &StepState) -> Prepared {
    Prepared {
        intent: Intent::Confirm,
        job: Job::Confirm {
            by: state
                .approved
                .as_ref()
                .map_or_else(|| "the operator".to_string(), |a| a.by.clone()),
            note: state.approved.as_ref().and_then(|a| a.note.clone()),
        },
    }
}

fn prepare_command(
    c: &crate::runbook::CommandStep,
    step: &Step,
    values: &Values,
    ctx: &Context,
) -> Result<Prepared, Failure> {
    let run = values.render(&c.run)?;
    let outputs = values.environment_for(&run)?;
    Ok(Prepared {
        intent: Intent::Command {
            run: ctx.redactor.redact(&run),
            timeout: c.timeout,
        },
        job: Job::Command(command::CommandJob {
            step: step.id.clone(),
            run,
            timeout: c.timeout,
            expect_exit: c.expect_exit,
            capture: c.capture.clone(),
            outputs,
        }),
    })
}

fn prepare_http(h: &crate::runbook::HttpCheck, values: &Values) -> Result<Prepared, Failure> {
    let url = values.render(&h.url)?;
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| Failure::new(format!("`{url}` is not a URL: {e}")).advise("fix `url` in the runbook"))?;
    let resolve = match &h.resolve {
        Some(r) => Some((r.host.clone(), pinned_address(&values.render(&r.to)?, &parsed)?)),
        None => None,
    };
    let mut headers = Vec::new();
    for (name, value) in &h.headers {
        headers.push((name.clone(), values.render(value)?));
    }
    headers.extend(http::headers_from_env(&h.headers_env)?);
    let body_contains = h.body_contains.as_ref().map(|b| values.render(b)).transpose()?;
    Ok(Prepared {
        intent: Intent::Http {
            method: h.method.clone(),
            url: url.clone(),
            resolve: resolve.as_ref().map(|(host, addr)| format!("{host} → {addr}")),
        },
        job: Job::Http(http::HttpProbe {
            method: h.method.clone(),
            url,
            shown_as: None,
            expect_status: Some(h.expect_status),
            json_body: None,
            max_latency: h.max_latency,
            body_contains,
            resolve,
            timeout: h.timeout,
            headers,
            retries: h.retries,
            retry_interval: h.retry_interval,
            repeatable: h.safe_method() || h.idempotent,
        }),
    })
}

/// `resolve.to` as a socket address: an IP (the URL's port is used) or `IP:port`; of a
/// list (`k8s.expose` stores every address of a load balancer that has several), the first.
fn pinned_address(to: &str, url: &reqwest::Url) -> Result<SocketAddr, Failure> {
    let first = crate::runbook::targets::split_values(to)
        .into_iter()
        .next()
        .unwrap_or_default();
    if let Ok(addr) = first.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match first.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, url.port_or_known_default().unwrap_or(443))),
        Err(_) if crate::runbook::targets::type_of(&first) == Some("CNAME") => Err(Failure::new(format!("`resolve.to` is `{first}`, a host name (a cloud load balancer's), not an IP address")).advise("pin the hostname to one of the load balancer's addresses: capture one first (a command step running `dig +short NAME | head -1`), or leave `resolve` out once DNS points at it"
                    .to_string(),)),
        Err(_) => Err(Failure::new(format!("`resolve.to` is `{to}`, not an IP address")).advise("pin the hostname to the load balancer's IP address (or IP:port)")),
    }
}

/// Performs a prepared step. Stops early when `cancel` fires: a command stops its processes
/// itself; every other step stops waiting at once, whatever outside call it is in (see
/// `until_cancelled`). Waits on outside servers are reported to `reporter` (see `outside`).
pub async fn execute(
    job: Job,
    ctx: &Context,
    reporter: &Reporter,
    cancel: CancellationToken,
) -> Result<Outcome, Failure> {
    match job {
        Job::Command(c) => command::run(c, ctx, reporter, cancel).await,
        job => {
            // A request that is not safe to repeat may have acted before it was stopped.
            let unsure = matches!(&job, Job::Http(p) if !p.repeatable);
            let result =
                crate::outside::reporting(reporter, until_cancelled(&cancel, perform(job, reporter, &cancel))).await;
            result.map_err(|f| match f.advice.as_deref() {
                Some(STOPPED_ADVICE) if unsure => Failure {
                    advice: Some(
                        "the request may have reached the server before it was stopped: check there what it did \
                         before you retry"
                            .to_string(),
                    ),
                    ..f
                },
                _ => f,
            })
        }
    }
}

async fn perform(job: Job, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    match job {
        Job::Confirm { by, note } => Ok(Outcome {
            summary: format!("confirmed by {by}"),
            details: note.map(|n| format!("note: {n}")).into_iter().collect(),
            ..Outcome::default()
        }),
        Job::Gate => Ok(Outcome {
            summary: "gate passed".to_string(),
            ..Outcome::default()
        }),
        Job::Command(_) => unreachable!("a command stops its own processes when cancelled"),
        Job::Http(p) => http::probe(&p, cancel).await,
        Job::Dns(d) => dns::execute(*d, reporter, cancel).await,
        Job::K8s(k) => k8s::execute(*k, reporter, cancel).await,
        Job::Metrics(m) => metrics::execute(*m, reporter, cancel).await,
        Job::DryRun(outcome) => Ok(outcome),
    }
}

/// `work`, or `stopped()` as soon as `cancel` fires: the work is dropped, and with it every
/// request it was waiting on (a DNS query, an API call that retries out of sight). What it
/// had done is in the journal; a step stopped half-way is run again or rolled back.
pub async fn until_cancelled<T>(
    cancel: &CancellationToken,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::select! {
        biased;
        result = work => result,
        () = cancel.cancelled() => Err(stopped()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values_test(outputs: &BTreeMap<String, String>, redactor: &Redactor, check: impl FnOnce(&Values)) {
        let runbook = crate::runbook::load_str(
            std::path::Path::new("t.toml"),
            "[runbook]\nname = \"t\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"login\"\n  kind = \"command\"\n  run = \"true\"\n  capture = \"host\"\n",
            None,
        )
        .expect("runbook")
        .runbook;
        check(&Values {
            step: "flip",
            outputs,
            runbook: &runbook,
            redactor,
        });
    }

    #[test]
    fn a_captured_secret_is_given_to_a_step_but_never_put_into_dns() {
        let redactor = Redactor::from_vars([("VAULT_KEY".to_string(), "kv-7f3a9c".to_string())]);
        let sealed = redactor.seal("kv-7f3a9c.lb.example.net.").unwrap();
        let outputs = BTreeMap::from([("host".to_string(), sealed)]);
        let template = Template::parse("${host}").unwrap();
        values_test(&outputs, &redactor, |v| {
            assert_eq!(v.render(&template).unwrap(), "kv-7f3a9c.lb.example.net.");
            let refused = v.render_public(&template, "a DNS record").unwrap_err();
            assert_eq!(
                refused.message,
                "`${host}` would put environment variable VAULT_KEY into a DNS record, where anyone can read it"
            );
            assert_eq!(
                v.environment_for("dig \"$host\"").unwrap(),
                vec![("host".to_string(), "kv-7f3a9c.lb.example.net.".to_string())]
            );
        });
        // A session without the secret: a command that does not read it runs without it, one
        // that does (or a template that names it) is refused, saying what to do.
        values_test(&outputs, &Redactor::default(), |v| {
            assert_eq!(v.environment_for("echo $hostname ${hosts}").unwrap(), vec![]);
            for reads in ["dig \"$host\"", "dig ${host}.", "echo ${host:-none}"] {
                assert!(v.environment_for(reads).is_err(), "{reads}");
            }
            let lacking = v.render(&template).unwrap_err();
            assert!(
                lacking
                    .message
                    .starts_with("step `flip` needs `${host}` (captured by `login`)"),
                "{}",
                lacking.message
            );
        });
    }
}

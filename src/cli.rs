//! The command line: what each command does, its options, and the exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::headless::Output;

const EXIT_CODES: &str = "\
Exit codes:
  0  the run completed (or the command succeeded)
    1  error: an invalid runbook, a refused decision, a held or damaged journal
  2  the run rolled back
  3  the run stopped and waits: at a gate, for an approval, or for the operator to decide
     about an in-doubt step or a failed one (retry, skip, roll back); nothing is lost";

const ABOUT: &str = "Step through a blue-green cutover from VMs to Kubernetes by DNS, with a crash-safe journal.";

const LONG_ABOUT: &str = "\
cutover walks an operator through a blue-green cutover described in a runbook (TOML):
preparation, TTL lowering with its lead time, the DNS flip at the window start, the
metrics watch, validation, a 72-hour hold, and rollback when something is wrong.

Every step is recorded in a journal before and after it acts, so a session that quits
or crashes resumes exactly where it was: run the same command again.";

const EXAMPLES: &str = "\
Examples:
  cutover demo                                  # try it: a whole cutover against a built-in sandbox
  cutover validate runbooks/preflight.toml --env staging
  cutover plan runbooks/preflight.toml --env production
  cutover run runbooks/preflight.toml --env production
  cutover run runbooks/preflight.toml --env production --headless --approve ticket --note ticket='CHG-1234'
  cutover rehearse runbooks/cutover.toml --env staging --compress 60
  cutover run runbooks/cutover.toml --env production --dry-run --headless
  cutover status
  cutover watch <RUN_ID>                        # follow a run another terminal drives, read-only
  cutover rollback <RUN_ID> --reason 'error rate doubled after the flip'
  cutover export <RUN_ID> --format html -o postmortem.html";

#[derive(Debug, Parser)]
#[command(name = "cutover", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXIT_CODES, after_long_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
pub struct Cli {
    /// Where runs are kept [default: $XDG_STATE_HOME/cutover, i.e. ~/.local/state/cutover]
    #[arg(long, global = true, env = "CUTOVER_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Who is operating, recorded with every decision [default: $USER]
    #[arg(long, global = true, env = "CUTOVER_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,

    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Check a runbook without running anything (exit 0 valid, 1 with diagnostics)
    Validate(RunbookArgs),
    /// Show every step in order with all values resolved: what it will check or change
    Plan(RunbookArgs),
    /// Start the run for a runbook and environment, or resume the one in progress; or drive
    /// a fleet file's applications wave by wave
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Rehearse a runbook or a fleet (against staging): kept apart from live runs, time compressible
    #[command(after_help = REHEARSE_HELP)]
    Rehearse(RehearseArgs),
    /// A whole cutover in two minutes against a built-in sandbox (nothing to install)
    #[cfg(feature = "demo")]
    #[command(after_help = DEMO_HELP)]
    Demo(DemoArgs),
    /// Resume a run by its id, with the runbook recorded in its journal
    #[command(after_help = EXIT_CODES)]
    Resume(ResumeArgs),
    /// Where runs stand: every run in progress, or one run in detail
    Status(StatusArgs),
    /// List every run, finished or not
    Runs(ListArgs),
    /// Follow a run another process drives, live, in a read-only cockpit
    #[command(after_help = WATCH_HELP)]
    Watch(WatchArgs),
    /// Print a run's journal, one event per line
    Journal(JournalArgs),
    /// Export a run for its post-mortem: Markdown, JSON (the whole journal) or HTML with charts
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Roll a run back now: records the incident, then runs the [rollback] steps
    #[command(after_help = EXIT_CODES)]
    Rollback(RollbackArgs),
    /// Attach the root-cause analysis of a rolled-back attempt (required before the next)
    Rca(RcaArgs),
    /// Continue a run whose holder is gone, from its copy in the cluster ([state] backend = "kubernetes")
    #[command(after_help = TAKEOVER_HELP)]
    Takeover(TakeoverArgs),
    /// Print the JSON Schema of runbooks (or of fleet files), for editors (taplo, VS Code's Even Better TOML)
    #[command(after_help = SCHEMA_HELP)]
    Schema(SchemaArgs),
    /// Print the shell completion script for bash, zsh or fish
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command into a folder
    Man(ManArgs),
}

const SCHEMA_HELP: &str = "\
The schema (JSON Schema draft-07) describes every section and field of a runbook, so an
editor checks a runbook as it is typed and shows each field's meaning and default. With
taplo (and the editor extensions built on it), point a runbook at it by its first line:

  #:schema ./runbook.schema.json

The repository keeps it as assets/runbook.schema.json; `cutover schema fleet` is the fleet
file's (assets/fleet.schema.json). `cutover validate` still checks
what a schema cannot say: references between steps, variables, the sections a step needs.";

const COMPLETIONS_HELP: &str = "\
Install:
  bash  cutover completions bash > ~/.local/share/bash-completion/completions/cutover
        (or system-wide: /usr/share/bash-completion/completions/cutover)
  zsh   cutover completions zsh > ~/.zfunc/_cutover
        (with `fpath=(~/.zfunc $fpath)` before `compinit` in ~/.zshrc)
  fish  cutover completions fish > ~/.config/fish/completions/cutover.fish
Then open a new shell.";

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file's schema: a runbook's, or a fleet file's
    #[arg(value_enum, default_value_t = SchemaOf::Runbook)]
    pub of: SchemaOf,
    /// Write the schema to this file instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaOf {
    Runbook,
    Fleet,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `cutover completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write cutover.1 and one page per command (cutover-run.1, …) into this folder
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

const TAKEOVER_HELP: &str = "\
With [state] backend = \"kubernetes\", a run's journal is replicated to the cluster and the
run is locked by a Lease its driver renews every third of `lease_duration` (30s by
default). If that laptop dies in the window, a colleague continues the run from anywhere:

  cutover takeover shop.prod.20261204T0200Z runbooks/shop.toml --env production

The takeover is refused while the holder still renews the Lease (it says who and until
when; --wait waits for it to run out). Once it has, the journal is pulled from the cluster
and checked (every frame and event checksum, sequence numbers without a gap, the SHA-256 its
head commits), the Lease is taken with a precondition (two takers never both win), and the
run resumes here. A step the old holder had started is in doubt, as after any crash: you
say whether it happened. A holder that comes back stops driving at once.

Events the old holder wrote after its last replication (usually less than a second before it
died) are not in the cluster: look at what its last step did before deciding an in-doubt step.

Exit codes are those of `cutover resume`.";

#[derive(Debug, Args)]
pub struct TakeoverArgs {
    /// The run's id (the Lease's annotation, `cutover runs --cluster RUNBOOK`, or the bridge)
    pub run_id: String,
    #[command(flatten)]
    pub runbook: RunbookArgs,
    /// Wait until the holder's Lease has run out (showing who holds it) instead of refusing
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub drive: DriveArgs,
}

#[derive(Debug, Args)]
pub struct RunbookArgs {
    /// The runbook file (TOML), or a fleet file (one with a [fleet] section)
    pub runbook: PathBuf,
    /// The environment whose [env.NAME] overlay applies (required if the runbook has any)
    #[arg(long, short)]
    pub env: Option<String>,
    /// A file of [vars] (and [env.NAME.vars]) merged over the runbook's; repeat for more, later ones win
    #[arg(long = "vars", value_name = "FILE")]
    pub vars: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DriveArgs {
    /// Print one line per event instead of the interactive cockpit (the default on a terminal)
    #[arg(long)]
    pub headless: bool,
    /// Line format for headless output
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Approve a step when the run reaches it; for `type:` confirmations give the text: STEP=TEXT.
    /// In a fleet, APP/STEP is for one application, STEP for each (so are --note, --resolve, --retry, --skip)
    #[arg(long, value_name = "STEP[=TEXT]")]
    pub approve: Vec<String>,
    /// The note for a step that needs one: STEP=TEXT
    #[arg(long, value_name = "STEP=TEXT")]
    pub note: Vec<String>,
    /// Say what happened to a step left in doubt by a crash: STEP=succeeded|failed|retry
    #[arg(long, value_name = "STEP=WHAT")]
    pub resolve: Vec<String>,
    /// Retry a failed step once
    #[arg(long, value_name = "STEP")]
    pub retry: Vec<String>,
    /// Skip a pending or failed step, with the reason: STEP=REASON
    #[arg(long, value_name = "STEP=REASON")]
    pub skip: Vec<String>,
    /// Wait for gates and holds that open within this long; stop (exit 3) at longer ones
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub max_wait: String,
    /// Give every approval as the run reaches it, recorded as automatic. Only for
    /// rehearsals (unattended CI pipelines) and dry runs: a live run refuses it
    #[arg(long)]
    pub auto_approve: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub runbook: RunbookArgs,
    #[command(flatten)]
    pub drive: DriveArgs,
    /// After a rollback and an attached root-cause analysis, start the next attempt
    #[arg(long)]
    pub new_attempt: bool,
    /// Continue a run with the changed runbook file (steps already run must keep their ids)
    #[arg(long)]
    pub reload_runbook: bool,
    /// Start a new run although the last run of this runbook and environment completed
    #[arg(long)]
    pub new_run: bool,
    /// Change nothing anywhere: reads still happen (the plan is checked against the DNS
    /// servers and the cluster), and each step that would change something prints the
    /// exact change (DNS UPDATE, Kubernetes PATCH, command). The journal lives in a
    /// temporary directory; gates and the hold are not waited for
    #[arg(long)]
    pub dry_run: bool,
}

const RUN_HELP: &str = "\
A fleet file (a [fleet] section, [[app]] entries and [[wave]]s) drives each application's
run, each with its own journal, lock, watch and rollback, wave by wave: a wave starts only
when every application of the one before is cut over, verified and watched (its run holds).
A rollback stops the fleet at its wave; `on_rollback` in the fleet file says whether the
others in it are rolled back, kept, or (the default) the operator is asked. Started again
(after a crash too), the fleet goes on where each run was.

Examples:
  cutover run runbooks/cutover.toml --env production
  cutover run fleet.toml --env production                  # the fleet view; Enter opens an application
  cutover run fleet.toml --env production --headless --approve billing/flip='api.billing.example'
  cutover export estate.production                          # the fleet's timeline

Exit codes:
  0  the run completed (a fleet: every wave passed)
  1  error: an invalid runbook or fleet file, a refused decision, a held or damaged journal
  2  the run rolled back (a fleet: an application of it did)
  3  the run stopped and waits (a fleet: an application waits): nothing is lost";

const REHEARSE_HELP: &str = "\
A rehearsal runs the same runbook, usually with a staging environment, for real: it
changes staging's DNS and Deployments. Its journal is kept apart from live runs (a
rehearsal never resumes or blocks a live run), and every line, screen and export is
marked REHEARSAL. Time compression and gate lengths are recorded when it starts.

Production environments are refused: rehearse against staging, and check a production
plan with `cutover run ... --dry-run`. --gate with a step id sets every gate of that step.

Examples:
  cutover rehearse cutover.toml --env staging --compress 60
  cutover rehearse cutover.toml --env staging --gate ttl-lead=2m --gate hold=1m
  cutover rehearse cutover.toml --env staging --compress 60 --auto-approve --headless
  cutover rehearse cutover.toml --env staging --dry-run --headless

Exit codes:
  0 completed, 1 error, 2 rolled back, 3 stopped and waits for the operator";

#[derive(Debug, Args)]
pub struct RehearseArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Run time this many times faster: 60 = one minute per hour. Shortens the TTL lead
    /// time, metrics watches, `wait` steps, `after` delays, the drain and the hold
    #[arg(long, value_name = "FACTOR", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub compress: Option<u32>,
    /// An exact length for one gate, over --compress: ttl-lead, watch, hold, wait, after, drain,
    /// or a step id (repeatable): --gate watch=2m
    #[arg(long, value_name = "GATE=DURATION")]
    pub gate: Vec<String>,
}

#[cfg(feature = "demo")]
const DEMO_HELP: &str = "\
The demo starts a sandbox inside this process, on loopback: two authoritative DNS servers
for shop.demo (TSIG-signed updates), a Kubernetes API server with the shop's Deployments,
and a Prometheus API over a simulated shop whose traffic follows the DNS answer. It then
rehearses runbooks/demo.toml against it with compressed time: rollout, smoke tests through
port-forwards, the load balancer, the TTL lowered (a 24 h lead time shown as 20 s), the
baseline, the flip, verification on both nameservers, the metrics watch, validation, the
hold. The run is kept like any rehearsal: export it afterwards.

Examples:
  cutover demo                                  # in the cockpit: approve, type the hostname
  cutover demo --scenario bad-release           # errors climb after the flip: rollback
  cutover demo --headless                       # the story as lines, unattended
  cutover export <RUN_ID> --format html -o demo.html

Exit codes:
  0 the cutover completed, 2 it rolled back, 1 error, 3 stopped and waits";

/// How the demo's new release behaves once it takes traffic.
#[cfg(feature = "demo")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoScenario {
    /// Kubernetes serves a little better than the VMs: the watch holds.
    Healthy,
    /// A bad release: errors and latency climb within ~20 s of the first request, the
    /// watch breaches and rolls back.
    BadRelease,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How the new release behaves once it takes traffic
    #[arg(long, value_enum, default_value_t = DemoScenario::Healthy)]
    pub scenario: DemoScenario,
    /// Print one line per event instead of the cockpit; approvals are given automatically
    #[arg(long)]
    pub headless: bool,
    /// Line format for headless output
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// In the cockpit too, give every approval automatically (watch it play)
    #[arg(long)]
    pub auto_approve: bool,
    /// How long the metrics watch lasts (the runbook's 15 minutes, compressed)
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub watch: String,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run's id (see `cutover runs`)
    pub run_id: String,
    #[command(flatten)]
    pub drive: DriveArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One run in detail; without it, every run in progress
    pub run_id: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// List the runs kept in the cluster this runbook's [state] names (who holds each, since
    /// when, how far its copy goes) instead of this machine's
    #[arg(long, value_name = "RUNBOOK")]
    pub cluster: Option<std::path::PathBuf>,
    /// The environment of --cluster's runbook
    #[arg(long, short, requires = "cluster")]
    pub env: Option<String>,
}

const WATCH_HELP: &str = "\
The cockpit of a run that another process on this machine drives (`cutover run`,
`resume`, `rehearse`), for the bridge: the same screen, following the run's journal
within a second. It is read-only: keys that look work (select, scroll, Tab, filter, help);
those that would act (Enter, r, s, n, a typed confirmation) say who drives the run. The
header shows WATCHING and who drives, or that nobody holds the run now, or that it ended.
Any number of terminals can watch at once: a watcher never takes the run's lock, never
writes in the run's folder, and does not slow the driver. q or Ctrl-C leaves (exit 0).

Examples:
  cutover runs                                   # find the run's id
  cutover watch cutover.production.20261202T2130Z";

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run's id (see `cutover runs` or `cutover status`)
    pub run_id: String,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    pub run_id: String,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

const EXPORT_EXAMPLES: &str = "\
Examples:
  cutover export <RUN_ID>                            # Markdown, for the incident document
  cutover export <RUN_ID> --format html -o run.html  # one page, the watch charted first
  cutover export <RUN_ID> --format json -o run.json  # every event (cutover.export/1)

The export reads a copy of the journal: it works while a session drives the run, and it
never changes the run. Secrets are masked in every format.";

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run's id, or a fleet's (`cutover runs` lists both): a fleet exports as one timeline
    pub run_id: String,
    /// md: Markdown for an incident document; json: the journal for other tools; html: a page with charts
    #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
    pub format: ExportFormat,
    /// Write to this file instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
    Html,
}

impl ExportFormat {
    pub fn word(self) -> &'static str {
        match self {
            ExportFormat::Md => "Markdown",
            ExportFormat::Json => "JSON",
            ExportFormat::Html => "HTML",
        }
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub run_id: String,
    /// Why: it goes into the incident entry
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub drive: DriveArgs,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RcaText {
    /// Read the analysis from a file (Markdown is fine)
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The analysis as text
    #[arg(long)]
    pub text: Option<String>,
}

#[derive(Debug, Args)]
pub struct RcaArgs {
    pub run_id: String,
    #[command(flatten)]
    pub analysis: RcaText,
}

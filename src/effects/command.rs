//! `command` steps: a shell command with a timeout, its output captured (the end of it,
//! secrets masked) into the journal. The command runs in its own process group so a
//! timeout or a rollback stops it and everything it started.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::{Context, process};
use crate::engine::Progress;
use crate::engine::{Evidence, Failure, Outcome};
use crate::outside::Reporter;
use crate::runbook::duration::format as dur;

/// How much of each output stream is kept.
pub const OUTPUT_TAIL_BYTES: usize = 16 * 1024;
/// How long a stopped command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

pub struct CommandJob {
    pub step: String,
    pub run: String,
    pub timeout: Duration,
    pub expect_exit: i32,
    pub capture: Option<String>,
    /// The outputs of earlier steps (captured values, addresses, baselines), given to the
    /// command as environment variables of the same names: `"$lb_ip"` is quoted by the shell,
    /// whatever the value holds, where `${lb_ip}` is pasted into the command's text.
    pub outputs: Vec<(String, String)>,
}

/// The end of a stream, filled while the command runs.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Keeps the last `OUTPUT_TAIL_BYTES` of a stream in `tail`.
async fn read_tail(mut reader: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        t.bytes.extend_from_slice(&buf[..n]);
        if t.bytes.len() > OUTPUT_TAIL_BYTES {
            let cut = t.bytes.len() - OUTPUT_TAIL_BYTES;
            t.bytes.drain(..cut);
            t.truncated = true;
        }
    }
}

/// How long output is still read after the command exits: a background process it
/// started may keep the pipe open for ever.
const OUTPUT_AFTER_EXIT: Duration = Duration::from_secs(2);

pub async fn run(
    job: CommandJob,
    ctx: &Context,
    reporter: &Reporter,
    cancel: CancellationToken,
) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let mut command = Command::new("sh");
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid is async-signal-safe.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure only calls async-signal-safe functions (see die_with_parent).
        unsafe {
            command.pre_exec(move || process::die_with_parent(parent));
        }
    }
    let mut child = command
        .arg("-c")
        .arg(&job.run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(job.outputs.iter().map(|(k, v)| (k, v)))
        .env("CUTOVER_RUN_ID", &ctx.run_id)
        .env("CUTOVER_STEP", &job.step)
        .env("CUTOVER_ATTEMPT", ctx.attempt.to_string())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Failure::new(format!("could not start `sh -c …`: {e}"))
                .advise("check that /bin/sh exists and the state directory is writable")
        })?;
    let pgid = child.id().unwrap_or(0);
    // Into the journal, so a session after a crash can find what this one left running.
    if let Some(process) = process::describe(pgid) {
        reporter.report(Progress::ProcessStarted { process });
    }
    let (out_tail, err_tail) = (
        Arc::new(Mutex::new(Tail::default())),
        Arc::new(Mutex::new(Tail::default())),
    );
    let stdout = tokio::spawn(read_tail(
        child.stdout.take().expect("stdout is piped"),
        out_tail.clone(),
    ));
    let stderr = tokio::spawn(read_tail(
        child.stderr.take().expect("stderr is piped"),
        err_tail.clone(),
    ));

    enum End {
        Exited(std::io::Result<std::process::ExitStatus>),
        TimedOut,
        Cancelled,
    }
    let end = tokio::select! {
        status = child.wait() => End::Exited(status),
        () = tokio::time::sleep(job.timeout) => End::TimedOut,
        () = cancel.cancelled() => End::Cancelled,
    };
    if !matches!(end, End::Exited(_)) && pgid != 0 {
        process::signal_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
            process::signal_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
        }
    }
    let readers = async {
        let _ = stdout.await;
        let _ = stderr.await;
    };
    let held_open = tokio::time::timeout(OUTPUT_AFTER_EXIT, readers).await.is_err();
    let take = |tail: &Arc<Mutex<Tail>>| {
        let t = tail.lock().unwrap_or_else(|p| p.into_inner());
        (t.bytes.clone(), t.truncated)
    };
    let ((out, out_cut), (err, err_cut)) = (take(&out_tail), take(&err_tail));
    let text = |bytes: &[u8], cut: bool| {
        let raw = String::from_utf8_lossy(bytes);
        let s = if cut {
            ctx.redactor.redact_cut(&raw)
        } else {
            ctx.redactor.redact(&raw)
        };
        let s = if cut {
            format!("[… earlier output not kept]\n{s}")
        } else {
            s
        };
        if held_open {
            format!("{s}[… a background process it started kept this stream open; later output not kept]\n")
        } else {
            s
        }
    };
    let elapsed = started.elapsed();
    let exit_code = match &end {
        End::Exited(Ok(status)) => status.code(),
        _ => None,
    };
    let evidence = Evidence::Command {
        exit_code,
        elapsed_ms: elapsed.as_millis() as u64,
        stdout: text(&out, out_cut),
        stderr: text(&err, err_cut),
    };
    let failure = |message: String, advice: &str| Failure {
        message,
        advice: Some(advice.to_string()),
        evidence: evidence.clone(),
        ..Failure::default()
    };
    match end {
        End::TimedOut => Err(failure(
            format!("did not finish within {} and was stopped", dur(job.timeout)),
            "check what it waits for; raise `timeout` if it is just slow, then retry",
        )),
        End::Cancelled => Err(failure(
            "stopped before it finished (a rollback, or the operator quit)".to_string(),
            "what it had done before it was stopped is unknown; check by hand",
        )),
        End::Exited(Err(e)) => Err(failure(
            format!("could not wait for the command: {e}"),
            "retry the step",
        )),
        End::Exited(Ok(status)) => {
            let code = status.code();
            if code != Some(job.expect_exit) {
                let what = match code {
                    Some(c) => format!("exited with code {c}, expected {}", job.expect_exit),
                    None => "was killed by a signal".to_string(),
                };
                return Err(failure(
                    what,
                    "read its output in the step detail; fix the cause and retry, or skip with a reason",
                ));
            }
            let mut outcome = Outcome {
                summary: format!(
                    "exit {} in {}",
                    job.expect_exit,
                    dur(Duration::from_millis(elapsed.as_millis() as u64))
                ),
                evidence: evidence.clone(),
                ..Outcome::default()
            };
            if let Some(var) = job.capture {
                let raw = String::from_utf8_lossy(&out);
                let refused = if out_cut {
                    Some(format!(
                        "it printed more than {} KiB, of which only the end was kept",
                        OUTPUT_TAIL_BYTES / 1024
                    ))
                } else if raw.contains('\0') {
                    Some("it contains a NUL byte (binary output)".to_string())
                } else if std::str::from_utf8(&out).is_err() {
                    // Shown, such bytes become U+FFFD: a value that is not what was printed.
                    Some("it is not UTF-8 text (binary output, or another encoding)".to_string())
                } else {
                    None
                };
                // Secrets in it are journaled as references to their source, so the steps
                // that use it get the real value back (`Values`), and the journal never does.
                let sealed = match refused {
                    Some(why) => Err(why),
                    None => ctx.redactor.seal(raw.trim()),
                };
                let value = sealed.map_err(|why| {
                    failure(
                        format!("its output cannot be captured as ${{{var}}}: {why}"),
                        "make the command print only the value (e.g. pipe it through `tail -n 1` or `jq -r`)",
                    )
                })?;
                if value.is_empty() {
                    return Err(failure(
                        format!("printed nothing to capture as ${{{var}}}"),
                        "the command must print the value on standard output",
                    ));
                }
                outcome.details.push(format!("captured ${{{var}}} = {value}"));
                outcome.outputs.insert(var, value);
            }
            Ok(outcome)
        }
    }
}

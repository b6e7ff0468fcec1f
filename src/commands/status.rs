//! `cutover status`, `runs` and `journal`: read-only views of runs. They read the
//! summaries each holder keeps current, so they work while another process drives a run.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Env;
use crate::cli::{JournalArgs, ListArgs, StatusArgs};
use crate::engine::{Mode, RunEvent, RunStatus};
use crate::headless::Output;
use crate::journal::{Holder, RunSummary};
use crate::runbook::duration::countdown;
use crate::terminal_text::{Lines, for_terminal};
use crate::words::{record_line, situation_words, status_mark};

/// A field of a line, safe to print (see `terminal_text`).
fn one(text: &str) -> std::borrow::Cow<'_, str> {
    for_terminal(text, Lines::One)
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", countdown((now - t).to_std().unwrap_or_default()))
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "LIVE",
        Mode::Rehearsal => "REHEARSAL",
    }
}

#[derive(serde::Serialize)]
struct WithHolder<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    held_by: Option<Holder>,
}

fn detail(s: &RunSummary, holder: Option<&Holder>, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Run {} ({})", s.run_id, mode_word(s.mode));
    let _ = writeln!(out, "  runbook    {} ({}), from {}", s.runbook, s.environment, s.source);
    let _ = writeln!(
        out,
        "  attempt    {} · started {}",
        s.attempt,
        s.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(
        out,
        "  state      {}: {}",
        s.status.word(),
        one(&situation_words(&s.situation, now))
    );
    let _ = writeln!(out, "  progress   {} of {} steps done", s.steps_done, s.steps_total);
    let _ = writeln!(
        out,
        "  updated    {} ({})",
        s.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        ago(s.updated_at, now)
    );
    match holder {
        Some(h) => {
            let _ = writeln!(out, "  held by    {}", h.describe(now));
        }
        None => {
            let _ = writeln!(
                out,
                "  held by    nobody (resume it with `cutover resume {}`)",
                s.run_id
            );
        }
    }
    let mut phase = "";
    for step in &s.steps {
        if step.phase != phase {
            phase = &step.phase;
            let _ = writeln!(out, "\n  {phase}");
        }
        let (glyph, word) = status_mark(step.status);
        let current = if s.current_step.as_deref() == Some(step.id.as_str()) {
            "▸"
        } else {
            " "
        };
        let _ = writeln!(
            out,
            "  {current} {glyph} {:<22} {:<10} {}",
            step.id,
            word,
            one(&step.summary)
        );
    }
    out
}

pub async fn status(env: &Env, args: &StatusArgs) -> Result<i32> {
    let now = Utc::now();
    match &args.run_id {
        Some(id) => {
            let Some(summary) = env.store.summary(id) else {
                anyhow::bail!("there is no run {id} (see `cutover runs`)");
            };
            let holder = env.store.holder(id);
            match args.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&WithHolder {
                        summary: &summary,
                        held_by: holder
                    })?
                ),
                Output::Text => {
                    print!("{}", for_terminal(&detail(&summary, holder.as_ref(), now), Lines::Many));
                    if let Some(cfg) = &summary.cluster {
                        let line = super::cluster::holder_line(cfg, id).await;
                        print!("{}", for_terminal(&format!("  cluster    {line}\n"), Lines::Many));
                    }
                }
            }
        }
        None => {
            let active: Vec<RunSummary> = env
                .store
                .summaries()
                .into_iter()
                .filter(RunSummary::is_resumable)
                // A demo whose process has ended is over: its sandbox went with it.
                .filter(|s| !s.demo || env.store.holder(&s.run_id).is_some())
                .collect();
            match args.output {
                Output::Json => {
                    let list: Vec<WithHolder<'_>> = active
                        .iter()
                        .map(|s| WithHolder {
                            summary: s,
                            held_by: env.store.holder(&s.run_id),
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                }
                Output::Text if active.is_empty() => {
                    println!("No runs in progress (finished ones: `cutover runs`).")
                }
                Output::Text => {
                    for s in &active {
                        let held = match env.store.holder(&s.run_id) {
                            Some(h) => {
                                format!("held by {} on {} (pid {})", h.operator, h.host, h.pid)
                            }
                            None => "not held".to_string(),
                        };
                        let text = format!(
                            "{}  {}  attempt {}\n  {}: {}\n  {}/{} steps done · updated {} · {}\n",
                            s.run_id,
                            mode_word(s.mode),
                            s.attempt,
                            s.status.word(),
                            one(&situation_words(&s.situation, now)),
                            s.steps_done,
                            s.steps_total,
                            ago(s.updated_at, now),
                            one(&held)
                        );
                        println!("{}", for_terminal(&text, Lines::Many));
                    }
                }
            }
        }
    }
    Ok(0)
}

pub fn runs(env: &Env, args: &ListArgs) -> Result<i32> {
    let all = env.store.summaries();
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&all)?),
        Output::Text if all.is_empty() => {
            println!("No runs yet in {}.", one(&env.store.root().display().to_string()))
        }
        Output::Text => {
            let now = Utc::now();
            let fleets = env.store.fleets();
            let line = |s: &crate::journal::RunSummary, indent: &str| {
                // A demo whose process ended mid-way cannot go on: its sandbox went with it.
                let abandoned = s.demo
                    && matches!(
                        s.status,
                        RunStatus::Active | RunStatus::Holding { .. } | RunStatus::RollingBack
                    )
                    && env.store.holder(&s.run_id).is_none();
                println!(
                    "{indent}{:<48} {:<9} {:>7} {:<13} {:>11}  {}",
                    one(&s.run_id),
                    mode_word(s.mode),
                    s.attempt,
                    if abandoned { "abandoned" } else { s.status.word() },
                    format!("{}/{}", s.steps_done, s.steps_total),
                    ago(s.updated_at, now)
                );
            };
            println!(
                "{:<48} {:<9} {:>7} {:<13} {:>11}  UPDATED",
                "RUN", "MODE", "ATTEMPT", "STATE", "STEPS"
            );
            let mut in_fleet = std::collections::BTreeSet::new();
            for fleet in &fleets {
                let stopped = if fleet.stopped.is_empty() {
                    String::new()
                } else {
                    format!(" · stopped: {}", fleet.stopped)
                };
                println!(
                    "fleet {} ({}, {} waves){}",
                    one(&fleet.fleet_id),
                    one(&fleet.source),
                    fleet.waves.len(),
                    one(&stopped)
                );
                for wave in &fleet.waves {
                    println!("  {}", one(&wave.name));
                    for app in &wave.apps {
                        match fleet.runs.get(app).and_then(|id| all.iter().find(|s| &s.run_id == id)) {
                            Some(s) => {
                                in_fleet.insert(s.run_id.clone());
                                line(s, "    ");
                            }
                            None => println!("    {:<48} not started", one(app)),
                        }
                    }
                }
            }
            let rest: Vec<&crate::journal::RunSummary> = all.iter().filter(|s| !in_fleet.contains(&s.run_id)).collect();
            if !fleets.is_empty() && !rest.is_empty() {
                println!("not in a fleet");
            }
            for s in rest {
                line(s, "");
            }
        }
    }
    Ok(0)
}

pub fn journal(env: &Env, args: &JournalArgs) -> Result<i32> {
    // Read from a copy: works while a session drives the run, and changes nothing of it.
    let (records, _state) = env.store.read_copy(&args.run_id, &env.holder("cutover journal"))?;
    let mut open_session = false;
    for r in &records {
        match args.output {
            Output::Json => println!("{}", serde_json::to_string(r)?),
            Output::Text => {
                if let RunEvent::SessionOpened { .. } = r.event {
                    if open_session {
                        println!(
                            "{:>20} ── the previous session ended without closing (crash or kill) ──",
                            ""
                        );
                    }
                    open_session = true;
                }
                if let RunEvent::SessionClosed { .. } = r.event {
                    open_session = false;
                }
                println!("#{:<6} {} {}", r.seq, r.at.format("%Y-%m-%d"), record_line(r));
            }
        }
    }
    Ok(0)
}

//! Processes that steps start: they die with the tool, and a process group a step left
//! behind (say, after `kill -9`) can be recognised and stopped by the next session.

use std::time::{Duration, Instant};

use crate::engine::ProcessRef;

/// The start time of a process in clock ticks since boot, which with its pid tells it
/// apart from a later process that reuses the pid.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat_start(pid, false)
}

/// The start time of `pid` from /proc; a zombie counts only if `zombie_ok` (it has ended,
/// but its start time still names it).
fn stat_start(pid: u32, zombie_ok: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `state` is field 3 of the whole line, `starttime` field 22.
    match fields.first() {
        Some(&"X") => return None,
        Some(&"Z") if !zombie_ok => return None,
        _ => {}
    }
    fields.get(19)?.parse().ok()
}

/// The group a child just started leads. The child may already have exited (it is not
/// reaped until waited for): it is described all the same, so what it left running in its
/// group can be found later, and the journal is the same however fast the command was.
pub fn describe(pgid: u32) -> Option<ProcessRef> {
    Some(ProcessRef {
        pgid,
        start_ticks: stat_start(pgid, true)?,
    })
}

/// Whether the recorded group still has processes: its leader is the very process that
/// was recorded, or the leader is gone but members remain (a group id is not reused while
/// the group exists; the shell dies with the tool, what it started may not).
pub fn group_alive(p: ProcessRef) -> bool {
    match start_ticks(p.pgid) {
        Some(ticks) => ticks == p.start_ticks,
        None => group_exists(p.pgid),
    }
}

fn group_exists(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for the group's existence.
    unsafe { libc::killpg(pgid as libc::pid_t, 0) == 0 }
}

pub fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: killpg only sends a signal; a stale group id fails with ESRCH, which is fine.
    unsafe {
        libc::killpg(pgid as libc::pid_t, signal);
    }
}

/// Stops a leftover group: SIGTERM, then SIGKILL after `grace`. True when it is gone.
pub fn stop_group(p: ProcessRef, grace: Duration) -> bool {
    if !group_alive(p) {
        return true;
    }
    signal_group(p.pgid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !group_alive(p) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_group(p.pgid, libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(100));
    !group_alive(p)
}

/// Runs in the child between fork and exec: the shell dies when the tool does, so a
/// crashed session does not leave it acting unobserved.
#[cfg(target_os = "linux")]
pub fn die_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of ours.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        // The parent may have died before prctl took effect.
        if libc::getppid() != parent {
            return Err(std::io::Error::other("cutover exited while starting the command"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_and_a_reused_pid_would_not_match() {
        let me = std::process::id();
        let ticks = start_ticks(me).expect("our own start time");
        assert!(group_alive(ProcessRef {
            pgid: me,
            start_ticks: ticks
        }));
        assert!(!group_alive(ProcessRef {
            pgid: me,
            start_ticks: ticks + 1
        }));
    }
}

//! Real server processes for tests and benchmarks: find the binary (or say which Debian
//! package to install), start it so it dies with the test process, stop it by PID, and
//! pick a free loopback port.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds a server binary or fails the test saying which package provides it.
pub fn binary(name: &str, package: &str, what: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "`{name}` is not installed; these tests run a real {what}. Install it with \
         `apt-get install -y {package}` (or run scripts/install-test-deps.sh)"
    );
}

/// Starts a server process, its output appended to `log`, that dies with the thread that
/// started it (PR_SET_PDEATHSIG): create servers on the test's own thread.
pub fn spawn(mut cmd: Command, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("server log file");
    let err = out.try_clone().expect("server log file");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Stops a server by PID: SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL if it
/// has not gone after 5 s.
pub fn stop(child: &mut Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGCONT);
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A port free for UDP and TCP on every given loopback address (the server binds it a
/// moment later; a start that loses the race is retried with another port).
pub fn free_port(addresses: &[&str]) -> u16 {
    loop {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let free = addresses
            .iter()
            .all(|a| TcpListener::bind((*a, port)).is_ok() && UdpSocket::bind((*a, port)).is_ok());
        if free {
            return port;
        }
    }
}

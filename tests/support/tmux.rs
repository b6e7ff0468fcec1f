//! The real binary in a real terminal: a private tmux server whose sessions (80×24) run
//! commands, with their screens read back and keys sent to them.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new() -> Self {
        Self::named("")
    }

    /// A server of its own for each caller in this process (`tag` tells them apart).
    pub fn named(tag: &str) -> Self {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is not installed: `apt-get install -y tmux` (scripts/install-test-deps.sh installs it)"
        );
        // Tests in one binary run side by side: a server each, whatever the tag.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            socket: format!("cutover-test-{}-{n}{tag}", std::process::id()),
        }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ok(&self, args: &[&str]) -> bool {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// A fresh server with one session `t` (80×24) running `command`.
    pub fn start(&self, command: &str) {
        self.start_sized(command, 80, 24);
    }

    /// A fresh server with one session `t` of `width`×`height` running `command`.
    pub fn start_sized(&self, command: &str, width: u16, height: u16) {
        self.tmux(&["kill-server"]);
        self.start_session_sized("t", command, width, height);
    }

    /// One more session running `command`, on this server (started if it is not). The
    /// previous server may still be shutting down when the new session is asked for (the
    /// session then dies with it), so start until the session is really there.
    pub fn start_session(&self, session: &str, command: &str) {
        self.start_session_sized(session, command, 80, 24);
    }

    fn start_session_sized(&self, session: &str, command: &str, width: u16, height: u16) {
        let (width, height) = (width.to_string(), height.to_string());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.tmux(&["new-session", "-d", "-s", session, "-x", &width, "-y", &height, command]);
            std::thread::sleep(Duration::from_millis(100));
            if self.ok(&["has-session", "-t", session]) {
                return;
            }
            assert!(Instant::now() < deadline, "tmux would not start session {session}");
        }
    }

    pub fn screen(&self) -> String {
        self.screen_of("t")
    }

    pub fn screen_of(&self, session: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", session])
    }

    pub fn keys(&self, keys: &[&str]) {
        self.keys_to("t", keys);
    }

    pub fn keys_to(&self, session: &str, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", session, k]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the screen shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_in("t", text, Duration::from_secs(20))
    }

    /// Waits up to `within` until the screen of `session` shows `text`.
    pub fn wait_in(&self, session: &str, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen_of(session);
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen of {session} never showed {text:?} within {within:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

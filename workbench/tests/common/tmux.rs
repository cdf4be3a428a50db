//! A program in a real terminal: a tmux server of the test's own (private socket, so ending it
//! touches nobody else's sessions), keys sent with `send-keys`, the screen read with
//! `capture-pane`, and the terminal's modes read with `display -p`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

/// tmux must run here (`cargo xtask setup` installs it); without it the test fails naming it.
pub fn require(test: &str) {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{test}: tmux is not installed: `cargo xtask setup` installs it (or apt-get install tmux)"
    );
}

impl Tmux {
    /// Runs `command` (a shell line) in `dir` in a new `width`x`height` pane. The pane stays
    /// open after the program ends, showing `EXITED:<status>`, so its state can still be read.
    pub fn start(name: &str, dir: &Path, command: &str, (width, height): (u16, u16)) -> Tmux {
        let tmux = Tmux {
            socket: format!("wb-{name}-{}", std::process::id()),
        };
        let shell = format!(
            "cd {} && RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 {command}; echo EXITED:$?; sleep 120",
            dir.display(),
        );
        let (w, h) = (width.to_string(), height.to_string());
        tmux.cmd(&["new-session", "-d", "-s", "t", "-x", &w, "-y", &h, &shell]);
        tmux
    }

    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "t", keys]);
    }

    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-S", "-500", "-t", "t"])
    }

    /// Waits up to `timeout` for `check` to accept the screen; returns that screen.
    pub fn wait_until(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), Duration::from_secs(20), |s| {
            s.contains(needle)
        })
    }

    /// tmux's view of the terminal: "1" while the program uses the alternate screen.
    pub fn alternate_on(&self) -> String {
        self.display("#{alternate_on}")
    }

    /// "1" when the cursor is visible.
    pub fn cursor_visible(&self) -> String {
        self.display("#{cursor_flag}")
    }

    fn display(&self, format: &str) -> String {
        self.cmd(&["display", "-p", "-t", "t", format]).trim().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

//! Child processes of `run`: every one is killed when its handle drops, its stdout lines
//! arrive (parsed, with their arrival time) on a channel fed by a reader thread, and every
//! wait for a line is bounded.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Result;

/// A running child process.
pub(crate) struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<(Instant, Value)>,
}

impl Proc {
    /// Starts `cmd` with piped stdin and stdout (stderr inherited).
    pub(crate) fn spawn(name: &str, mut cmd: Command) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                // Lines that are not JSON (none are expected) are skipped.
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send((at, v)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin,
            lines,
        })
    }

    /// The next line that satisfies `f` (earlier ones are dropped), with its arrival
    /// time; an error after `limit` or when the process ends first.
    pub(crate) fn wait_for(
        &self,
        limit: Duration,
        mut f: impl FnMut(&Value) -> bool,
    ) -> Result<(Instant, Value)> {
        self.wait_for_timed(limit, |_, v| f(v))
    }

    /// [`wait_for`](Self::wait_for) with `f` also seeing each line's arrival time.
    pub(crate) fn wait_for_timed(
        &self,
        limit: Duration,
        mut f: impl FnMut(Instant, &Value) -> bool,
    ) -> Result<(Instant, Value)> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, v)) if f(at, &v) => return Ok((at, v)),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("{}: no answer within {limit:?}", self.name).into());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("{}: exited early", self.name).into());
                }
            }
        }
    }

    /// Takes the stdin pipe (to write from another thread).
    pub(crate) fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Writes one line to stdin.
    pub(crate) fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }

    /// Closes stdin (the peers' signal to stop) and waits up to `limit` for the exit; the
    /// process is killed if it is still there.
    pub(crate) fn finish(mut self, limit: Duration) -> bool {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

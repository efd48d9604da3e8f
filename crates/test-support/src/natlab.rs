//! The NAT lab (`../shared/natlab/natlab.sh`, network namespaces) for the tests that run
//! processes behind emulated NATs: finding the lab (and skipping when this machine cannot
//! run it), bringing one up under a per-test prefix with a `Drop` guard that takes it
//! down, starting a process in a lab node under `natlab.sh exec --timeout`, and waiting on
//! its stdout JSON lines with a limit (never sleeps).
//!
//! Blocking (std threads and channels), so it works from plain `#[test]` functions.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Returns the path of natlab.sh (`NATLAB_SH`, default `../shared/natlab/natlab.sh` next
/// to the repository), or None (after printing why) when the lab is not found or this
/// machine cannot run it (`natlab.sh check` exits 77: not root, no CAP_NET_ADMIN, a
/// missing tool).
pub fn natlab() -> Option<PathBuf> {
    let p: PathBuf = std::env::var_os("NATLAB_SH").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/natlab/natlab.sh"),
        Into::into,
    );
    if !p.exists() {
        eprintln!("SKIP: natlab not found at {} (set NATLAB_SH)", p.display());
        return None;
    }
    let out = Command::new(&p)
        .arg("check")
        .output()
        .expect("run natlab.sh check");
    match out.status.code() {
        Some(0) => Some(p),
        Some(77) => {
            eprintln!("SKIP: {}", String::from_utf8_lossy(&out.stderr).trim());
            None
        }
        _ => panic!(
            "natlab check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The trimmed stderr of a finished command, for failure messages.
pub fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// One running lab; `down` on drop (which also ends every process inside it).
pub struct Lab {
    natlab: PathBuf,
    prefix: String,
    /// `natlab.sh env` of the running lab.
    env: Vec<(String, String)>,
    procs: Vec<Child>,
    echo_stdout: bool,
}

impl Lab {
    /// Brings up a lab with the given NAT types and the prefix `<base><tag>-`, where the
    /// base is `NATLAB_PREFIX` (so a CI trap can find leftovers) or `nl<pid>`.
    pub fn up(natlab: PathBuf, tag: &str, nat_a: &str, nat_b: &str) -> Self {
        let base =
            std::env::var("NATLAB_PREFIX").unwrap_or_else(|_| format!("nl{}", std::process::id()));
        let prefix = format!("{base}{tag}-");
        assert!(
            prefix.len() <= 20,
            "natlab prefix {prefix:?} is longer than 20 characters: shorten NATLAB_PREFIX"
        );
        let mut lab = Self {
            natlab,
            prefix,
            env: Vec::new(),
            procs: Vec::new(),
            echo_stdout: false,
        };
        let up = lab.run(&["up", "--nat-a", nat_a, "--nat-b", nat_b]);
        assert!(up.status.success(), "natlab up: {}", stderr_of(&up));
        let env = lab.run(&["env"]);
        assert!(env.status.success(), "natlab env: {}", stderr_of(&env));
        lab.env = String::from_utf8_lossy(&env.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        lab
    }

    /// Whether processes started from now on copy every stdout line to stderr as
    /// `[node out] line` (off by default; their stderr is always copied as `[node] line`).
    pub fn echo_stdout(&mut self, on: bool) {
        self.echo_stdout = on;
    }

    /// Runs `natlab.sh ARGS` for this lab's prefix.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.natlab)
            .args(args)
            .env("NATLAB_PREFIX", &self.prefix)
            .output()
            .expect("run natlab.sh")
    }

    /// A variable of `natlab.sh env`; panics when there is none.
    pub fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("natlab env has no {name}"))
    }

    /// The public hosts (`NATLAB_PUB_HOSTS`: `pub1`, `pub2`, ... in order).
    pub fn pub_hosts(&self) -> Vec<String> {
        self.var("NATLAB_PUB_HOSTS")
            .split(',')
            .map(String::from)
            .collect()
    }

    /// Starts `program ARGS` in lab node `node` with a hard limit of `timeout_secs`
    /// seconds (`natlab.sh exec --timeout`), with `envs` and `RUST_LOG` (inherited, else
    /// `info`) set. Its stdin stays open until [`Proc::close_stdin`] or the `Proc` drops;
    /// stdout lines that parse as JSON become events (other lines are ignored).
    pub fn spawn<S: AsRef<str>>(
        &mut self,
        node: &str,
        timeout_secs: u64,
        program: &str,
        args: &[S],
        envs: &[(&str, &OsStr)],
    ) -> Proc {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let label = format!("{node}: {program} {}", args.join(" "));
        let mut child = Command::new(&self.natlab)
            .args(["exec", node, "--timeout", &timeout_secs.to_string(), "--"])
            .arg(program)
            .args(&args)
            .envs(envs.iter().copied())
            .env("NATLAB_PREFIX", &self.prefix)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {label}: {e}"));
        let stdin = child.stdin.take();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tag, echo) = (node.to_string(), self.echo_stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[{tag} out] {line}");
                }
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let tail = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let t = Arc::clone(&tail);
        let tag = node.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{tag}] {line}");
                let mut t = t.lock().expect("stderr tail");
                t.push(line);
                if t.len() > 30 {
                    t.remove(0);
                }
            }
        });
        self.procs.push(child);
        Proc {
            label,
            stdin,
            lines,
            backlog: VecDeque::new(),
            tail,
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let down = self.run(&["down"]);
        if !down.status.success() {
            eprintln!("natlab down ({}): {}", self.prefix, stderr_of(&down));
        }
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A process in the lab: its stdin, its JSON lines, the tail of its stderr.
pub struct Proc {
    label: String,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    /// Lines skipped by [`wait`](Self::wait), kept for later waits.
    backlog: VecDeque<Value>,
    tail: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// `node: program args`, for failure messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The first JSON line from now on whose `ev` is `ev`, within `limit`, dropping the
    /// lines before it; panics (with the stderr tail) when the process exits first or the
    /// time is up.
    pub fn wait_for(&self, ev: &str, limit: Duration) -> Value {
        match self.next_event(ev, limit) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no {ev:?} within {limit:?}{}", self.label, self.tail())
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{}: exited without {ev:?}{}", self.label, self.tail())
            }
        }
    }

    /// Like [`wait_for`](Self::wait_for), but `None` instead of a panic.
    pub fn try_wait_for(&self, ev: &str, limit: Duration) -> Option<Value> {
        self.next_event(ev, limit).ok()
    }

    fn next_event(&self, ev: &str, limit: Duration) -> Result<Value, RecvTimeoutError> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let v = self.lines.recv_timeout(left)?;
            if v["ev"] == ev {
                return Ok(v);
            }
        }
    }

    /// The first line (kept from an earlier `wait`, or new) for which `pred` holds,
    /// within `limit`, keeping the others for later waits; panics with the stderr tail
    /// when the process exits first or the time is up.
    pub fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).expect("index in range");
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => self.backlog.push_back(v),
                Err(e) => panic!(
                    "{}: no {what} within {limit:?} ({e}){}",
                    self.label,
                    self.tail()
                ),
            }
        }
    }

    /// [`wait`](Self::wait) for the line whose `ev` is `ev`.
    pub fn ev(&mut self, ev: &str, limit: Duration) -> Value {
        self.wait(ev, limit, |v| v["ev"] == ev)
    }

    /// Writes `line` and a newline to the process's stdin; panics when it is closed.
    pub fn send(&mut self, line: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write a command");
        stdin.flush().expect("flush stdin");
    }

    /// Closes the process's stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// `; stderr:` and the last lines of the process's stderr, for failure messages.
    pub fn tail(&self) -> String {
        let t = self.tail.lock().expect("stderr tail");
        format!("; stderr:\n{}", t.join("\n"))
    }
}

//! Outcomes of vectors and their totals.

use std::collections::BTreeMap;
use std::fmt;

/// What happened to one vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The Rust implementation agrees with the reference.
    Pass,
    /// It disagrees; the text says how.
    Fail(String),
    /// The implementation does not cover this function yet; the text names what is missing.
    Unsupported(String),
}

/// Counts for one suite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Vectors that passed.
    pub passed: usize,
    /// Vectors that failed.
    pub failed: usize,
    /// Vectors not covered yet.
    pub unsupported: usize,
}

impl Counts {
    fn add(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.unsupported += other.unsupported;
    }
}

/// One vector's result, kept for the detailed listing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The suite.
    pub suite: String,
    /// The vector's name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The results of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Counts per suite.
    pub suites: BTreeMap<String, Counts>,
    /// Every vector that did not pass, in order.
    pub entries: Vec<Entry>,
    /// Files that held no vectors (e.g. an index), with the reason.
    pub skipped: Vec<String>,
}

impl Report {
    /// Adds one vector's outcome.
    pub fn record(&mut self, suite: &str, name: &str, outcome: Outcome) {
        let counts = self.suites.entry(suite.to_owned()).or_default();
        match &outcome {
            Outcome::Pass => counts.passed += 1,
            Outcome::Fail(_) => counts.failed += 1,
            Outcome::Unsupported(_) => counts.unsupported += 1,
        }
        if outcome != Outcome::Pass {
            self.entries.push(Entry {
                suite: suite.to_owned(),
                name: name.to_owned(),
                outcome,
            });
        }
    }

    /// Counts over every suite.
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.suites.values() {
            t.add(*c);
        }
        t
    }

    /// The failures, as `(suite, name, why)`.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.entries.iter().filter_map(|e| match &e.outcome {
            Outcome::Fail(why) => Some((e.suite.as_str(), e.name.as_str(), why.as_str())),
            _ => None,
        })
    }

    /// A listing for people: failures always, unsupported vectors when `verbose`, per-suite
    /// counts, and the closing line `N passed, N failed, N unsupported`.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        for s in &self.skipped {
            out.push_str(&format!("skipped {s}\n"));
        }
        for e in &self.entries {
            match &e.outcome {
                Outcome::Fail(why) => {
                    out.push_str(&format!("FAIL {}/{}: {why}\n", e.suite, e.name))
                }
                Outcome::Unsupported(why) if verbose => {
                    out.push_str(&format!("unsupported {}/{}: {why}\n", e.suite, e.name));
                }
                _ => {}
            }
        }
        for (suite, c) in &self.suites {
            out.push_str(&format!("{suite}: {c}\n"));
        }
        out.push_str(&format!("{}\n", self.total()));
        out
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} unsupported",
            self.passed, self.failed, self.unsupported
        )
    }
}

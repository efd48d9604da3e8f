//! Selective sync: which collections a replica exchanges.
//!
//! Each side has a [`Collections`] filter (an include list or "all", minus an exclude list)
//! and sends it in HELLO as patterns: `*` for "all", a name to include it, `!name` to exclude
//! it. A collection is exchanged only if both sides' filters allow it. The names `*` and
//! those starting with `!` are reserved and never allowed.

use std::collections::BTreeSet;

/// Which collections a replica syncs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collections {
    /// `None`: every collection; `Some(set)`: only these.
    include: Option<BTreeSet<String>>,
    exclude: BTreeSet<String>,
}

const ALL: &str = "*";
const NOT: char = '!';

/// Whether `name` may name a collection at all (not a reserved pattern).
pub fn valid_collection_name(name: &str) -> bool {
    name != ALL && !name.starts_with(NOT)
}

impl Collections {
    /// Every collection.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the named collections.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self {
            include: Some(names.into_iter().map(Into::into).collect()),
            exclude: BTreeSet::new(),
        }
    }

    /// Also refuse `name`.
    #[must_use]
    pub fn excluding(mut self, name: impl Into<String>) -> Self {
        self.exclude.insert(name.into());
        self
    }

    /// Whether this filter allows `name`.
    pub fn allows(&self, name: &str) -> bool {
        valid_collection_name(name)
            && !self.exclude.contains(name)
            && self.include.as_ref().is_none_or(|inc| inc.contains(name))
    }

    /// The HELLO patterns of this filter.
    pub fn to_patterns(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.include {
            None => vec![ALL.to_owned()],
            Some(inc) => inc.iter().cloned().collect(),
        };
        out.extend(self.exclude.iter().map(|e| format!("{NOT}{e}")));
        out
    }

    /// The filter a peer sent as HELLO patterns.
    pub fn from_patterns(patterns: &[String]) -> Self {
        let mut include = Some(BTreeSet::new());
        let mut exclude = BTreeSet::new();
        for p in patterns {
            if p == ALL {
                include = None;
            } else if let Some(name) = p.strip_prefix(NOT) {
                exclude.insert(name.to_owned());
            } else if let Some(inc) = include.as_mut() {
                inc.insert(p.clone());
            }
        }
        Self { include, exclude }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_round_trip_and_intersect() {
        let a = Collections::all().excluding("secret");
        let b = Collections::only(["notes", "secret", "tasks"]);
        for f in [&a, &b] {
            assert_eq!(&Collections::from_patterns(&f.to_patterns()), f);
        }
        assert!(a.allows("notes") && a.allows("anything") && !a.allows("secret"));
        assert!(b.allows("notes") && !b.allows("anything"));
        assert!(!a.allows("*") && !a.allows("!x"));
        let both = |n: &str| a.allows(n) && b.allows(n);
        assert!(both("notes") && both("tasks") && !both("secret"));
    }
}

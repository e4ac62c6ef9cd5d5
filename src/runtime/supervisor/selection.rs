//! Selections that match nothing: a typo in `--connector`, an `--include` that matches no
//! name, a `[connectors."typo"]` entry in the config file, a maintenance window naming a
//! connector or a target that no listed connector has. Each gets one warning, once Kafka
//! Connect has listed its connectors (an empty listing is a worker still starting), once per
//! name for the life of the process, not at every poll.

use std::collections::{BTreeSet, HashSet};

use crate::config::Config;

use super::observe::Observation;

/// A selection that matches nothing listed: `key` identifies it (to warn once), `message`
/// says what and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unmatched {
    pub key: String,
    pub message: String,
}

/// Every selection of `cfg` that matches none of the `listed` connectors (name, and the label
/// of its database target when it has one). Pure.
pub(crate) fn unmatched(cfg: &Config, listed: &[(&str, Option<String>)]) -> Vec<Unmatched> {
    let names: BTreeSet<&str> = listed.iter().map(|(n, _)| *n).collect();
    let targets: BTreeSet<&str> = listed.iter().filter_map(|(_, t)| t.as_deref()).collect();
    let mut out = Vec::new();
    let hint = |name: &str| match closest(name, &names) {
        Some(c) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    };
    for n in &cfg.selector.names {
        if !names.contains(n.as_str()) {
            out.push(Unmatched {
                key: format!("--connector {n}"),
                message: format!(
                    "--connector {n:?} matches none of the {} connectors Kafka Connect lists{}; the agent acts on nothing under that name: check the spelling",
                    names.len(),
                    hint(n)
                ),
            });
        }
    }
    if let Some(re) = &cfg.selector.include {
        if !names.iter().any(|n| re.is_match(n)) {
            let typed = crate::config::Selector::as_typed(re);
            out.push(Unmatched {
                key: format!("--include {typed}"),
                message: format!(
                    "--include {typed:?} matches none of the {} connectors Kafka Connect lists (it must match the whole name); the agent acts on none of them",
                    names.len()
                ),
            });
        }
    }
    let file = cfg
        .config_file
        .as_ref()
        .map(|p| format!("--config {}", p.display()))
        .unwrap_or_else(|| "the config file".into());
    for n in cfg.overrides.keys() {
        if !names.contains(n.as_str()) {
            out.push(Unmatched {
                key: format!("[connectors] {n}"),
                message: format!(
                    "{file}: [connectors.{n:?}] matches no connector Kafka Connect lists{}; its settings apply to nothing: check the name",
                    hint(n)
                ),
            });
        }
    }
    for w in &cfg.maintenance {
        for c in &w.connectors {
            if !names.contains(c.as_str()) {
                out.push(Unmatched {
                    key: format!("{} connector {c}", w.source),
                    message: format!(
                        "{}: connector {c:?} matches no connector Kafka Connect lists{}; the window holds nothing under that name",
                        w.source,
                        hint(c)
                    ),
                });
            }
        }
        for t in &w.targets {
            if !targets.contains(t.as_str()) {
                let known: Vec<&str> = targets.iter().copied().take(5).collect();
                out.push(Unmatched {
                    key: format!("{} target {t}", w.source),
                    message: format!(
                        "{}: target {t:?} is the database of no listed connector (their targets: {}{}); the window holds nothing for it: give the target as the agent labels it (HOST:PORT/SERVICE, or the --db URL)",
                        w.source,
                        if known.is_empty() { "none known".to_string() } else { known.join(", ") },
                        if targets.len() > known.len() { ", ..." } else { "" }
                    ),
                });
            }
        }
    }
    out
}

/// The listed name closest to `name` (same letters ignoring case, or at most two edits), to
/// suggest for a typo.
fn closest<'a>(name: &str, names: &BTreeSet<&'a str>) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (edits(&name.to_lowercase(), &n.to_lowercase()), *n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance (names are short).
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// What was already warned about, so each unmatched selection is logged once.
#[derive(Debug, Default)]
pub(crate) struct Warned(HashSet<String>);

impl Warned {
    /// Logs the unmatched selections not logged before. Does nothing while Kafka Connect lists
    /// no connector at all (it lists none while it starts).
    pub(crate) fn check(&mut self, cfg: &Config, obs: &Observation) {
        if obs.connectors.is_empty() {
            return;
        }
        let listed: Vec<(&str, Option<String>)> = obs
            .connectors
            .iter()
            .map(|(n, s)| (n.as_str(), s.target.as_ref().ok().map(|t| t.label())))
            .collect();
        for u in unmatched(cfg, &listed) {
            if self.0.insert(u.key) {
                tracing::warn!("{}", u.message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cfg(args: &[&str], toml: Option<&str>) -> (Config, Option<tempfile::TempDir>) {
        let mut v = vec!["cdc-sentinel", "run"];
        v.extend_from_slice(args);
        let dir = toml.map(|t| {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("c.toml"), t).unwrap();
            d
        });
        let path = dir.as_ref().map(|d| d.path().join("c.toml"));
        if let Some(p) = &path {
            v.push("--config");
            v.push(p.to_str().unwrap());
        }
        let a = match crate::config::Cli::try_parse_from(v).unwrap().command {
            Some(crate::config::Command::Run(a)) => a,
            _ => unreachable!(),
        };
        (a.validate().unwrap(), dir)
    }

    fn listed() -> Vec<(&'static str, Option<String>)> {
        vec![
            ("inventory-oracle", Some("db1:1521/ORCLPDB1".into())),
            ("orders-oracle", Some("db1:1521/ORCLPDB1".into())),
            ("legacy-jdbc", None),
        ]
    }

    #[test]
    fn names_that_match_nothing_are_found_with_a_suggestion() {
        let (c, _d) = cfg(
            &[
                "--connector",
                "inventroy-oracle",
                "--connector",
                "orders-oracle",
            ],
            None,
        );
        let u = unmatched(&c, &listed());
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(
            u[0].message.contains("--connector \"inventroy-oracle\"")
                && u[0].message.contains("did you mean \"inventory-oracle\"?"),
            "{}",
            u[0].message
        );
        let (c, _d) = cfg(&["--include", "inv-.*"], None);
        let u = unmatched(&c, &listed());
        assert_eq!(u.len(), 1, "{u:?}");
        assert!(
            u[0].message.contains("--include \"inv-.*\""),
            "{}",
            u[0].message
        );
        let (c, _d) = cfg(&["--include", "inventory-.*"], None);
        assert!(unmatched(&c, &listed()).is_empty());
    }

    #[test]
    fn config_entries_and_windows_that_match_nothing_are_found() {
        let (c, _d) = cfg(
            &[],
            Some(
                r#"
[connectors."orders-oracle"]
max_wait = "45m"
[connectors."ordres-oracle"]
max_wait = "45m"

[[maintenance]]
when = "daily 01:00-02:00 UTC"
connectors = ["inventory-oracle", "nope"]
targets = ["db1:1521/ORCLPDB1", "oracle://db2:1521/CRM"]
"#,
            ),
        );
        let u = unmatched(&c, &listed());
        let msgs: Vec<&str> = u.iter().map(|u| u.message.as_str()).collect();
        assert_eq!(u.len(), 3, "{msgs:#?}");
        assert!(
            msgs[0].contains("[connectors.\"ordres-oracle\"]")
                && msgs[0].contains("did you mean \"orders-oracle\"?"),
            "{}",
            msgs[0]
        );
        assert!(
            msgs[1].contains("[[maintenance]] #1: connector \"nope\""),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].contains("target \"db2:1521/CRM\"") && msgs[2].contains("db1:1521/ORCLPDB1"),
            "{}",
            msgs[2]
        );
        // keys are distinct, so each is warned once
        let keys: HashSet<&str> = u.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys.len(), u.len());
    }

    #[test]
    fn edit_distance() {
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("", "ab"), 2);
        assert_eq!(edits("inventroy", "inventory"), 2);
    }
}

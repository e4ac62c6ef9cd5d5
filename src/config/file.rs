//! The optional TOML file (`--config`): per-connector settings and `[[maintenance]]` tables.
//! Unknown keys are errors that name the key.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::core::windows::{parse_instant, parse_when, Schedule, Window, ACCEPTED};
use crate::core::{AfterTimeout, HoldWith};

/// Per-connector settings from the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFileEntry {
    /// Database URL to probe for this connector.
    pub db: Option<String>,
    pub max_wait: Option<String>,
    pub after_timeout: Option<AfterTimeout>,
    pub hold_with: Option<HoldWith>,
    /// Whether its committed offset must move by itself (stalls, recovery judged by progress);
    /// default: from its heartbeat settings.
    pub expect_progress: Option<bool>,
    /// Never act on this connector.
    #[serde(default)]
    pub ignore: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) connectors: BTreeMap<String, ConnectorFileEntry>,
    #[serde(default)]
    pub(crate) maintenance: Vec<MaintenanceEntry>,
}

/// A `[[maintenance]]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceEntry {
    /// `"Mon-Fri 01:50-02:30 Asia/Seoul"`
    pub when: Option<String>,
    /// A one-off window: RFC 3339 times with an offset.
    pub start: Option<String>,
    pub end: Option<String>,
    /// Omitted: every connector (unless `targets` narrows it). Present, it must name some.
    #[serde(default, deserialize_with = "non_empty")]
    pub connectors: Vec<String>,
    /// Target labels, or database URLs (`oracle://db:1521/PDB1`) whose label is meant.
    #[serde(default, deserialize_with = "non_empty")]
    pub targets: Vec<String>,
}

/// `connectors = []` reads like "no connector" but an empty list would mean what an omitted
/// key means, every connector: refused, so a window never applies wider than written.
fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    if v.is_empty() {
        return Err(serde::de::Error::custom(
            "an empty list would select nothing, yet an omitted key means every connector: name at least one, or leave the key out for every connector",
        ));
    }
    Ok(v)
}

impl MaintenanceEntry {
    /// The window this table describes; the error names the key and shows the accepted forms.
    pub fn to_window(&self, source: String) -> Result<Window, String> {
        let schedule = match (&self.when, &self.start, &self.end) {
            (Some(w), None, None) => parse_when(w).map_err(|e| format!("when = {w:?}: {e}"))?,
            (None, Some(s), Some(e)) => {
                let start = parse_instant(s).map_err(|m| format!("start = {s:?}: {m}"))?;
                let end = parse_instant(e).map_err(|m| format!("end = {e:?}: {m}"))?;
                if end <= start {
                    return Err(format!(
                        "end = {e:?} is not after start = {s:?}; give the end of the window"
                    ));
                }
                Schedule::Once { start, end }
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err("a one-off window needs both start and end".into())
            }
            (None, None, None) => {
                return Err(format!("needs when = \"...\" or start and end; {ACCEPTED}"))
            }
            (Some(_), _, _) => {
                return Err(
                    "give either when (a weekly window) or start and end (a one-off), not both"
                        .into(),
                )
            }
        };
        let mut targets = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            if t.trim().is_empty() {
                return Err("targets: an empty target label".into());
            }
            if t.contains("://") {
                let parsed = cdc_sentinel_probe::target::parse_url(t)
                    .map_err(|e| format!("targets: {e}"))?;
                targets.push(parsed.label());
            } else {
                targets.push(t.trim().to_string());
            }
        }
        if self.connectors.iter().any(|c| c.trim().is_empty()) {
            return Err("connectors: an empty connector name".into());
        }
        Ok(Window {
            schedule,
            connectors: self.connectors.clone(),
            targets,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::windows::Occurrence;

    fn ms(t: &str) -> u64 {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis() as u64
    }

    #[test]
    fn config_tables_need_when_or_start_and_end() {
        let w = MaintenanceEntry {
            start: Some("2026-12-24T01:00:00+09:00".into()),
            end: Some("2026-12-24T04:00:00+09:00".into()),
            targets: vec!["oracle://db:1521/PDB1".into(), "pg:5432".into()],
            ..Default::default()
        }
        .to_window("x".into())
        .unwrap();
        assert_eq!(w.targets, vec!["db:1521/PDB1", "pg:5432"]);
        let o = w.schedule.next(0, 5);
        assert_eq!(
            o,
            vec![Occurrence {
                start: ms("2026-12-23T16:00:00Z"),
                end: ms("2026-12-23T19:00:00Z")
            }]
        );
        let err = |e: MaintenanceEntry| e.to_window("x".into()).unwrap_err();
        assert!(err(MaintenanceEntry::default()).contains("when"));
        assert!(err(MaintenanceEntry {
            start: Some("2026-12-24T01:00:00+09:00".into()),
            ..Default::default()
        })
        .contains("both start and end"));
        let e = err(MaintenanceEntry {
            start: Some("2026-12-24 01:00".into()),
            end: Some("2026-12-24T04:00:00+09:00".into()),
            ..Default::default()
        });
        assert!(
            e.contains("start") && e.contains("2026-12-24T01:00:00+09:00"),
            "{e}"
        );
        let e = err(MaintenanceEntry {
            start: Some("2026-12-24T04:00:00+09:00".into()),
            end: Some("2026-12-24T01:00:00+09:00".into()),
            ..Default::default()
        });
        assert!(e.contains("not after"), "{e}");
        let e = err(MaintenanceEntry {
            when: Some("daily 01:00-02:00 UTC".into()),
            start: Some("2026-12-24T04:00:00+09:00".into()),
            ..Default::default()
        });
        assert!(e.contains("not both"), "{e}");
    }
}

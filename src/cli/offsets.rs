//! `cdc-sentinel offsets [CONNECTOR]...`: the operator's one-shot look at committed source
//! positions, like `probe` is for databases. For each connector: its state, its committed
//! position (Oracle SCN, PostgreSQL LSN, MySQL/MariaDB binlog) and the source time of the last
//! change it committed; with `--wait D` a second read D later says whether it moved. The
//! second line says whether the agent judges it by progress (stalls) and why.
//!
//! Exit 0; 1 when (with `--wait`) a RUNNING connector expected to progress did not move; 64 bad
//! flags; 69 Kafka Connect unreachable, failing or older than 3.5; 78 an unreadable file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::exit::Exit;
use crate::config::OffsetsArgs;
use crate::core::offsets::{self, Expect, Flavour, Moved, Reading};
use crate::core::ConnState;
use crate::runtime::connect::types::ExpandedMap;
use crate::runtime::connect::{Client, ConnectError};
use crate::telemetry::events::human;
use crate::telemetry::Metrics;

/// Offsets read at once.
const CONCURRENT_READS: usize = 4;

/// One connector as shown.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    /// The connector's state, `RUNNING*` when a task is not RUNNING, `-` when not listed.
    pub state: String,
    /// Connector and every task RUNNING.
    pub running: bool,
    pub flavour: Option<Flavour>,
    pub expect: Expect,
    /// The first read (`Err`: why there is none).
    pub first: Result<Reading, String>,
    /// Source time of the last change committed (Unix ms), from the offset's own timestamp.
    pub source_ms: Option<u64>,
    /// The read `--wait` later, if asked.
    pub second: Option<Result<Reading, String>>,
}

impl Row {
    /// Expected to progress, RUNNING, read twice, and the position did not move.
    pub fn not_moving(&self) -> bool {
        if !(self.expect.progress() && self.running) {
            return false;
        }
        match (&self.first, &self.second) {
            (Ok(a), Some(Ok(b))) => match (a.position, b.position) {
                (Some(x), Some(y)) => !b.snapshot && y.relative_to(&x) == Moved::Same,
                _ => false,
            },
            _ => false,
        }
    }
}

fn fmt_time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The rows as text: a status line per connector, then what judges it.
pub fn render(rows: &[Row], wait: Duration) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut s = String::new();
    for r in rows {
        let _ = write!(s, "{:<width$}  {:<8}  ", r.name, r.state);
        match &r.first {
            Ok(Reading {
                position: Some(p), ..
            }) => {
                let _ = write!(s, "{p}");
            }
            Ok(_) if r.flavour.is_none() => s.push_str(
                "(no position: not a Debezium Oracle, PostgreSQL, MySQL or MariaDB connector)",
            ),
            Ok(_) => s.push_str("(no position committed yet)"),
            Err(e) => {
                let _ = write!(s, "(offsets not read: {e})");
            }
        }
        if matches!(&r.first, Ok(Reading { snapshot: true, .. })) {
            s.push_str("  snapshot under way");
        }
        if let Some(ms) = r.source_ms {
            let _ = write!(s, "  last change at {}", fmt_time(ms));
        }
        match (&r.first, &r.second) {
            (Ok(a), Some(Ok(b))) => match (a.position, b.position) {
                (Some(x), Some(y)) => {
                    let w = human(wait.as_millis() as u64);
                    let _ = match y.relative_to(&x) {
                        Moved::Ahead => write!(s, "  moved to {y} in {w}"),
                        Moved::Same => write!(s, "  did not move in {w}"),
                        Moved::Behind => write!(s, "  went back to {y} in {w} (offsets reset?)"),
                        Moved::Elsewhere => write!(s, "  now {y} (another server) after {w}"),
                    };
                }
                (None, Some(y)) => {
                    let _ = write!(s, "  first committed {y} during the wait");
                }
                _ => {}
            },
            (_, Some(Err(e))) => {
                let _ = write!(s, "  (second read failed: {e})");
            }
            _ => {}
        }
        let verdict = if r.expect.progress() {
            "judged by progress"
        } else {
            "judged by state only"
        };
        let _ = writeln!(s, "\n    {verdict}: {}", r.expect.describe());
        if r.not_moving() {
            let _ = writeln!(s, "    NOT MOVING while RUNNING: check the database side (LogMiner session and archive logs, replication slot and walsender, binlog retention) and the worker log");
        }
    }
    s
}

/// One JSON object per connector.
pub fn render_json(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        let reading = |x: &Result<Reading, String>| match x {
            Ok(rd) => serde_json::json!({
                "position": rd.position.map(|p| p.to_string()),
                "value": rd.position.map(|p| p.metric_value()),
                "snapshot": rd.snapshot,
            }),
            Err(e) => serde_json::json!({"error": e}),
        };
        let v = serde_json::json!({
            "connector": r.name,
            "state": r.state,
            "flavour": r.flavour.map(Flavour::as_str),
            "first": reading(&r.first),
            "second": r.second.as_ref().map(reading),
            "last_change": r.source_ms.map(fmt_time),
            "judged_by_progress": r.expect.progress(),
            "why": r.expect.describe(),
            "not_moving": r.not_moving(),
        });
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s
}

/// What the listing says of each connector: state, RUNNING, flavour, expectation.
fn describe(list: &ExpandedMap, names: &[String]) -> Vec<Row> {
    let wanted: Vec<String> = if names.is_empty() {
        let mut all: Vec<String> = list.keys().cloned().collect();
        all.sort();
        all
    } else {
        names.iter().map(|n| n.trim().to_string()).collect()
    };
    wanted
        .into_iter()
        .map(|name| {
            let ex = list.get(&name);
            let status = ex.and_then(|e| e.status.as_ref());
            let config = ex
                .and_then(|e| e.info.as_ref())
                .map(|i| i.config.clone())
                .unwrap_or_default();
            let class = config.get("connector.class").map(String::as_str);
            let flavour = class.and_then(Flavour::of_class);
            let (state, running) = match status {
                Some(st) => {
                    let c = ConnState::parse(&st.connector.state);
                    let tasks_ok =
                        !st.tasks.is_empty() && st.tasks.iter().all(|t| t.state == "RUNNING");
                    let shown = if c == ConnState::Running && !tasks_ok {
                        "RUNNING*".to_string()
                    } else {
                        st.connector.state.clone()
                    };
                    (shown, c == ConnState::Running && tasks_ok)
                }
                None => ("-".to_string(), false),
            };
            let expect = Expect::of(
                flavour,
                None,
                config.get("heartbeat.interval.ms").map(String::as_str),
                config.get("heartbeat.action.query").map(String::as_str),
            );
            let first = if ex.is_none() {
                Err("not listed by Kafka Connect".to_string())
            } else {
                Ok(Reading::default())
            };
            Row {
                name,
                state,
                running,
                flavour,
                expect,
                first,
                source_ms: None,
                second: None,
            }
        })
        .collect()
}

/// Reads every listed row's offsets (bounded concurrency); returns readings by name.
async fn read_all(
    client: &Client,
    rows: &[Row],
) -> BTreeMap<String, (Result<Reading, String>, Option<u64>)> {
    let permits = Arc::new(Semaphore::new(CONCURRENT_READS));
    let mut set = tokio::task::JoinSet::new();
    for r in rows.iter().filter(|r| r.first.is_ok()) {
        let (client, permits, name, flavour) =
            (client.clone(), permits.clone(), r.name.clone(), r.flavour);
        set.spawn(async move {
            let _p = permits.acquire_owned().await.ok();
            let got = match client.offsets(&name).await {
                Ok(o) => {
                    let reading = match flavour {
                        Some(f) => offsets::parse(f, o.values()),
                        None => Reading::default(),
                    };
                    (Ok(reading), offsets::source_time(o.values()))
                }
                Err(e) => (Err(e.to_string()), None),
            };
            (name, got)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(j) = set.join_next().await {
        if let Ok((name, got)) = j {
            out.insert(name, got);
        }
    }
    out
}

/// Prints; a closed stdout (`| head`) is not an error worth a panic.
fn out(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn unavailable(e: &ConnectError) -> Exit {
    eprintln!("cdc-sentinel offsets: {e}");
    Exit::Unavailable
}

pub async fn run(a: OffsetsArgs) -> Exit {
    let settings = match a.validate() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cdc-sentinel offsets: {}", e.message);
            return Exit::from(&e);
        }
    };
    let client = match Client::new(&settings, Metrics::new("offsets", "", false)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cdc-sentinel offsets: {e}");
            return Exit::Config;
        }
    };
    if let Err(e) = client.offsets_supported().await {
        return unavailable(&e);
    }
    let list = match client.list().await {
        Ok(l) => l,
        Err(e) => return unavailable(&e),
    };
    let mut rows = describe(&list, &a.connectors);
    for (name, (reading, source)) in read_all(&client, &rows).await {
        if let Some(r) = rows.iter_mut().find(|r| r.name == name) {
            r.first = reading;
            r.source_ms = source;
        }
    }
    if !a.wait.is_zero() {
        tokio::time::sleep(a.wait).await;
        for (name, (reading, source)) in read_all(&client, &rows).await {
            if let Some(r) = rows.iter_mut().find(|r| r.name == name) {
                r.second = Some(reading);
                r.source_ms = source.or(r.source_ms);
            }
        }
    }
    if a.json {
        out(&render_json(&rows));
    } else {
        out(&render(&rows, a.wait));
    }
    let stuck: Vec<&str> = rows
        .iter()
        .filter(|r| r.not_moving())
        .map(|r| r.name.as_str())
        .collect();
    if stuck.is_empty() {
        Exit::Ok
    } else {
        eprintln!(
            "cdc-sentinel offsets: {} expected to progress but did not move in {}: {}",
            if stuck.len() == 1 {
                "1 connector is"
            } else {
                "connectors are"
            },
            human(a.wait.as_millis() as u64),
            stuck.join(", ")
        );
        Exit::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::offsets::Position;

    fn row(name: &str, first: Option<u64>, second: Option<u64>, expect: Expect) -> Row {
        let rd = |v: Option<u64>| Reading {
            position: v.map(Position::Lsn),
            snapshot: false,
        };
        Row {
            name: name.into(),
            state: "RUNNING".into(),
            running: true,
            flavour: Some(Flavour::Postgres),
            expect,
            first: Ok(rd(first)),
            source_ms: Some(1_795_970_276_214),
            second: second.map(|v| Ok(rd(Some(v)))),
        }
    }

    #[test]
    fn says_where_each_connector_stands_and_whether_it_moved() {
        let rows = vec![
            row(
                "pg-flowing",
                Some(22_193_160),
                Some(22_193_400),
                Expect::HeartbeatQuery,
            ),
            row(
                "pg-stuck",
                Some(22_193_160),
                Some(22_193_160),
                Expect::HeartbeatQuery,
            ),
            row(
                "pg-quiet",
                Some(22_193_160),
                Some(22_193_160),
                Expect::NoHeartbeats,
            ),
        ];
        let text = render(&rows, Duration::from_secs(90));
        assert!(
            text.contains("pg-flowing  RUNNING   LSN 0/152A408  last change at 2026-11-29T")
                && text.contains("moved to LSN 0/152A4F8 in 1m 30s"),
            "{text}"
        );
        assert!(
            text.contains("pg-stuck    RUNNING   LSN 0/152A408"),
            "{text}"
        );
        assert!(text.contains("did not move in 1m 30s"), "{text}");
        assert!(text.contains("NOT MOVING while RUNNING"), "{text}");
        assert!(
            text.contains("judged by state only: no heartbeat.interval.ms"),
            "{text}"
        );
        assert_eq!(
            rows.iter().filter(|r| r.not_moving()).count(),
            1,
            "only the one expected to progress"
        );
        let json = render_json(&rows);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(first["first"]["position"], "LSN 0/152A408");
        assert_eq!(first["first"]["value"], 22_193_160.0);
        assert_eq!(first["not_moving"], false);
    }
}

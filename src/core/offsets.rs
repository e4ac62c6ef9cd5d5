//! Committed source offsets (`GET /connectors/{n}/offsets`, KIP-875) as one comparable
//! [`Position`] per Debezium flavour, and the pure [`Tracker`] that remembers when a connector's
//! position last advanced and judges a stall. No I/O: the supervisor reads the offsets and passes
//! the parsed JSON in, with the time.
//!
//! Position rules (docs: kafka-connect-rest.md sections 9 and 10):
//!
//! - **Oracle** (`scn`, `commit_scn`): the larger of `scn` and every redo thread's `commit_scn`.
//!   `scn` is where mining restarts; it stays at the start of the oldest open transaction, so a
//!   long transaction alone would look like a stall, while `commit_scn` moves with every commit.
//!   `commit_scn` is `scn:thread:txid-txid,...` per thread (a legacy single number is thread 1).
//!   An SCN is at most 8 bytes, so a `u64`.
//! - **PostgreSQL** (`lsn`, `lsn_proc`, `lsn_commit`): the largest of the three. `lsn_commit` is
//!   what Debezium confirms to the replication slot, but it is missing in the middle of a
//!   transaction and only moves on commits, while `lsn` and `lsn_proc` move with every event and
//!   with heartbeat messages; the largest never goes back while data flows (a later
//!   transaction's changes can sit below an earlier commit, which is then the largest).
//! - **MySQL / MariaDB** (`file`, `pos`, `event`, `row`, `server_id`): the binlog file's index
//!   (its numeric extension), the position in it, and the events and rows already processed
//!   of the transaction at `pos` (a large transaction keeps `pos` while they grow). Positions of
//!   two servers (`server_id` differs, e.g. after a failover) are not comparable; a move to
//!   another server counts as movement. GTID sets (`gtids`) are not ordered and are not used.
//!
//! Unknown connector classes (and offsets of any other shape) have no position: never an error.
//! While a snapshot is under way (`snapshot` set, `snapshot_completed` not true) the position
//! does not move although the connector works; such a reading is marked [`Reading::snapshot`]
//! and never judged stalled.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Millis;

/// The Debezium connectors whose offsets the agent understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    Oracle,
    Postgres,
    /// MySQL and MariaDB (the same binlog offsets).
    MySql,
}

impl Flavour {
    /// The flavour of a `connector.class`, `None` for anything else.
    pub fn of_class(class: &str) -> Option<Flavour> {
        let c = class.trim();
        if c.starts_with("io.debezium.connector.oracle.") {
            Some(Flavour::Oracle)
        } else if c.starts_with("io.debezium.connector.postgresql.") {
            Some(Flavour::Postgres)
        } else if c.starts_with("io.debezium.connector.mysql.")
            || c.starts_with("io.debezium.connector.mariadb.")
        {
            Some(Flavour::MySql)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Oracle => "oracle",
            Flavour::Postgres => "postgresql",
            Flavour::MySql => "mysql",
        }
    }
}

/// Where a connector's committed offset stands, comparable with an earlier one of the same
/// connector (see the module docs for each flavour's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Oracle System Change Number.
    Scn(u64),
    /// PostgreSQL Log Sequence Number.
    Lsn(u64),
    /// MySQL/MariaDB binlog coordinates.
    Binlog {
        /// `server_id` of the server the position belongs to, when the offset names it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<u64>,
        /// The binlog file's index (`mysql-bin.000003` -> 3).
        file: u64,
        pos: u64,
        /// Events, then rows, of the transaction at `pos` already processed.
        #[serde(default)]
        event: u64,
        #[serde(default)]
        row: u64,
    },
}

/// How a position stands relative to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Ahead,
    Same,
    /// Lower than before: offsets reset or edited (`DELETE`/`PATCH /offsets`), a new snapshot.
    Behind,
    /// Not comparable: another flavour, or another MySQL server.
    Elsewhere,
}

impl Position {
    /// This position relative to an `earlier` one.
    pub fn relative_to(&self, earlier: &Position) -> Moved {
        match self.partial_cmp_same(earlier) {
            Some(Ordering::Greater) => Moved::Ahead,
            Some(Ordering::Equal) => Moved::Same,
            Some(Ordering::Less) => Moved::Behind,
            None => Moved::Elsewhere,
        }
    }

    fn partial_cmp_same(&self, o: &Position) -> Option<Ordering> {
        match (self, o) {
            (Position::Scn(a), Position::Scn(b)) | (Position::Lsn(a), Position::Lsn(b)) => {
                Some(a.cmp(b))
            }
            (
                Position::Binlog {
                    server: s1,
                    file: f1,
                    pos: p1,
                    event: e1,
                    row: r1,
                },
                Position::Binlog {
                    server: s2,
                    file: f2,
                    pos: p2,
                    event: e2,
                    row: r2,
                },
            ) => match (s1, s2) {
                (Some(a), Some(b)) if a != b => None,
                _ => Some((f1, p1, e1, r1).cmp(&(f2, p2, e2, r2))),
            },
            _ => None,
        }
    }

    /// The value of `cdc_sentinel_source_offset_position`: the SCN, the LSN as a number, or
    /// `file_index * 10^10 + pos` for a binlog (`mysql-bin.000003` at 154 -> 30000000154).
    /// Exact below 2^53 (an LSN of 8 PiB, binlog index 900,000): beyond, only the last digits
    /// blur in the metric; comparisons never use it.
    pub fn metric_value(&self) -> f64 {
        match self {
            Position::Scn(v) | Position::Lsn(v) => *v as f64,
            Position::Binlog { file, pos, .. } => *file as f64 * 1e10 + *pos as f64,
        }
    }

    /// "SCN", "LSN" or "binlog position", for sentences.
    pub fn kind(&self) -> &'static str {
        match self {
            Position::Scn(_) => "SCN",
            Position::Lsn(_) => "LSN",
            Position::Binlog { .. } => "binlog position",
        }
    }
}

impl fmt::Display for Position {
    /// `SCN 2400007`, `LSN 0/152A408` (PostgreSQL's own notation, as `pg_replication_slots`
    /// shows it), `binlog 000003:154` (`:154+2.1` inside a transaction, `@server 7` when named).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Scn(v) => write!(f, "SCN {v}"),
            Position::Lsn(v) => write!(f, "LSN {:X}/{:X}", v >> 32, v & 0xFFFF_FFFF),
            Position::Binlog {
                server,
                file,
                pos,
                event,
                row,
            } => {
                write!(f, "binlog {file:06}:{pos}")?;
                if *event > 0 || *row > 0 {
                    write!(f, "+{event}.{row}")?;
                }
                if let Some(s) = server {
                    write!(f, " @server {s}")?;
                }
                Ok(())
            }
        }
    }
}

/// One read of a connector's committed offsets, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// `None`: no recognisable position (no commit yet, an unknown shape).
    pub position: Option<Position>,
    /// A snapshot is under way: the position does not move although the connector works.
    pub snapshot: bool,
}

/// Parses the `offset` objects of `{"offsets":[{"partition":{...},"offset":{...}},...]}` for
/// one flavour. Several partitions (a renamed `topic.prefix` leaves the old one behind): the
/// furthest position. Never panics, whatever the JSON.
pub fn parse<'a>(flavour: Flavour, offsets: impl IntoIterator<Item = &'a Value>) -> Reading {
    let mut out = Reading::default();
    for o in offsets.into_iter().take(MAX_PARTITIONS) {
        let Some(map) = o.as_object() else { continue };
        if snapshotting(map) {
            out.snapshot = true;
        }
        let p = match flavour {
            Flavour::Oracle => oracle(map),
            Flavour::Postgres => postgres(map),
            Flavour::MySql => mysql(map),
        };
        out.position = match (out.position, p) {
            (Some(a), Some(b)) if sort_key(&b) > sort_key(&a) => Some(b),
            (a @ Some(_), _) => a,
            (None, b) => b,
        };
    }
    out
}

/// The source time of the last change committed, in Unix milliseconds, from the offset's own
/// timestamp: PostgreSQL `ts_usec`, MySQL `ts_sec`, `ts_ms` where a connector writes one.
/// Heartbeats keep it, so it is when data last changed, not when the offset last moved.
pub fn source_time<'a>(offsets: impl IntoIterator<Item = &'a Value>) -> Option<Millis> {
    offsets
        .into_iter()
        .take(MAX_PARTITIONS)
        .filter_map(|o| {
            let m = o.as_object()?;
            let get = |k: &str| m.get(k).and_then(uint);
            get("ts_ms")
                .or_else(|| get("ts_usec").map(|u| u / 1000))
                .or_else(|| get("ts_sec").and_then(|s| s.checked_mul(1000)))
        })
        .max()
}

/// Partitions looked at in one answer (a source connector has one per database/server).
pub const MAX_PARTITIONS: usize = 1024;

fn sort_key(p: &Position) -> (u64, u64, u64, u64) {
    match p {
        Position::Scn(v) | Position::Lsn(v) => (*v, 0, 0, 0),
        Position::Binlog {
            file,
            pos,
            event,
            row,
            ..
        } => (*file, *pos, *event, *row),
    }
}

fn snapshotting(m: &Map<String, Value>) -> bool {
    let on = match m.get("snapshot") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            let s = s.trim();
            !s.is_empty() && !s.eq_ignore_ascii_case("false")
        }
        _ => false,
    };
    let done = match m.get("snapshot_completed") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    };
    on && !done
}

/// A non-negative integer sent as a JSON number or a string of digits (Java longs and
/// BigIntegers arrive both ways).
fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => digits(s),
        _ => None,
    }
}

fn digits(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn oracle(m: &Map<String, Value>) -> Option<Position> {
    let scn = m.get("scn").and_then(uint);
    let commit = m.get("commit_scn").and_then(|v| match v {
        Value::String(s) => s
            .split(',')
            .take(MAX_THREADS)
            .filter_map(|entry| digits(entry.split(':').next().unwrap_or("")))
            .max(),
        other => uint(other),
    });
    scn.max(commit).map(Position::Scn)
}

/// Redo threads looked at in one `commit_scn` (a RAC has one per instance).
const MAX_THREADS: usize = 256;

fn postgres(m: &Map<String, Value>) -> Option<Position> {
    ["lsn", "lsn_proc", "lsn_commit"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(uint))
        .max()
        .map(Position::Lsn)
}

fn mysql(m: &Map<String, Value>) -> Option<Position> {
    let file = m.get("file")?.as_str()?;
    let (_, ext) = file.trim().rsplit_once('.')?;
    let file = digits(ext)?;
    let pos = m.get("pos").and_then(uint)?;
    let opt = |k: &str| m.get(k).and_then(uint);
    Some(Position::Binlog {
        server: opt("server_id"),
        file,
        pos,
        event: opt("event").unwrap_or(0),
        row: opt("row").unwrap_or(0),
    })
}

/// Whether a connector's committed offset is expected to move by itself, and why (the log
/// says which rule judged a recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Oracle with `heartbeat.interval.ms` > 0: its heartbeats commit the SCN, which moves
    /// even when the database is quiet.
    Heartbeats,
    /// `heartbeat.interval.ms` > 0 and `heartbeat.action.query`: the query writes on every
    /// heartbeat, so the LSN/binlog position moves even on a quiet database.
    HeartbeatQuery,
    /// The config file says so (`expect_progress = true`).
    Configured,
    /// No `heartbeat.interval.ms`: an idle table is normal.
    NoHeartbeats,
    /// PostgreSQL/MySQL heartbeats without `heartbeat.action.query`: on a quiet database the
    /// heartbeat carries the same position (a PostgreSQL 15 LSN stood still for minutes).
    HeartbeatsWithoutQuery,
    /// The config file says not to (`expect_progress = false`).
    ConfiguredOff,
    /// Not a connector whose offsets the agent understands.
    UnknownClass,
}

impl Expect {
    /// The rule for one connector: the config file's word, else its own config.
    pub fn of(
        flavour: Option<Flavour>,
        configured: Option<bool>,
        heartbeat_ms: Option<&str>,
        action_query: Option<&str>,
    ) -> Expect {
        match configured {
            Some(true) => return Expect::Configured,
            Some(false) => return Expect::ConfiguredOff,
            None => {}
        }
        let Some(flavour) = flavour else {
            return Expect::UnknownClass;
        };
        let beats = heartbeat_ms
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|ms| ms > 0);
        if !beats {
            return Expect::NoHeartbeats;
        }
        let query = action_query.is_some_and(|q| !q.trim().is_empty());
        match (flavour, query) {
            (_, true) => Expect::HeartbeatQuery,
            (Flavour::Oracle, false) => Expect::Heartbeats,
            (_, false) => Expect::HeartbeatsWithoutQuery,
        }
    }

    /// Judged by its committed offset (stalls, recoveries).
    pub fn progress(self) -> bool {
        matches!(
            self,
            Expect::Heartbeats | Expect::HeartbeatQuery | Expect::Configured
        )
    }

    /// Why, for a log line.
    pub fn describe(self) -> &'static str {
        match self {
            Expect::Heartbeats => "heartbeat.interval.ms is set: its committed SCN moves even when the database is quiet",
            Expect::HeartbeatQuery => "heartbeat.interval.ms and heartbeat.action.query are set: its committed offset moves even when the database is quiet",
            Expect::Configured => "expect_progress = true in the config file",
            Expect::NoHeartbeats => "no heartbeat.interval.ms: an idle table leaves its offset still",
            Expect::HeartbeatsWithoutQuery => "heartbeat.interval.ms without heartbeat.action.query: on a quiet database its heartbeats repeat the same position",
            Expect::ConfiguredOff => "expect_progress = false in the config file",
            Expect::UnknownClass => "its connector class has no offset shape the agent knows",
        }
    }
}

/// What the decision core sees of a connector's committed offsets (`core::Input::offsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetObs {
    /// The latest committed position (`None`: none read yet, or not of a known shape).
    pub position: Option<Position>,
    /// A snapshot is under way.
    pub snapshot: bool,
    /// When the latest read was made.
    pub read_at: Millis,
    /// Whether the position must move by itself.
    pub expect: Expect,
}

/// Which rule judged a recovery (the recovered line says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// Expected to progress: its committed offset moved past the position of the hold.
    Progress { held: Position, now: Position },
    /// By its state alone: the connector and every task RUNNING for the verify window.
    State(ByState),
}

/// Why a recovery was judged by state alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByState {
    /// Its committed offset need not move (no heartbeats, `expect_progress = false`, a class
    /// whose offsets the agent does not know).
    NotExpected(Expect),
    /// Committed offsets are not available (Kafka older than 3.5, or not read yet).
    NoOffsets,
    /// No committed position was read while it was held.
    NoHeldPosition,
    /// A snapshot is under way: its position cannot show progress.
    Snapshot,
    /// Its committed offsets could not be read since the resume.
    NotRead,
}

impl fmt::Display for Judged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judged::Progress { held, now } => write!(
                f,
                "judged by progress: held at {held}; resumed; now at {now}"
            ),
            Judged::State(why) => {
                f.write_str("judged by its RUNNING state alone: ")?;
                match why {
                    ByState::NotExpected(e) => f.write_str(e.describe()),
                    ByState::NoOffsets => f.write_str(
                        "committed offsets not available (Kafka older than 3.5, or not read yet)",
                    ),
                    ByState::NoHeldPosition => {
                        f.write_str("no committed position was read while it was held")
                    }
                    ByState::Snapshot => f.write_str("a snapshot is under way"),
                    ByState::NotRead => {
                        f.write_str("its committed offsets could not be read since the resume")
                    }
                }
            }
        }
    }
}

/// What one read changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first position seen.
    First,
    Advanced,
    Same,
    /// Lower than before (offsets reset or edited): taken as the new baseline.
    Behind,
    /// Not comparable with the previous one (another MySQL server): the new baseline.
    Elsewhere,
    /// No position in this read (none committed yet, an unknown shape).
    Absent,
}

/// A stall, as judged by [`Tracker::stalled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub position: Position,
    /// Since when the position has not moved while the connector read RUNNING.
    pub since: Millis,
    /// For how long, as of the latest read.
    pub for_ms: Millis,
}

/// One connector's committed position over time: what it is, when it last advanced, since when
/// the connector has read RUNNING. Pure: every method takes the time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracker {
    pub position: Option<Position>,
    pub snapshot: bool,
    /// When the position last advanced (or was first seen, or was reset).
    pub advanced_at: Option<Millis>,
    /// When the latest successful read was made.
    pub read_at: Option<Millis>,
    /// Since when the connector (and every task) has read RUNNING without a break.
    pub running_since: Option<Millis>,
}

impl Tracker {
    /// Folds in one poll's state: RUNNING (the connector and every task) or not.
    pub fn running(&mut self, running: bool, now: Millis) {
        if !running {
            self.running_since = None;
        } else if self.running_since.is_none() {
            self.running_since = Some(now);
        }
    }

    /// Folds in one read of the committed offsets, made at `now`.
    pub fn read(&mut self, r: Reading, now: Millis) -> Change {
        self.read_at = Some(now);
        self.snapshot = r.snapshot;
        let Some(new) = r.position else {
            return Change::Absent;
        };
        let change = match self.position {
            None => Change::First,
            Some(old) => match new.relative_to(&old) {
                Moved::Ahead => Change::Advanced,
                Moved::Same => Change::Same,
                Moved::Behind => Change::Behind,
                Moved::Elsewhere => Change::Elsewhere,
            },
        };
        if change != Change::Same {
            self.advanced_at = Some(now);
        }
        // A snapshot under way is work the position cannot show.
        if r.snapshot {
            self.advanced_at = Some(now);
        }
        self.position = Some(new);
        change
    }

    /// Stalled: expected to progress, RUNNING without a break, and the latest read shows the
    /// position unmoved for `stall_after` or more of that time. Judged on reads, never on the
    /// clock alone: without a read there is no evidence.
    pub fn stalled(&self, expect: Expect, stall_after: Millis) -> Option<Stall> {
        if !expect.progress() || self.snapshot {
            return None;
        }
        let position = self.position?;
        let base = self.advanced_at?.max(self.running_since?);
        let read = self.read_at?;
        let for_ms = read.checked_sub(base)?;
        (for_ms >= stall_after).then_some(Stall {
            position,
            since: base,
            for_ms,
        })
    }
}

#[cfg(test)]
#[path = "offsets_tests.rs"]
mod tests;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::*;

/// The `offset` objects of a `GET /connectors/{n}/offsets` body.
fn offsets(body: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(body).unwrap();
    v["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["offset"].clone())
        .collect()
}

fn pos(flavour: Flavour, body: &str) -> Option<Position> {
    parse(flavour, &offsets(body)).position
}

#[test]
fn classes_map_to_flavours() {
    let f = Flavour::of_class;
    assert_eq!(
        f("io.debezium.connector.oracle.OracleConnector"),
        Some(Flavour::Oracle)
    );
    assert_eq!(
        f("io.debezium.connector.postgresql.PostgresConnector"),
        Some(Flavour::Postgres)
    );
    assert_eq!(
        f("io.debezium.connector.mysql.MySqlConnector"),
        Some(Flavour::MySql)
    );
    assert_eq!(
        f("io.debezium.connector.mariadb.MariaDbConnector"),
        Some(Flavour::MySql)
    );
    for other in [
        "io.debezium.connector.sqlserver.SqlServerConnector",
        "io.confluent.connect.jdbc.JdbcSourceConnector",
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "",
        "oracle",
    ] {
        assert_eq!(f(other), None, "{other}");
    }
}

#[test]
fn postgres_as_a_real_3_9_worker_returns_it() {
    // Seen on Kafka Connect 3.9.0 + Debezium 3.6.3 (real-kafka-connect.md): right after the
    // start, between transactions, inside a transaction (no lsn_commit, lsn below nothing).
    let start = r#"{"offsets":[{"partition":{"server":"hb"},"offset":{"lsn":22055304,"txId":730,"ts_usec":1795970471886000}}]}"#;
    assert_eq!(
        pos(Flavour::Postgres, start),
        Some(Position::Lsn(22_055_304))
    );
    let between = r#"{"offsets":[{"partition":{"server":"hidden"},"offset":{"lsn_proc":22193160,"messageType":"MESSAGE","lsn_commit":22193160,"lsn":22193160,"ts_usec":1795970276214000}}]}"#;
    assert_eq!(
        pos(Flavour::Postgres, between),
        Some(Position::Lsn(22_193_160))
    );
    let inside = r#"{"offsets":[{"partition":{"server":"hidden"},"offset":{"lsn_proc":22193800,"messageType":"INSERT","lsn_commit":22193640,"lsn":22193800,"txId":744,"ts_usec":1795970369599359}}]}"#;
    assert_eq!(
        pos(Flavour::Postgres, inside),
        Some(Position::Lsn(22_193_800))
    );
    // A later transaction's change below an earlier commit: the commit is the position.
    let interleaved = json!([{"lsn": 110, "lsn_proc": 110, "lsn_commit": 130}]);
    assert_eq!(
        parse(Flavour::Postgres, interleaved.as_array().unwrap()).position,
        Some(Position::Lsn(130))
    );
    // 0/152A408 is how pg_replication_slots.confirmed_flush_lsn writes 22193160.
    assert_eq!(Position::Lsn(22_193_160).to_string(), "LSN 0/152A408");
    assert_eq!(Position::Lsn((7 << 32) | 0xAB).to_string(), "LSN 7/AB");
    // Before the first commit the list is empty.
    assert_eq!(
        parse(Flavour::Postgres, &offsets(r#"{"offsets":[]}"#)),
        Reading::default()
    );
}

#[test]
fn oracle_takes_the_furthest_of_scn_and_every_threads_commit_scn() {
    let logminer = r#"{"offsets":[{"partition":{"server":"inv"},"offset":{"scn":"2400007","commit_scn":"2400007:1:0a001b0000000001","snapshot_scn":"2399990","txId":"0a001b0000000001"}}]}"#;
    assert_eq!(
        pos(Flavour::Oracle, logminer),
        Some(Position::Scn(2_400_007))
    );
    // A long transaction holds `scn` back; commits on two RAC threads move on.
    let rac = json!([{"scn": "1000", "commit_scn": "1500:1:0a00-0b00,1720:2:0c00"}]);
    assert_eq!(
        parse(Flavour::Oracle, rac.as_array().unwrap()).position,
        Some(Position::Scn(1720))
    );
    // Legacy single commit_scn, numbers instead of strings, big (8-byte) SCNs.
    let legacy = json!([{"scn": 17_000_000_000_000_000_000u64, "commit_scn": 900}]);
    assert_eq!(
        parse(Flavour::Oracle, legacy.as_array().unwrap()).position,
        Some(Position::Scn(17_000_000_000_000_000_000))
    );
    // XStream offsets (lcr_position only): no position, no error.
    let xstream = json!([{"lcr_position": "000000000c5f5c2e00000001000000010000000c5f5c2d000000010000000102"}]);
    assert_eq!(
        parse(Flavour::Oracle, xstream.as_array().unwrap()).position,
        None
    );
    assert_eq!(Position::Scn(2_400_007).to_string(), "SCN 2400007");
}

#[test]
fn mysql_orders_file_position_event_row_and_keeps_servers_apart() {
    let body = r#"{"offsets":[{"partition":{"server":"shop"},"offset":{"transaction_id":null,"ts_sec":1698850000,"file":"mysql-bin.000003","pos":1234,"gtids":"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5","row":1,"server_id":223344,"event":2}}]}"#;
    let p = pos(Flavour::MySql, body).unwrap();
    assert_eq!(
        p,
        Position::Binlog {
            server: Some(223_344),
            file: 3,
            pos: 1234,
            event: 2,
            row: 1
        }
    );
    assert_eq!(p.to_string(), "binlog 000003:1234+2.1 @server 223344");
    assert_eq!(p.metric_value(), 30_000_001_234.0);
    let at = |file, pos, event| Position::Binlog {
        server: Some(223_344),
        file,
        pos,
        event,
        row: 0,
    };
    assert_eq!(at(3, 1234, 3).relative_to(&at(3, 1234, 2)), Moved::Ahead);
    assert_eq!(at(4, 4, 0).relative_to(&at(3, 999_999, 9)), Moved::Ahead);
    assert_eq!(at(3, 100, 0).relative_to(&at(3, 1234, 0)), Moved::Behind);
    let other_server = Position::Binlog {
        server: Some(5),
        file: 1,
        pos: 4,
        event: 0,
        row: 0,
    };
    assert_eq!(other_server.relative_to(&at(3, 1, 0)), Moved::Elsewhere);
    // MariaDB names its files the same way; a name without a numeric extension has no index.
    let maria = json!([{"file": "mariadb-bin.000012", "pos": 4}]);
    assert!(parse(Flavour::MySql, maria.as_array().unwrap())
        .position
        .is_some());
    let odd = json!([{"file": "binlog", "pos": 4}, {"file": "b.x12", "pos": 4}]);
    assert_eq!(
        parse(Flavour::MySql, odd.as_array().unwrap()).position,
        None
    );
}

#[test]
fn positions_of_different_kinds_never_compare() {
    assert_eq!(
        Position::Scn(5).relative_to(&Position::Lsn(1)),
        Moved::Elsewhere
    );
    assert_eq!(Position::Lsn(5).relative_to(&Position::Lsn(5)), Moved::Same);
}

#[test]
fn several_partitions_give_the_furthest() {
    let v = json!([{"lsn": 10}, {"lsn": 99}, {"lsn": 50}, "garbage", null]);
    assert_eq!(
        parse(Flavour::Postgres, v.as_array().unwrap()).position,
        Some(Position::Lsn(99))
    );
}

#[test]
fn a_snapshot_under_way_is_marked() {
    // Debezium 3.0.2+ writes the snapshot type, 2.7 wrote `true`; done once completed.
    for (offset, snapshot) in [
        (
            json!({"snapshot": "INITIAL", "snapshot_completed": false, "scn": "5"}),
            true,
        ),
        (
            json!({"snapshot": true, "last_snapshot_record": false, "lsn": 5}),
            true,
        ),
        (
            json!({"snapshot": "INITIAL", "snapshot_completed": true, "scn": "5"}),
            false,
        ),
        (json!({"snapshot": false, "lsn": 5}), false),
        (json!({"snapshot": "false", "lsn": 5}), false),
        (json!({"lsn": 5}), false),
    ] {
        let flavour = if offset.get("scn").is_some() {
            Flavour::Oracle
        } else {
            Flavour::Postgres
        };
        let r = parse(flavour, [&offset]);
        assert_eq!(r.snapshot, snapshot, "{offset}");
        assert!(r.position.is_some());
    }
}

#[test]
fn hostile_values_are_no_position_never_a_panic() {
    for bad in [
        json!({"lsn": -1}),
        json!({"lsn": 1.5}),
        json!({"lsn": "12abc"}),
        json!({"lsn": "-12"}),
        json!({"lsn": "99999999999999999999999"}),
        json!({"lsn": ""}),
        json!({"lsn": null}),
        json!({"lsn": [1]}),
        json!({"lsn": {"v": 1}}),
        json!({"lsn": true}),
    ] {
        assert_eq!(parse(Flavour::Postgres, [&bad]).position, None, "{bad}");
    }
    for bad in [
        json!({"scn": "null"}),
        json!({"scn": "0x10"}),
        json!({"commit_scn": ":::,,,"}),
        json!({"commit_scn": "abc:1:x"}),
        json!({"commit_scn": 1.25}),
        json!({"scn": "1e9"}),
    ] {
        assert_eq!(parse(Flavour::Oracle, [&bad]).position, None, "{bad}");
    }
    for bad in [
        json!({"file": 3, "pos": 4}),
        json!({"file": "mysql-bin.000003"}),
        json!({"file": "mysql-bin.000003", "pos": "x"}),
        json!({"file": "mysql-bin.", "pos": 4}),
        json!({"file": "", "pos": 4}),
    ] {
        assert_eq!(parse(Flavour::MySql, [&bad]).position, None, "{bad}");
    }
    // A bad commit_scn entry does not hide the good ones.
    let mixed = json!({"commit_scn": "junk,1200:2:tx,:::"});
    assert_eq!(
        parse(Flavour::Oracle, [&mixed]).position,
        Some(Position::Scn(1200))
    );
}

/// Random JSON of every shape, with the keys the parsers look for, deep and wide.
fn random_value(rng: &mut rand::rngs::StdRng, depth: u32) -> Value {
    const KEYS: &[&str] = &[
        "scn",
        "commit_scn",
        "lsn",
        "lsn_proc",
        "lsn_commit",
        "file",
        "pos",
        "event",
        "row",
        "server_id",
        "snapshot",
        "snapshot_completed",
        "offset",
        "offsets",
        "partition",
    ];
    let leaf = |rng: &mut rand::rngs::StdRng| -> Value {
        match rng.gen_range(0..10) {
            0 => Value::Null,
            1 => json!(rng.gen::<bool>()),
            2 => json!(rng.gen::<u64>()),
            3 => json!(rng.gen::<i64>()),
            4 => json!(rng.gen::<f64>() * 1e20),
            5 => json!(rng.gen::<u64>().to_string()),
            6 => json!(format!(
                "{}:{}:{:x},{}",
                rng.gen::<u32>(),
                rng.gen::<u8>(),
                rng.gen::<u64>(),
                rng.gen::<u16>()
            )),
            7 => json!(format!("mysql-bin.{:06}", rng.gen::<u32>())),
            8 => {
                let n = rng.gen_range(0..40);
                let s: String = (0..n)
                    .map(|_| char::from_u32(rng.gen_range(0..0x3000)).unwrap_or('?'))
                    .collect();
                json!(s)
            }
            _ => json!(".:,-0123456789"),
        }
    };
    if depth == 0 {
        return leaf(rng);
    }
    match rng.gen_range(0..4) {
        0 => leaf(rng),
        1 => Value::Array(
            (0..rng.gen_range(0..5))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.gen_range(0..8))
                .map(|_| {
                    let k = KEYS[rng.gen_range(0..KEYS.len())].to_string();
                    (k, random_value(rng, depth - 1))
                })
                .collect(),
        ),
    }
}

#[test]
fn property_any_json_parses_without_panic_and_ordering_is_consistent() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0ff5e7);
    let mut seen = 0;
    for _ in 0..10_000 {
        let list: Vec<Value> = (0..rng.gen_range(0..4))
            .map(|_| random_value(&mut rng, 3))
            .collect();
        for f in [Flavour::Oracle, Flavour::Postgres, Flavour::MySql] {
            let r = parse(f, &list);
            if let Some(p) = r.position {
                seen += 1;
                // Antisymmetry and reflexivity of the order the tracker relies on.
                assert_eq!(p.relative_to(&p), Moved::Same);
                let _ = p.to_string();
                assert!(p.metric_value() >= 0.0);
            }
        }
    }
    assert!(seen > 100, "the generator reached the parsers ({seen})");
    // The order is a total order within one kind: a > b exactly when b < a.
    for _ in 0..5_000 {
        let (a, b) = (rng.gen_range(0..4u64), rng.gen_range(0..4u64));
        let (c, d) = (rng.gen_range(0..4u64), rng.gen_range(0..4u64));
        let x = Position::Binlog {
            server: None,
            file: a,
            pos: b,
            event: c,
            row: 0,
        };
        let y = Position::Binlog {
            server: Some(1),
            file: c,
            pos: d,
            event: a,
            row: 1,
        };
        let back = match x.relative_to(&y) {
            Moved::Ahead => Moved::Behind,
            Moved::Behind => Moved::Ahead,
            m => m,
        };
        assert_eq!(y.relative_to(&x), back);
    }
}

#[test]
fn positions_survive_the_state_file() {
    for p in [
        Position::Scn(u64::MAX),
        Position::Lsn(22_193_160),
        Position::Binlog {
            server: None,
            file: 3,
            pos: 4,
            event: 0,
            row: 0,
        },
    ] {
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Position>(&s).unwrap(), p, "{s}");
    }
    assert_eq!(
        serde_json::to_string(&Position::Scn(7)).unwrap(),
        r#"{"scn":7}"#
    );
}

#[test]
fn expectation_follows_heartbeats_and_the_config_file() {
    let pg = Some(Flavour::Postgres);
    let ora = Some(Flavour::Oracle);
    assert_eq!(
        Expect::of(ora, None, Some("10000"), None),
        Expect::Heartbeats
    );
    assert_eq!(
        Expect::of(pg, None, Some("10000"), None),
        Expect::HeartbeatsWithoutQuery
    );
    assert_eq!(
        Expect::of(
            pg,
            None,
            Some("10000"),
            Some("SELECT pg_logical_emit_message(false, 'hb', now()::text)")
        ),
        Expect::HeartbeatQuery
    );
    assert_eq!(
        Expect::of(pg, None, Some("10000"), Some("  ")),
        Expect::HeartbeatsWithoutQuery
    );
    for off in [None, Some("0"), Some("-1"), Some("soon"), Some("")] {
        assert_eq!(
            Expect::of(ora, None, off, None),
            Expect::NoHeartbeats,
            "{off:?}"
        );
    }
    assert_eq!(Expect::of(pg, Some(true), None, None), Expect::Configured);
    assert_eq!(
        Expect::of(ora, Some(false), Some("1000"), None),
        Expect::ConfiguredOff
    );
    assert_eq!(
        Expect::of(None, None, Some("1000"), Some("x")),
        Expect::UnknownClass
    );
    assert!(Expect::Heartbeats.progress() && Expect::HeartbeatQuery.progress());
    assert!(Expect::Configured.progress());
    for e in [
        Expect::NoHeartbeats,
        Expect::HeartbeatsWithoutQuery,
        Expect::ConfiguredOff,
        Expect::UnknownClass,
    ] {
        assert!(!e.progress(), "{e:?}");
    }
}

// ---- the tracker, on virtual time ----

const S: Millis = 1000;
const MIN: Millis = 60 * S;

fn at(lsn: u64) -> Reading {
    Reading {
        position: Some(Position::Lsn(lsn)),
        snapshot: false,
    }
}

/// Reads every 30 s from `from` to `to` (inclusive) at `lsn`, RUNNING at every read.
fn reads(t: &mut Tracker, from: Millis, to: Millis, lsn: impl Fn(Millis) -> u64) {
    let mut now = from;
    while now <= to {
        t.running(true, now);
        t.read(at(lsn(now)), now);
        now += 30 * S;
    }
}

#[test]
fn a_standing_offset_is_stalled_after_stall_after_and_cleared_when_it_moves() {
    let mut t = Tracker::default();
    let e = Expect::Heartbeats;
    reads(&mut t, 0, 5 * MIN, |now| now); // flowing
    assert_eq!(t.stalled(e, 10 * MIN), None);
    reads(&mut t, 5 * MIN + 30 * S, 15 * MIN, |_| 7); // stands still from 5:30
    assert_eq!(t.stalled(e, 10 * MIN), None, "9m30s still");
    t.running(true, 15 * MIN + 30 * S);
    assert_eq!(t.read(at(7), 15 * MIN + 30 * S), Change::Same);
    let s = t.stalled(e, 10 * MIN).expect("stalled after 10m");
    assert_eq!(s.position, Position::Lsn(7));
    assert_eq!((s.since, s.for_ms), (5 * MIN + 30 * S, 10 * MIN));
    // The clock alone proves nothing: without a new read the verdict does not grow.
    assert_eq!(t.stalled(e, 10 * MIN).unwrap().for_ms, 10 * MIN);
    assert_eq!(t.read(at(8), 16 * MIN), Change::Advanced);
    assert_eq!(t.stalled(e, 10 * MIN), None, "cleared when it moves");
}

#[test]
fn never_judged_without_heartbeats_or_while_not_running_or_snapshotting() {
    let mut t = Tracker::default();
    reads(&mut t, 0, 60 * MIN, |_| 7);
    assert!(t.stalled(Expect::Heartbeats, 10 * MIN).is_some());
    for e in [
        Expect::NoHeartbeats,
        Expect::HeartbeatsWithoutQuery,
        Expect::ConfiguredOff,
        Expect::UnknownClass,
    ] {
        assert_eq!(
            t.stalled(e, 10 * MIN),
            None,
            "{e:?}: an idle table is normal"
        );
    }
    // Paused (by a human, or held): not running, not stalled; RUNNING again restarts the clock.
    t.running(false, 61 * MIN);
    assert_eq!(t.stalled(Expect::Heartbeats, 10 * MIN), None);
    reads(&mut t, 62 * MIN, 71 * MIN, |_| 7);
    assert_eq!(
        t.stalled(Expect::Heartbeats, 10 * MIN),
        None,
        "9m since RUNNING"
    );
    reads(&mut t, 72 * MIN, 72 * MIN, |_| 7);
    assert!(t.stalled(Expect::Heartbeats, 10 * MIN).is_some());
    // A snapshot does not move the position but is work.
    t.read(
        Reading {
            position: Some(Position::Lsn(7)),
            snapshot: true,
        },
        80 * MIN,
    );
    assert_eq!(t.stalled(Expect::Heartbeats, 10 * MIN), None);
}

#[test]
fn a_reset_or_another_server_is_a_new_baseline_and_absence_keeps_the_last() {
    let mut t = Tracker::default();
    t.running(true, 0);
    assert_eq!(t.read(at(100), 0), Change::First);
    assert_eq!(t.read(at(50), 11 * MIN), Change::Behind);
    assert_eq!(t.stalled(Expect::Heartbeats, 10 * MIN), None);
    assert_eq!(t.read(Reading::default(), 12 * MIN), Change::Absent);
    assert_eq!(t.position, Some(Position::Lsn(50)), "kept");
    // No position ever: nothing to judge.
    let mut none = Tracker::default();
    none.running(true, 0);
    none.read(Reading::default(), 60 * MIN);
    assert_eq!(none.stalled(Expect::Configured, MIN), None);
}

#[test]
fn source_time_comes_from_the_offsets_own_timestamp() {
    let pg = offsets(
        r#"{"offsets":[{"partition":{"server":"hb"},"offset":{"lsn":22055304,"txId":730,"ts_usec":1795970471886000}}]}"#,
    );
    assert_eq!(source_time(&pg), Some(1_795_970_471_886));
    let my = json!([{"file": "mysql-bin.000003", "pos": 4, "ts_sec": 1_698_850_000u64}]);
    assert_eq!(source_time(my.as_array().unwrap()), Some(1_698_850_000_000));
    let none = json!([{"scn": "5"}, {"ts_sec": u64::MAX}]);
    assert_eq!(source_time(none.as_array().unwrap()), None);
}

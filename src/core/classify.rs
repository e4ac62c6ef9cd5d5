//! Classifies a FAILED connector's or task's Java stack trace: is the database unavailable (wait
//! for it, then restart), or is it something waiting cannot fix (a human must act)? Also redacts
//! secrets from any text that came from Kafka Connect before it is logged. Pure functions.

use std::sync::OnceLock;

use regex::Regex;

/// What a failure trace means for recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The database went away: hold, wait for it, resume and restart.
    Unavailable,
    /// Waiting cannot fix it; the value is the `needs_attention` reason.
    Attention(Attention),
}

/// Reasons for phase `needs_attention` (a closed set: the `reason` label of
/// `cdc_sentinel_recovery_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attention {
    /// The offset is no longer in the redo/archive logs or WAL: a new snapshot is needed.
    OffsetUnavailable,
    /// Debezium's schema history topic is missing: recover it or re-snapshot.
    HistoryTopicMissing,
    /// The connector stopped mid-snapshot and is configured to never snapshot.
    SnapshotNotAllowed,
    /// Credentials or privileges were refused.
    AuthenticationFailed,
    /// Anything not recognised as an outage (converter errors, bugs, ...): never resumed blindly.
    UnclassifiedFailure,
}

impl Attention {
    pub fn as_str(self) -> &'static str {
        match self {
            Attention::OffsetUnavailable => "offset_unavailable",
            Attention::HistoryTopicMissing => "history_topic_missing",
            Attention::SnapshotNotAllowed => "snapshot_not_allowed",
            Attention::AuthenticationFailed => "authentication_failed",
            Attention::UnclassifiedFailure => "unclassified_failure",
        }
    }

    /// What a human must do, in one sentence, for the log line.
    pub fn advice(self) -> &'static str {
        match self {
            Attention::OffsetUnavailable => "the connector's offset is no longer in the database logs: a new snapshot is required (see the runbook)",
            Attention::HistoryTopicMissing => "the schema history topic is missing: recover it (snapshot.mode=recovery) or re-snapshot",
            Attention::SnapshotNotAllowed => "the connector stopped during a snapshot and may not snapshot again: change snapshot.mode",
            Attention::AuthenticationFailed => "the database refused the connector's credentials or privileges: fix them, then restart the connector",
            Attention::UnclassifiedFailure => "the failure is not a database outage: read the trace, fix the cause, then restart the failed tasks",
        }
    }
}

struct Patterns {
    attention: Vec<(Regex, Attention)>,
    unavailable: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("static regex");
        Patterns {
            attention: vec![
                (re(r"(?i)do not contain the offset scn|containing offset scn[^\n]*has been deleted|none of the log files contain offset scn|re-?snapshot is required|perform a new snapshot|no longer available on the server|unable to get last available log position|requested (wal|lsn) segment [^\n]* has already been removed|replication slot [^\n]* does not exist|binlog[^\n]*(no longer available|has been purged)|could not find first log file name in binary log index"), Attention::OffsetUnavailable),
                (re(r"(?i)db history topic is missing|schema history topic is missing|history topic[^\n]*(missing|not found)"), Attention::HistoryTopicMissing),
                (re(r"(?i)configured to never allow snapshots|stopped while taking a snapshot"), Attention::SnapshotNotAllowed),
                (re(r"(?i)ORA-01017|ORA-01031|ORA-01045|ORA-28000|ORA-28001|password authentication failed|no pg_hba\.conf entry|permission denied|access denied for user|insufficient privileges|SQLState: 28"), Attention::AuthenticationFailed),
            ],
            unavailable: re(concat!(
                r"(?i)SQLRecoverableException|IO Error|Network Adapter could not establish|",
                r"ORA-(03113|03114|03135|12170|12514|12528|12537|12541|12543|01033|01034|01089|01090|12505|12516|12518|12519|12520|12526|12527|00604)|",
                r"No more data to read from socket|immediate shutdown or close in progress|",
                r"java\.net\.(ConnectException|SocketException|SocketTimeoutException|NoRouteToHostException|UnknownHostException)|",
                r"SocketTimeoutException|Connection refused|Connection reset|Broken pipe|",
                r"PSQLException: (FATAL: terminating connection|An I/O error occurred|Connection to [^\n]* refused|The connection attempt failed|FATAL: the database system is (starting up|shutting down|in recovery mode|not yet accepting connections))|",
                r"This replication stream has been closed|Database connection failed when reading from copy|",
                r"Couldn't obtain encoding for database|Failed to resolve Oracle database version|",
                r"Communications link failure|CommunicationsException|Can't connect to (MySQL|MariaDB) server|Lost connection to (MySQL|MariaDB) server|",
                r"SQLState: (08\d\d\d|57P0[1-3])|SQLTransientConnectionException"
            )),
        }
    })
}

/// Classifies a trace. "Not fixable by waiting" wins over "unavailable": a trace that says the
/// offset is gone is never resumed blindly, even if it also mentions an I/O error.
pub fn classify(trace: &str) -> Failure {
    let p = patterns();
    for (re, a) in &p.attention {
        if re.is_match(trace) {
            return Failure::Attention(*a);
        }
    }
    if p.unavailable.is_match(trace) {
        Failure::Unavailable
    } else {
        Failure::Attention(Attention::UnclassifiedFailure)
    }
}

/// The lines worth logging from a Java trace: the first line and the deepest `Caused by:`.
pub fn summarize(trace: &str) -> String {
    let lines: Vec<&str> = trace.lines().collect();
    let first = lines.first().copied().unwrap_or("").trim();
    let cause = lines.iter().enumerate().rev().find_map(|(i, l)| {
        let c = l.trim().strip_prefix("Caused by: ")?;
        // The Oracle driver puts the listener's error on the next line: "Listener refused the
        // connection with the following error:\nORA-12514, TNS:listener does not ..."
        match lines.get(i + 1).map(|n| n.trim()) {
            Some(next) if c.ends_with(':') && !next.is_empty() && !next.starts_with("at ") => {
                Some(format!("{c} {next}"))
            }
            _ => Some(c.to_string()),
        }
    });
    let s = match cause {
        Some(c) if c != first => format!("{first} / caused by: {c}"),
        _ => first.to_string(),
    };
    let s = redact(&s);
    truncate(&s, 400)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Removes credentials from text that came from outside (traces, URLs, error bodies):
/// `password=...`, `user/password@host` (Oracle), `user:password@host` (URLs), basic-auth headers.
pub fn redact(text: &str) -> String {
    static RES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        vec![
            // a quoted value ends on its line (an unclosed quote must not swallow the next
            // line's key and leave that one's value in clear), and takes what is glued to its
            // closing quote (fuzz/, target `classify`)
            (Regex::new(r#"(?i)((?:password|passwd|pwd|secret|token|credentials?)["']?\s*[=:]\s*)((?:"[^"\n]*"|'[^'\n]*')[^\s,;&)}]*|[^\s,;&)}]+)"#).expect("static"), "$1***"),
            (Regex::new(r"(?i)(jdbc:oracle:[a-z]+:)[^@/\s]+/[^@\s]+@").expect("static"), "$1***@"),
            (Regex::new(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@").expect("static"), "$1***@"),
            (Regex::new(r"(?i)(authorization:\s*basic\s+)\S+").expect("static"), "$1***"),
        ]
    });
    let mut out = text.to_string();
    for (re, rep) in res {
        out = re.replace_all(&out, *rep).into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DBZ: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)\n";

    #[test]
    fn outages_are_unavailable() {
        for cause in [
            "Caused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection",
            "Caused by: java.sql.SQLException: ORA-03113: end-of-file on communication channel",
            "Caused by: java.sql.SQLException: ORA-01033: ORACLE initialization or shutdown in progress",
            "Caused by: java.sql.SQLException: ORA-12514: TNS:listener does not currently know of service requested",
            "Caused by: java.sql.SQLException: No more data to read from socket",
            "Caused by: java.net.ConnectException: Connection refused",
            "Caused by: java.net.SocketTimeoutException: connect timed out",
            "Caused by: org.postgresql.util.PSQLException: FATAL: terminating connection due to administrator command",
            "Caused by: org.postgresql.util.PSQLException: Connection to 127.0.0.1:5432 refused. Check that the hostname and port are correct",
            "Caused by: org.postgresql.util.PSQLException: This replication stream has been closed.",
            "Caused by: org.postgresql.util.PSQLException: Database connection failed when reading from copy",
            "Caused by: com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure",
        ] {
            assert_eq!(classify(&format!("{DBZ}{cause}")), Failure::Unavailable, "{cause}");
        }
    }

    #[test]
    fn things_waiting_cannot_fix_need_attention() {
        let cases = [
            ("Caused by: io.debezium.DebeziumException: Online REDO LOG files or archive log files do not contain the offset scn 123456.  Please perform a new snapshot.", Attention::OffsetUnavailable),
            ("io.debezium.DebeziumException: The connector is trying to read change stream starting at {scn=1}, but this is no longer available on the server. Reconfigure the connector to use a snapshot mode when needed.", Attention::OffsetUnavailable),
            ("io.debezium.DebeziumException: The db history topic is missing. You may attempt to recover it by reconfiguring the connector to recovery.", Attention::HistoryTopicMissing),
            ("Caused by: java.sql.SQLException: ORA-01017: invalid username/password; logon denied", Attention::AuthenticationFailed),
            ("org.apache.kafka.connect.errors.DataException: Converting byte[] to Kafka Connect data failed due to serialization error", Attention::UnclassifiedFailure),
            ("io.debezium.DebeziumException: The connector previously stopped while taking a snapshot, but now the connector is configured to never allow snapshots.", Attention::SnapshotNotAllowed),
        ];
        for (trace, want) in cases {
            assert_eq!(classify(trace), Failure::Attention(want), "{trace}");
        }
        // The offset message wins over an I/O error in the same trace.
        let both = format!("{DBZ}Caused by: java.io.IOException: x\nCaused by: io.debezium.DebeziumException: None of the log files contain offset SCN: 5, re-snapshot is required.");
        assert_eq!(
            classify(&both),
            Failure::Attention(Attention::OffsetUnavailable)
        );
    }

    #[test]
    fn summary_keeps_first_line_and_root_cause() {
        let t = format!("{DBZ}Caused by: java.sql.SQLException: a\n\tat x\nCaused by: java.net.ConnectException: Connection refused");
        let s = summarize(&t);
        assert!(s.starts_with("org.apache.kafka.connect.errors.ConnectException"));
        assert!(
            s.ends_with("caused by: java.net.ConnectException: Connection refused"),
            "{s}"
        );
    }

    #[test]
    fn summary_keeps_the_listener_error_the_oracle_driver_puts_on_the_next_line() {
        let t = format!("{DBZ}Caused by: java.sql.SQLRecoverableException: Listener refused the connection with the following error:\nORA-12514, TNS:listener does not currently know of service requested in connect descriptor\n\tat oracle.jdbc.driver.T4CConnection.logon(T4CConnection.java:1)");
        let s = summarize(&t);
        assert!(
            s.ends_with("with the following error: ORA-12514, TNS:listener does not currently know of service requested in connect descriptor"),
            "{s}"
        );
    }

    #[test]
    fn redacts_credentials() {
        for (input, secret) in [
            ("failed: database.password=hunter2 for user", "hunter2"),
            ("url jdbc:oracle:thin:scott/tiger@//db:1521/X", "tiger"),
            ("connect to postgres://app:s3cr3t@db:5432/x", "s3cr3t"),
            ("{\"password\": \"p@ss w0rd\"}", "w0rd"),
            ("Authorization: Basic YWRtaW46c2VjcmV0", "YWRtaW46c2VjcmV0"),
        ] {
            let r = redact(input);
            assert!(!r.contains(secret), "{input} -> {r}");
            assert!(r.contains("***"), "{r}");
        }
    }

    /// Found by `scripts/fuzz.sh` (target `classify`, redaction must be idempotent): an
    /// unclosed quote after one `password=` reached the next line's `password='`, so the
    /// second secret was left in clear.
    #[test]
    fn fuzz_an_unclosed_quote_does_not_leak_the_next_secret() {
        let input = "\u{a0}\npassword='hunutil.\npassword='s3cr3t.Pa9#d\u{7}\0";
        let r = redact(input);
        assert!(!r.contains("s3cr3t"), "{r:?}");
        assert_eq!(redact(&r), r, "redacting twice changes nothing");
        let r = redact("password='a b' and token=\"c d\" then secret: 'e\nf'");
        assert!(
            !r.contains(" b") && !r.contains(" d") && !r.contains("'e"),
            "{r:?}"
        );
        // the second reproducer: text glued to a closing quote is part of the value
        let input =
            "\u{a0}\npassword='hunuit.Pla9#d\0F=.N<FV&\"<@S\u{fffd}assword='hunuit.Pl\u{1}\u{c}";
        let r = redact(input);
        assert!(!r.contains("hunuit"), "{r:?}");
        assert_eq!(redact(&r), r);
        assert_eq!(redact("password='abc'def, next"), "password=***, next");
    }
}

//! Database reachability as the simulated tasks see it, checked once per tick per distinct
//! database ([`DbKey`]).
//!
//! Most databases are the process that listens on their port, so for them ([`DbCheck::Tcp`])
//! the check is one long-lived TCP session per address: up while the session is open, or when
//! a fresh connect succeeds after the session was reset or closed. So 20 connectors on one
//! database cost one connection, a listener that never accepts does not fill its backlog, and
//! dropping the listener (the kernel resets the queued session) or closing an accepted session
//! is seen on the next tick.
//!
//! An Oracle database is not its listener: during a backup or a restart the listener accepts
//! TCP while the instance is down, and the JDBC driver's logon gets REFUSE ORA-12514 from it.
//! So for [`DbCheck::Tns`] the check is the logon's first step, a TNS CONNECT for the
//! connector's service (the agent's own `probe::oracle` code), every tick: only ACCEPT is up.
//! A REFUSE is down with the listener's error number (it shapes the task's trace); anything
//! else (refused, timeout, a peer that is no listener) is down as a network error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::{ConnectorSpec, DbCheck};
use cdc_sentinel_probe::target::{parse_jdbc, OracleId, Protocol, Target};
use cdc_sentinel_probe::{oracle, Reason};

/// One database as the tasks reach it: its address, and the Oracle service or SID the driver
/// logs on to (`None`: a TCP session is all it takes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DbKey {
    pub addr: SocketAddr,
    pub oracle: Option<OracleId>,
}

/// What a task (re)connecting to its database gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Up,
    /// Nothing takes the connection (refused, timed out, cut): the driver's network error.
    Unreachable,
    /// An Oracle listener answered REFUSE with this error number (ORA-12514, ...).
    ListenerRefused(u32),
}

impl Reach {
    pub(crate) fn is_up(self) -> bool {
        self == Reach::Up
    }
}

/// The database a connector's tasks use, or `None` (always reachable). A [`DbCheck::Tns`]
/// connector logs on to the service or SID of its JDBC `database.url`, else to the service
/// `database.dbname` (Debezium builds `jdbc:oracle:thin:@host:port/dbname`; with a PDB it logs
/// on to the CDB and switches container). Without either, a TCP session stands in.
pub(crate) fn key_for(spec: &ConnectorSpec) -> Option<DbKey> {
    let addr = spec.db?;
    let oracle = match spec.db_check {
        DbCheck::Tcp => None,
        DbCheck::Tns => logon_id(&spec.config),
    };
    Some(DbKey { addr, oracle })
}

fn logon_id(config: &BTreeMap<String, String>) -> Option<OracleId> {
    let get = |k: &str| config.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(id) = get("database.url").and_then(|u| parse_jdbc(u).ok()?.oracle) {
        return Some(id);
    }
    get("database.dbname").map(|s| OracleId::Service(s.to_string()))
}

/// The error number the Oracle driver reports for a listener refusal the probe classified.
fn listener_error(reason: Reason, id: &OracleId) -> Option<u32> {
    match reason {
        Reason::ServiceUnknown => Some(match id {
            OracleId::Service(_) => 12514,
            OracleId::Sid(_) => 12505,
        }),
        Reason::Blocked => Some(12528),
        Reason::Restricted => Some(12526),
        Reason::NoHandler => Some(12516),
        Reason::TooManyConnections => Some(12530),
        _ => None,
    }
}

/// A TNS CONNECT for `id` at `addr`, as the driver's logon starts.
async fn tns_logon(addr: SocketAddr, id: OracleId, timeout: Duration) -> Reach {
    let target = Target {
        protocol: Protocol::Oracle,
        host: addr.ip().to_string(),
        port: addr.port(),
        oracle: Some(id.clone()),
    };
    let deadline = tokio::time::Instant::now() + timeout;
    match tokio::time::timeout(timeout, oracle::probe(&target, deadline)).await {
        Ok((Reason::Ok, _, _)) => Reach::Up,
        Ok((reason, _, _)) => listener_error(reason, &id)
            .map(Reach::ListenerRefused)
            .unwrap_or(Reach::Unreachable),
        Err(_) => Reach::Unreachable,
    }
}

/// The ticker's open TCP database sessions.
#[derive(Default)]
pub(crate) struct DbProbe {
    sessions: HashMap<SocketAddr, TcpStream>,
}

impl DbProbe {
    /// Checks every database (new connects and TNS logons run concurrently, each bounded by
    /// `timeout`) and says how each can be reached.
    pub(crate) async fn check(
        &mut self,
        keys: &[DbKey],
        timeout: Duration,
    ) -> HashMap<DbKey, Reach> {
        let wanted: HashSet<DbKey> = keys.iter().cloned().collect();
        let tcp: HashSet<SocketAddr> = wanted
            .iter()
            .filter(|k| k.oracle.is_none())
            .map(|k| k.addr)
            .collect();
        self.sessions.retain(|a, _| tcp.contains(a));
        let mut reach = HashMap::with_capacity(wanted.len());
        let mut checks = JoinSet::new();
        for key in wanted {
            if let Some(id) = key.oracle.clone() {
                checks.spawn(async move {
                    let r = tns_logon(key.addr, id, timeout).await;
                    (key, r, None)
                });
                continue;
            }
            let a = key.addr;
            if self.sessions.get(&a).is_some_and(session_open) {
                reach.insert(key, Reach::Up);
                continue;
            }
            self.sessions.remove(&a);
            checks.spawn(async move {
                let s = tokio::time::timeout(timeout, TcpStream::connect(a)).await;
                match s.ok().and_then(Result::ok) {
                    Some(s) => (key, Reach::Up, Some(s)),
                    None => (key, Reach::Unreachable, None),
                }
            });
        }
        while let Some(joined) = checks.join_next().await {
            if let Ok((key, r, session)) = joined {
                if let Some(s) = session {
                    self.sessions.insert(key.addr, s);
                }
                reach.insert(key, r);
            }
        }
        reach
    }
}

/// True unless the peer closed or reset the session (anything it sent is discarded).
fn session_open(s: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_tasks_log_on_to_the_url_service_else_dbname() {
        let db: SocketAddr = "127.0.0.1:1521".parse().unwrap();
        let mut spec = ConnectorSpec::oracle("o", Some(db));
        assert_eq!(
            key_for(&spec).unwrap().oracle,
            Some(OracleId::Service("ORCLCDB".into()))
        );
        spec.config.insert(
            "database.url".into(),
            "jdbc:oracle:thin:@10.0.0.1:1521:ORCL".into(),
        );
        assert_eq!(
            key_for(&spec).unwrap().oracle,
            Some(OracleId::Sid("ORCL".into()))
        );
        assert_eq!(
            key_for(&spec.with_db_check(DbCheck::Tcp)).unwrap().oracle,
            None
        );
        assert_eq!(
            key_for(&ConnectorSpec::postgres("p", Some(db)))
                .unwrap()
                .oracle,
            None
        );
        assert_eq!(key_for(&ConnectorSpec::oracle("n", None)), None);
    }
}

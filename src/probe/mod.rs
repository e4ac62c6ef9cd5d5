//! Database probes behind one entry point, [`probe`]: a target and a timeout in, a classified
//! [`ProbeResult`] out. TCP lives here; protocol-aware probes (Oracle TNS, PostgreSQL, MySQL)
//! live in their own modules and return the same result with a more precise [`Reason`].

pub mod runner;

use std::time::Duration;

use tokio::net::TcpStream;

use crate::target::{Protocol, Target};

/// Why a probe succeeded or failed: a closed set, the `reason` label of the probe metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Ok,
    Refused,
    Timeout,
    Dns,
    ServiceUnknown,
    Blocked,
    Restricted,
    NoHandler,
    StartingUp,
    TooManyConnections,
    ProtocolError,
}

impl Reason {
    pub const FAILURES: [Reason; 10] = [
        Reason::Refused,
        Reason::Timeout,
        Reason::Dns,
        Reason::ServiceUnknown,
        Reason::Blocked,
        Reason::Restricted,
        Reason::NoHandler,
        Reason::StartingUp,
        Reason::TooManyConnections,
        Reason::ProtocolError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Refused => "refused",
            Reason::Timeout => "timeout",
            Reason::Dns => "dns",
            Reason::ServiceUnknown => "service_unknown",
            Reason::Blocked => "blocked",
            Reason::Restricted => "restricted",
            Reason::NoHandler => "no_handler",
            Reason::StartingUp => "starting_up",
            Reason::TooManyConnections => "too_many_connections",
            Reason::ProtocolError => "protocol_error",
        }
    }

    /// Every reason but `ok` counts as "down" for recovery.
    pub fn is_up(self) -> bool {
        self == Reason::Ok
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub reason: Reason,
    /// What it means, for the log ("connection refused", "listener up, service X not registered").
    pub detail: String,
    /// The server's version where the reply carries one.
    pub version: Option<String>,
    pub duration: Duration,
}

impl ProbeResult {
    pub fn up(&self) -> bool {
        self.reason.is_up()
    }
}

/// Probes a target once, within `timeout` (DNS, connect and protocol exchange together).
pub async fn probe(target: &Target, timeout: Duration) -> ProbeResult {
    let start = tokio::time::Instant::now();
    let (reason, detail, version) = match tokio::time::timeout(timeout, probe_inner(target)).await {
        Ok(r) => r,
        Err(_) => (
            Reason::Timeout,
            format!("no answer within {}", humantime::format_duration(timeout)),
            None,
        ),
    };
    ProbeResult {
        reason,
        detail,
        version,
        duration: start.elapsed(),
    }
}

async fn probe_inner(target: &Target) -> (Reason, String, Option<String>) {
    let stream = match connect(&target.host, target.port).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    match target.protocol {
        // Protocol-aware probes come with issue #3; until then a TCP connect is what we know.
        Protocol::Tcp | Protocol::Oracle | Protocol::Postgres | Protocol::Mysql => {
            drop(stream);
            (Reason::Ok, "port accepts connections".into(), None)
        }
    }
}

/// Resolves and connects, classifying the failure.
pub async fn connect(host: &str, port: u16) -> Result<TcpStream, (Reason, String, Option<String>)> {
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => return Err((Reason::Dns, format!("cannot resolve {host}: {e}"), None)),
    };
    if addrs.is_empty() {
        return Err((Reason::Dns, format!("{host} resolves to no address"), None));
    }
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let e = last.expect("at least one address was tried");
    Err(match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            (Reason::Refused, "connection refused".into(), None)
        }
        std::io::ErrorKind::TimedOut => (Reason::Timeout, "connect timed out".into(), None),
        _ => (Reason::Refused, format!("connect failed: {e}"), None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_probe_sees_a_listener_come_and_go() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let t = Target::tcp("127.0.0.1", port);
        assert_eq!(probe(&t, Duration::from_secs(2)).await.reason, Reason::Ok);
        drop(l);
        let r = probe(&t, Duration::from_secs(2)).await;
        assert_eq!(r.reason, Reason::Refused, "{r:?}");
        assert!(!r.up());
    }

    #[tokio::test]
    async fn unresolvable_host_is_dns() {
        let t = Target::tcp("no-such-host.invalid", 1521);
        assert_eq!(probe(&t, Duration::from_secs(5)).await.reason, Reason::Dns);
    }
}

//! Database probes behind one entry point, [`probe`]: a target and a timeout in, a classified
//! [`ProbeResult`] out. TCP lives here; protocol-aware probes (Oracle TNS, PostgreSQL, MySQL)
//! live in their own modules and return the same result with a more precise [`Reason`].
//! Every reason but `ok` counts as down; see docs/probes.md for what each one proves.

pub mod cli;
pub mod mysql;
pub mod oracle;
pub mod postgres;
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

/// What a protocol probe found: reason, detail, version.
pub type Outcome = (Reason, String, Option<String>);

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
    let deadline = start + timeout;
    let (reason, detail, version) =
        match tokio::time::timeout(timeout, probe_inner(target, deadline)).await {
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

/// Dispatches on the protocol. `deadline` is the probe's own timeout, so a protocol probe can
/// say where it was waiting (the outer timeout in [`probe`] is only a safety net).
async fn probe_inner(target: &Target, deadline: tokio::time::Instant) -> Outcome {
    match target.protocol {
        Protocol::Oracle => oracle::probe(target, deadline).await,
        Protocol::Postgres => postgres::probe(target, deadline).await,
        Protocol::Mysql => mysql::probe(target, deadline).await,
        Protocol::Tcp => match connect(&target.host, target.port).await {
            Ok(stream) => {
                drop(stream);
                (Reason::Ok, "port accepts connections".into(), None)
            }
            Err(e) => e,
        },
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

/// An in-memory peer for the reply parsers' tests: reads yield canned bytes, then EOF (or
/// nothing ever, when `hang`); writes are swallowed.
#[cfg(test)]
pub(crate) mod testio {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub struct Canned {
        data: Vec<u8>,
        pos: usize,
        hang: bool,
        pub written: Vec<u8>,
    }

    impl Canned {
        pub fn new(data: &[u8], hang: bool) -> Self {
            Canned {
                data: data.to_vec(),
                pos: 0,
                hang,
                written: Vec::new(),
            }
        }
    }

    impl AsyncRead for Canned {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let rest = self.data.len() - self.pos;
            if rest == 0 {
                // Silence: the caller's timer wakes it.
                return if self.hang {
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                };
            }
            let n = rest.min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Canned {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A small seeded generator for the fuzz-style tests (no dependency, same bytes every run).
    pub struct Lcg(pub u64);
    impl Lcg {
        pub fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        pub fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }
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

//! cdc-sentinel's database probes and database targets, a crate of its own so that the agent
//! and the simulator (which logs its Oracle tasks on through a listener with the same TNS code)
//! share one copy.
//!
//! One entry point, [`probe`]: a [`Target`] and a timeout in, a classified [`ProbeResult`] out.
//! Every protocol is one file plus one row of [`PROBERS`] (blackbox_exporter's `Probers` map):
//! its URL schemes, default port, the connector classes and JDBC prefixes it claims, and the
//! function that probes. Every reason but `ok` counts as down; docs/probes.md says what each
//! one proves.

pub mod mysql;
pub mod oracle;
pub mod postgres;
mod reason;
pub mod target;
pub mod tcp;
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

pub use reason::{Outcome, ProbeResult, Reason};
pub use target::{OracleId, Protocol, Target};
pub use tcp::connect;

/// A probe in flight.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One probe protocol: everything the rest of the program needs to know about it.
pub struct Prober {
    pub protocol: Protocol,
    /// URL schemes that select it in `--db` (the first is the canonical one).
    pub schemes: &'static [&'static str],
    /// Port used when a connector's config names a host but no port.
    pub default_port: Option<u16>,
    /// Lower-case substrings of `connector.class` that select it when the target is derived.
    pub class_hints: &'static [&'static str],
    /// JDBC URL prefixes (lower case) it reads `//HOST[:PORT]` from, with their default port.
    pub jdbc: &'static [(&'static str, u16)],
    /// Probes `target` before `deadline` (the probe's own timeout, so it can say where it was
    /// waiting; [`probe`] adds an outer timeout as a safety net).
    pub run: for<'a> fn(&'a Target, Instant) -> ProbeFuture<'a>,
}

/// Every protocol, one row each. The TCP row comes last: it is what a target falls back to.
pub static PROBERS: [&Prober; 4] = [
    &oracle::PROBER,
    &postgres::PROBER,
    &mysql::PROBER,
    &tcp::PROBER,
];

impl Protocol {
    /// This protocol's row of [`PROBERS`].
    pub fn prober(&self) -> &'static Prober {
        match self {
            Protocol::Oracle => &oracle::PROBER,
            Protocol::Postgres => &postgres::PROBER,
            Protocol::Mysql => &mysql::PROBER,
            Protocol::Tcp => &tcp::PROBER,
        }
    }

    /// The canonical URL scheme.
    pub fn scheme(&self) -> &'static str {
        self.prober().schemes[0]
    }
}

/// Probes a target once, within `timeout` (DNS, connect and protocol exchange together).
pub async fn probe(target: &Target, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    let deadline = start + timeout;
    let run = target.protocol.prober().run;
    let (reason, detail, version) = match tokio::time::timeout(timeout, run(target, deadline)).await
    {
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

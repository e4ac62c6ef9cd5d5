//! The plain TCP probe (proves only that a port accepts connections), and the connect step
//! every protocol probe starts with, classifying why it failed.

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{Outcome, ProbeFuture, Prober, Protocol, Reason, Target};

pub static PROBER: Prober = Prober {
    protocol: Protocol::Tcp,
    schemes: &["tcp"],
    default_port: None,
    class_hints: &[],
    jdbc: &[("jdbc:sqlserver://", 1433), ("jdbc:db2://", 50000)],
    run,
};

fn run(target: &Target, _deadline: Instant) -> ProbeFuture<'_> {
    Box::pin(probe(target))
}

/// Connects and hangs up.
pub async fn probe(target: &Target) -> Outcome {
    match connect(&target.host, target.port).await {
        Ok(stream) => {
            drop(stream);
            (Reason::Ok, "port accepts connections".into(), None)
        }
        Err(e) => e,
    }
}

/// Resolves and connects, classifying the failure.
pub async fn connect(host: &str, port: u16) -> Result<TcpStream, Outcome> {
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => return Err((Reason::Dns, format!("cannot resolve {host}: {e}"), None)),
    };
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let Some(e) = last else {
        return Err((Reason::Dns, format!("{host} resolves to no address"), None));
    };
    Err(match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            (Reason::Refused, "connection refused".into(), None)
        }
        std::io::ErrorKind::TimedOut => (Reason::Timeout, "connect timed out".into(), None),
        _ => (Reason::Refused, format!("connect failed: {e}"), None),
    })
}

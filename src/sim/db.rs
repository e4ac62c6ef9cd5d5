//! Database reachability as the simulated tasks see it: one long-lived TCP session per
//! distinct database address, checked once per tick.
//!
//! A database is up while its session is open, or when a fresh connect succeeds after the
//! session was reset or closed. So 20 connectors on one database cost one connection, a
//! listener that never accepts does not fill its backlog, and dropping the listener (the
//! kernel resets the queued session) or closing an accepted session is seen on the next tick.

use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The ticker's open database sessions.
#[derive(Default)]
pub(crate) struct DbProbe {
    sessions: HashMap<SocketAddr, TcpStream>,
}

impl DbProbe {
    /// Checks every address (new connects run concurrently, each bounded by `timeout`) and
    /// returns which are up.
    pub(crate) async fn check(
        &mut self,
        addrs: &[SocketAddr],
        timeout: Duration,
    ) -> HashMap<SocketAddr, bool> {
        let wanted: HashSet<SocketAddr> = addrs.iter().copied().collect();
        self.sessions.retain(|a, _| wanted.contains(a));
        let mut up = HashMap::with_capacity(wanted.len());
        let mut connects = JoinSet::new();
        for a in wanted {
            if self.sessions.get(&a).is_some_and(session_open) {
                up.insert(a, true);
                continue;
            }
            self.sessions.remove(&a);
            connects.spawn(async move {
                let s = tokio::time::timeout(timeout, TcpStream::connect(a)).await;
                (a, s.ok().and_then(Result::ok))
            });
        }
        while let Some(joined) = connects.join_next().await {
            if let Ok((a, session)) = joined {
                up.insert(a, session.is_some());
                if let Some(s) = session {
                    self.sessions.insert(a, s);
                }
            }
        }
        up
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

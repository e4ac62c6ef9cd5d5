//! A database stand-in that answers the protocol probes the way an open database does, for
//! the demo and the tests whose "database" is a plain TCP listener: with protocol-aware probes, a listener that
//! accepts and drops connections reads as `protocol_error` (down) to an oracle:// or
//! postgres:// target. `answer_as_database(stream)` instead of `drop(stream)` keeps such a
//! stand-in "up" for every protocol: it replies to a TNS CONNECT with ACCEPT, to a PostgreSQL
//! StartupMessage with a SCRAM authentication request, and to a client that stays silent (MySQL
//! waits for the server) with a MariaDB greeting.
//!
//! [`StandinDb`] can also play the nightly backup the way Oracle really goes through it: the
//! **instance** goes down while the **listener** stays up ([`StandinDb::instance_down`]). TCP
//! connects still succeed; a TNS CONNECT gets the REFUSE a 19c listener sends for a service no
//! instance has registered (ORA-12514, `tests/tns/VECTORS.txt`); open sessions are cut, as the
//! shutdown kills their server processes. A PostgreSQL StartupMessage gets what a postmaster
//! that listens without accepting sessions sends (FATAL, SQLSTATE 57P03 "the database system is
//! starting up"). MySQL has no such state (mysqld closes its port before it stops, which is
//! [`StandinDb::down`]): a client waiting for a greeting gets none, exactly as from an Oracle
//! listener, which waits 60 s (INBOUND_CONNECT_TIMEOUT) for a CONNECT and then hangs up.

use std::time::Duration;

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// How long an Oracle listener waits for a client to send its CONNECT
/// (`INBOUND_CONNECT_TIMEOUT_<listener>`, 60 s by default) before it hangs up.
const INBOUND_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// What stands behind the stand-in's listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Instance {
    /// An open database: every protocol gets in.
    Open,
    /// The listener is up, the instance is not (a backup, a restart).
    Down,
}

/// Answers one connection like an open database, then closes it.
pub async fn answer_as_database(s: TcpStream) {
    answer_open(s).await
}

async fn answer(s: TcpStream, instance: Instance) {
    match instance {
        Instance::Open => answer_open(s).await,
        Instance::Down => answer_instance_down(s).await,
    }
}

async fn answer_open(mut s: TcpStream) {
    let mut head = [0u8; 8];
    let mut got = 0;
    let silent = loop {
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut head[got..])).await {
            Err(_) => break got == 0,
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => {
                got += n;
                if got == head.len() {
                    break false;
                }
            }
        }
    };
    let reply: Vec<u8> = if silent {
        mysql_greeting()
    } else if got == 8 && head[2..4] == [0, 0] && head[4] == 1 {
        crate::tns::accept(319)
    } else if got == 8 && head[4..8] == [0, 3, 0, 0] {
        let body = b"\0\0\0\x0aSCRAM-SHA-256\0\0";
        let mut m = vec![b'R'];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    } else {
        return;
    };
    if s.write_all(&reply).await.is_err() {
        return;
    }
    if silent {
        // The client's login attempt gets "access denied", as for the probe's account.
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            if n > 0 {
                let err = b"\xff\x15\x04#28000Access denied for user 'cdc_sentinel'";
                let mut p = (err.len() as u32).to_le_bytes()[..3].to_vec();
                p.push(2);
                p.extend_from_slice(err);
                let _ = s.write_all(&p).await;
            }
        }
    }
    // Let the client finish (the TNS probe sends its EOF packet) before closing.
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut sink)).await;
}

/// Answers one connection while the listener is up and the instance is not, then closes it.
async fn answer_instance_down(mut s: TcpStream) {
    // A listener speaks only when spoken to; it hangs up on a client that stays silent.
    let mut head = [0u8; 8];
    match tokio::time::timeout(INBOUND_CONNECT_TIMEOUT, s.read_exact(&mut head)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    let reply = if head[2..4] == [0, 0] && head[4] == 1 {
        // Read the whole CONNECT (and the DATA packet that carries a long descriptor) first,
        // as a listener does, so closing after the REFUSE cannot reset unread bytes.
        let len = u16::from_be_bytes([head[0], head[1]]) as usize;
        let mut rest = vec![0u8; len.saturating_sub(8)];
        if s.read_exact(&mut rest).await.is_err() {
            return;
        }
        let field = |i: usize| {
            rest.get(i - 8..i - 6)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                .unwrap_or(0)
        };
        let (data_len, data_offset) = (field(24), field(26));
        if data_len > 0 && len < data_offset + data_len {
            let mut h = [0u8; 8];
            if s.read_exact(&mut h).await.is_err() {
                return;
            }
            let mut body = vec![0u8; (u16::from_be_bytes([h[0], h[1]]) as usize).saturating_sub(8)];
            if s.read_exact(&mut body).await.is_err() {
                return;
            }
        }
        crate::tns::refuse(12514)
    } else if head[4..8] == [0, 3, 0, 0] {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let mut rest = vec![0u8; len.clamp(8, 10_000) - 8];
        if s.read_exact(&mut rest).await.is_err() {
            return;
        }
        pg_fatal("57P03", "the database system is starting up")
    } else {
        return;
    };
    if s.write_all(&reply).await.is_err() {
        return;
    }
    // The listener hangs up; give the client the moment it takes to read the answer and close.
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut sink)).await;
}

/// A PostgreSQL ErrorResponse with severity FATAL, as the server sends it before closing.
fn pg_fatal(code: &str, message: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
        (b'F', "postmaster.c"),
        (b'L', "2355"),
        (b'R', "ProcessStartupPacket"),
    ] {
        body.push(tag);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = vec![b'E'];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(&body);
    m
}

fn mysql_greeting() -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(b"10.11.6-MariaDB\0");
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh\0");
    p.extend_from_slice(&0xf7feu16.to_le_bytes());
    p.push(45);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&0x81bfu16.to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(0);
    out.extend_from_slice(&p);
    out
}

/// A database stand-in on 127.0.0.1 that answers every protocol probe like an open database,
/// and can go down (connections refused, open sessions dropped, as a real database's are) and
/// come back on the same port, or lose its instance while its listener stays up
/// ([`StandinDb::instance_down`], see the module docs). Used by the demo and the tests.
pub struct StandinDb {
    pub addr: SocketAddr,
    instance: watch::Sender<Instance>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(128)
}

impl StandinDb {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<StandinDb> {
        let l = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let mut db = StandinDb {
            addr: l.local_addr()?,
            instance: watch::channel(Instance::Open).0,
            task: None,
        };
        db.serve(l);
        Ok(db)
    }

    fn serve(&mut self, l: TcpListener) {
        let mut instance = self.instance.subscribe();
        // Every session lives in this task, so going down drops them all.
        self.task = Some(tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    r = l.accept() => {
                        if let Ok((s, _)) = r {
                            sessions.spawn(answer(s, *instance.borrow()));
                        }
                    }
                    Ok(()) = instance.changed() => {
                        if *instance.borrow_and_update() == Instance::Down {
                            // The shutdown kills every server process: sessions are cut.
                            sessions.abort_all();
                        }
                    }
                    Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                }
            }
        }));
    }

    /// The database goes away: new connections are refused, open ones are cut.
    pub async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// The database is back on the same port (retries briefly while the port is released).
    /// Only the listener: after [`StandinDb::instance_down`] the instance stays down until
    /// [`StandinDb::instance_up`].
    pub async fn up(&mut self) -> std::io::Result<()> {
        if self.task.is_some() {
            return Ok(());
        }
        let mut last = None;
        for _ in 0..50 {
            match bind(self.addr) {
                Ok(l) => {
                    self.serve(l);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("cannot reopen the port")))
    }

    /// The instance goes down, the listener stays up (Oracle during a backup or a restart): TCP
    /// connects succeed, a TNS CONNECT gets REFUSE ORA-12514, a PostgreSQL StartupMessage gets
    /// FATAL 57P03, a MySQL client no greeting; open sessions are cut. Applies to connections
    /// accepted from now on; the cut follows within moments.
    pub fn instance_down(&self) {
        self.instance.send_replace(Instance::Down);
    }

    /// The instance is open again and registered with the listener: every protocol gets in.
    pub fn instance_up(&self) {
        self.instance.send_replace(Instance::Open);
    }
}

impl Drop for StandinDb {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `REFUSE ERR=12514` in tests/tns/VECTORS.txt (the real-listener shape).
    const REFUSE_12514: &str = "00 67 00 00 04 00 00 00 22 00 00 5b 28 44 45 53 43 52 49 50 54 49 4f 4e 3d 28 54 4d 50 3d 29 28 56 53 4e 4e 55 4d 3d 33 31 38 37 36 37 31 30 34 29 28 45 52 52 3d 31 32 35 31 34 29 28 45 52 52 4f 52 5f 53 54 41 43 4b 3d 28 45 52 52 4f 52 3d 28 43 4f 44 45 3d 31 32 35 31 34 29 28 45 4d 46 49 3d 34 29 29 29 29";

    #[test]
    fn refuse_is_the_listeners_packet() {
        let want: Vec<u8> = REFUSE_12514
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        assert_eq!(crate::tns::refuse(12514), want);
    }

    #[test]
    fn pg_fatal_is_one_well_formed_error_response() {
        let m = pg_fatal("57P03", "the database system is starting up");
        assert_eq!(m[0], b'E');
        assert_eq!(
            u32::from_be_bytes([m[1], m[2], m[3], m[4]]) as usize,
            m.len() - 1
        );
        let text = String::from_utf8_lossy(&m[5..]);
        assert!(text.starts_with("SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0"));
        assert!(m.ends_with(&[0, 0]));
    }
}

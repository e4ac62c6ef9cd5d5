//! MySQL/MariaDB readiness: the server's first packet. An initial handshake (protocol 10) means
//! it accepts connections and carries the server version; an error packet instead (1040 too many
//! connections, 1129 host blocked, ...) means it does not.
//!
//! The probe does not stop at the greeting: a client that leaves during the handshake counts as a
//! "connect error" for its host, and after `max_connect_errors` of them (100 by default) the
//! server blocks that host, the Kafka Connect worker beside the agent included. So the probe
//! answers the handshake properly for user `cdc_sentinel` with an empty password, takes the
//! expected "access denied" (an authentication failure, which does not count toward blocking),
//! and closes; if such an account exists without a password, it logs in and sends COM_QUIT.

use super::wire::{read_full, ReadErr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{Outcome, Reason};
use crate::target::Target;

/// This protocol's row of the probe table.
pub static PROBER: crate::Prober = crate::Prober {
    protocol: crate::Protocol::Mysql,
    schemes: &["mysql", "mariadb"],
    default_port: Some(3306),
    class_hints: &["mysql", "mariadb"],
    jdbc: &[("jdbc:mysql://", 3306), ("jdbc:mariadb://", 3306)],
    run: |target, deadline| Box::pin(probe(target, deadline)),
};

/// The account named in the handshake response. It needs to exist nowhere.
pub const USER: &str = "cdc_sentinel";
/// No packet larger than this is read.
pub const MAX_PACKET: usize = 64 * 1024;
/// Auth round trips (auth switch, more data) before the probe just closes.
const MAX_AUTH_ROUNDS: usize = 3;
/// How long the polite end of the handshake may take after the greeting; the verdict is already
/// known then, so a slow server (e.g. connection_control delays) does not stretch the probe.
const GOODBYE_BUDGET: Duration = Duration::from_secs(2);

const CLIENT_LONG_PASSWORD: u32 = 0x1;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x80000;

/// One packet: sequence id and payload (length capped).
async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    deadline: Instant,
) -> Result<(u8, Vec<u8>), ReadErr> {
    let mut h = [0u8; 4];
    read_full(s, &mut h, deadline).await?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    if len == 0 || len > MAX_PACKET {
        return Err(ReadErr::Bad(format!(
            "not a MySQL packet (header {h:02x?} announces {len} bytes)"
        )));
    }
    let mut payload = vec![0u8; len];
    match read_full(s, &mut payload, deadline).await {
        Err(ReadErr::Closed { got, want }) => Err(ReadErr::Closed {
            got: got + 4,
            want: want + 4,
        }),
        r => r.map(|()| (h[3], payload)),
    }
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut p = vec![len[0], len[1], len[2], seq];
    p.extend_from_slice(payload);
    p
}

fn printable(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// An ERR packet's code and message (with or without the `#SQLSTATE` marker).
pub fn parse_err(payload: &[u8]) -> Option<(u16, String)> {
    if payload.first() != Some(&0xff) || payload.len() < 3 {
        return None;
    }
    let code = u16::from_le_bytes([payload[1], payload[2]]);
    let rest = &payload[3..];
    let msg = if rest.first() == Some(&b'#') && rest.len() >= 6 {
        &rest[6..]
    } else {
        rest
    };
    Some((code, printable(msg, 200)))
}

/// What an error packet in place of the greeting means.
pub fn classify_err(code: u16, msg: &str) -> Outcome {
    let (reason, what) = match code {
        1040 => (Reason::TooManyConnections, "server up, but full"),
        1129 => (
            Reason::Blocked,
            "server up, but it blocks this host after too many connection errors (FLUSH HOSTS / mariadb-admin flush-hosts)",
        ),
        1053 => (Reason::StartingUp, "server up, shutting down"),
        1130 => (
            Reason::Refused,
            "server up, but it does not let this host connect",
        ),
        _ => (Reason::Refused, "server up, but it refused the connection"),
    };
    (reason, format!("{what}: ERROR {code}: {msg}"), None)
}

/// The parts of a protocol-10 greeting the probe uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub version: String,
    pub capabilities: u32,
    pub charset: u8,
}

/// Parses an initial handshake (protocol 10); `Err` says what is wrong with it.
pub fn parse_greeting(payload: &[u8]) -> Result<Greeting, String> {
    match payload.first() {
        Some(10) => {}
        Some(v) => return Err(format!("handshake protocol version {v}, expected 10")),
        None => return Err("empty handshake".into()),
    }
    let rest = &payload[1..];
    let nul = rest
        .iter()
        .take(256)
        .position(|&b| b == 0)
        .ok_or("handshake without a terminated server version")?;
    let mut version = printable(&rest[..nul], 100);
    // MariaDB prefixes its version with "5.5.5-" for old replication clients.
    if version.starts_with("5.5.5-") && version.contains("MariaDB") {
        version.drain(..6);
    }
    if version.is_empty() {
        return Err("handshake with an empty server version".into());
    }
    // thread id (4), auth data part 1 (8), filler (1), capabilities low (2)
    let after = &rest[nul + 1..];
    if after.len() < 15 {
        return Err("handshake too short".into());
    }
    let mut caps = u16::from_le_bytes([after[13], after[14]]) as u32;
    let mut charset = 0x21;
    if after.len() >= 20 {
        charset = after[15];
        caps |= (u16::from_le_bytes([after[18], after[19]]) as u32) << 16;
    }
    Ok(Greeting {
        version,
        capabilities: caps,
        charset,
    })
}

/// HandshakeResponse41 for [`USER`] with an empty password, using only what the server offers.
pub fn handshake_response(g: &Greeting, seq: u8) -> Vec<u8> {
    let caps =
        (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)
            & g.capabilities;
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(16u32 * 1024 * 1024).to_le_bytes());
    p.push(g.charset);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(USER.as_bytes());
    p.push(0);
    if caps & CLIENT_SECURE_CONNECTION != 0 {
        p.push(0); // empty auth response
    } else {
        p.push(0); // empty NUL-terminated auth response
    }
    if caps & CLIENT_PLUGIN_AUTH != 0 {
        p.extend_from_slice(b"mysql_native_password\0");
    }
    packet(seq, &p)
}

/// One exchange on an open connection. Generic over the stream so the parser can be fed any
/// bytes.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, deadline: Instant) -> Outcome {
    let (seq, payload) = match read_packet(s, deadline).await {
        Ok(p) => p,
        Err(ReadErr::Timeout) => {
            return (
                Reason::Timeout,
                "port open, but no MySQL handshake before the timeout".into(),
                None,
            )
        }
        Err(ReadErr::Closed { got: 0, .. }) => {
            return (
                Reason::ProtocolError,
                "the server closed the connection without a handshake".into(),
                None,
            )
        }
        Err(ReadErr::Closed { got, .. }) => {
            return (
                Reason::ProtocolError,
                format!(
                    "the server closed the connection in the middle of its handshake ({got} bytes)"
                ),
                None,
            )
        }
        Err(ReadErr::Io(e)) => {
            return (
                Reason::ProtocolError,
                format!("connection failed before the handshake: {e}"),
                None,
            )
        }
        Err(ReadErr::Bad(m)) => return (Reason::ProtocolError, m, None),
    };
    if payload[0] == 0xff {
        return match parse_err(&payload) {
            Some((code, msg)) => classify_err(code, &msg),
            None => (Reason::ProtocolError, "error packet too short".into(), None),
        };
    }
    let g = match parse_greeting(&payload) {
        Ok(g) => g,
        Err(e) => return (Reason::ProtocolError, e, None),
    };
    let goodbye_deadline = deadline.min(Instant::now() + GOODBYE_BUDGET);
    let how = goodbye(s, &g, seq, goodbye_deadline).await;
    (
        Reason::Ok,
        format!("server sent its handshake; {how}"),
        Some(g.version),
    )
}

/// Finishes the handshake without a password so the server counts no handshake error; returns
/// what happened, for the detail.
async fn goodbye<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    g: &Greeting,
    seq: u8,
    deadline: Instant,
) -> String {
    if g.capabilities & CLIENT_PROTOCOL_41 == 0 {
        let _ = s.shutdown().await;
        return "pre-4.1 server, closed without login".into();
    }
    let mut seq = seq.wrapping_add(1);
    if s.write_all(&handshake_response(g, seq)).await.is_err() {
        return "connection closed after the handshake".into();
    }
    for _ in 0..MAX_AUTH_ROUNDS {
        let (rseq, p) = match read_packet(s, deadline).await {
            Ok(p) => p,
            Err(_) => break,
        };
        seq = rseq.wrapping_add(1);
        match p[0] {
            0x00 => {
                let _ = s.write_all(&packet(0, &[0x01])).await; // COM_QUIT
                let _ = s.shutdown().await;
                return format!("account {USER} exists without a password: logged in and quit");
            }
            0xff => {
                let _ = s.shutdown().await;
                return match parse_err(&p) {
                    Some((code, msg)) => {
                        format!("no login (ERROR {code} for the probe account, as expected: {msg})")
                    }
                    None => "no login".into(),
                };
            }
            // Auth switch: answer with an empty password too.
            0xfe => {
                if s.write_all(&packet(seq, &[])).await.is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    let _ = s.shutdown().await;
    "no login".into()
}

/// Probes a MySQL/MariaDB target.
pub async fn probe(target: &Target, deadline: Instant) -> Outcome {
    let mut stream = match super::connect(&target.host, target.port).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    exchange(&mut stream, deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testio::{Canned, Lcg};

    async fn feed(reply: &[u8], hang: bool) -> (Outcome, Vec<u8>) {
        let mut s = Canned::new(reply, hang);
        let deadline = Instant::now() + Duration::from_millis(if hang { 50 } else { 2000 });
        let o = exchange(&mut s, deadline).await;
        (o, s.written)
    }

    /// A MariaDB 10.11 greeting, shaped like the real one.
    fn greeting() -> Vec<u8> {
        let mut p = vec![10];
        p.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
        p.extend_from_slice(&7u32.to_le_bytes());
        p.extend_from_slice(b"abcdefgh\0");
        p.extend_from_slice(&0xf7feu16.to_le_bytes());
        p.push(45);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&0x81bfu16.to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&[0x1d, 0, 0, 0]);
        p.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
        packet(0, &p)
    }

    fn err(code: u16, msg: &str, sqlstate: bool) -> Vec<u8> {
        let mut p = vec![0xff];
        p.extend_from_slice(&code.to_le_bytes());
        if sqlstate {
            p.extend_from_slice(b"#HY000");
        }
        p.extend_from_slice(msg.as_bytes());
        packet(0, &p)
    }

    #[tokio::test]
    async fn greeting_is_up_and_the_probe_logs_out_politely() {
        let mut r = greeting();
        r.extend(packet(
            2,
            b"\xff\x15\x04#28000Access denied for user 'cdc_sentinel'@'localhost' (using password: NO)",
        ));
        let (o, w) = feed(&r, false).await;
        assert_eq!(o.0, Reason::Ok, "{o:?}");
        assert_eq!(o.2.as_deref(), Some("10.11.6-MariaDB-0+deb12u1"));
        assert!(o.1.contains("1045"), "{o:?}");
        // One HandshakeResponse41, sequence 1, naming the probe account, no password.
        assert_eq!(w[3], 1);
        assert_eq!(
            w.len(),
            4 + u32::from_le_bytes([w[0], w[1], w[2], 0]) as usize
        );
        let body = &w[4..];
        assert_eq!(&body[32..45], b"cdc_sentinel\0");
        assert_eq!(body[45], 0, "empty auth response");
    }

    #[tokio::test]
    async fn auth_switch_and_ok_are_answered() {
        let mut r = greeting();
        r.extend(packet(
            2,
            b"\xfecaching_sha2_password\0abcdefghijklmnopqrst\0",
        ));
        r.extend(packet(4, &[0, 0, 0, 2, 0, 0, 0]));
        let (o, w) = feed(&r, false).await;
        assert_eq!(o.0, Reason::Ok);
        assert!(o.1.contains("logged in and quit"), "{o:?}");
        // handshake response, empty switch answer (seq 3), COM_QUIT
        assert!(w.ends_with(&[0, 0, 0, 3, 1, 0, 0, 0, 1]), "{w:02x?}");
    }

    #[tokio::test]
    async fn error_packets_instead_of_a_greeting_are_down() {
        for (code, want) in [
            (1040, Reason::TooManyConnections),
            (1129, Reason::Blocked),
            (1130, Reason::Refused),
            (1053, Reason::StartingUp),
        ] {
            for sqlstate in [false, true] {
                let (o, w) = feed(&err(code, "Too many connections", sqlstate), false).await;
                assert_eq!(o.0, want, "{o:?}");
                assert!(
                    o.1.contains(&code.to_string()) && o.1.contains("Too many"),
                    "{o:?}"
                );
                assert!(w.is_empty(), "nothing is sent to a server that refused");
            }
        }
    }

    #[tokio::test]
    async fn truncated_and_garbage_replies_are_protocol_errors() {
        for v in [greeting(), err(1040, "Too many connections", false)] {
            for n in 0..v.len() {
                let (o, _) = feed(&v[..n], false).await;
                assert_eq!(o.0, Reason::ProtocolError, "prefix {n}: {o:?}");
            }
            let (o, _) = feed(&v[..v.len() / 2], true).await;
            assert_eq!(o.0, Reason::Timeout, "{o:?}");
        }
        let mut rng = Lcg(0x5eed_0003);
        for i in 0..1000 {
            let len = (rng.next() % 200) as usize;
            let mut b = rng.bytes(len);
            if i % 2 == 0 && b.len() >= 5 {
                let l = ((b.len() - 4) as u32).to_le_bytes();
                b[..3].copy_from_slice(&l[..3]);
                b[4] = [9, 11, 0xfe, 0x00][i / 2 % 4];
            }
            let (o, _) = feed(&b, false).await;
            assert_eq!(o.0, Reason::ProtocolError, "{b:02x?}: {o:?}");
        }
        let mut big = (MAX_PACKET as u32 + 1).to_le_bytes().to_vec();
        big[3] = 0;
        assert_eq!(feed(&big, false).await.0 .0, Reason::ProtocolError);
    }
}

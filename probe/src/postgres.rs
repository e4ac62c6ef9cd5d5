//! PostgreSQL readiness the way `pg_isready` sees it, without credentials: a StartupMessage for
//! user `cdc_sentinel` (database `postgres`), then the first answer. An authentication request, or an ErrorResponse
//! about the login itself (unknown role or database, no pg_hba entry), means the server accepts
//! connections; SQLSTATE 57P03 (starting up, shutting down, in recovery) means it does not, and
//! 53300 means it is full. The probe closes at the password request (PostgreSQL logs nothing for
//! a client that leaves there) and never sends a password.

use super::wire::{read_full, ReadErr};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{Outcome, Reason};
use crate::target::Target;

/// This protocol's row of the probe table.
pub static PROBER: crate::Prober = crate::Prober {
    protocol: crate::Protocol::Postgres,
    schemes: &["postgres", "postgresql"],
    default_port: Some(5432),
    class_hints: &["postgres"],
    jdbc: &[("jdbc:postgresql://", 5432)],
    run: |target, deadline| Box::pin(probe(target, deadline)),
};

/// The role the StartupMessage names. It needs to exist nowhere.
pub const USER: &str = "cdc_sentinel";
/// The database the StartupMessage names: present in nearly every cluster, so a DBA who lets
/// the probe role in (trust, from the agent's host) gets a clean connect/disconnect.
pub const DATABASE: &str = "postgres";
/// `application_name`, shown in `log_line_prefix` `%a` and pg_stat_activity.
pub const APPLICATION_NAME: &str = "cdc-sentinel";
/// No message larger than this is read.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Messages read before giving up (notices, parameter statuses after a trust login).
const MAX_MESSAGES: usize = 64;

/// The StartupMessage (protocol 3.0) the probe sends.
pub fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608u32.to_be_bytes());
    for (k, v) in [
        ("user", USER),
        ("database", DATABASE),
        ("application_name", APPLICATION_NAME),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&body);
    m
}

/// One backend message: type byte and body (length checked and capped).
async fn read_message<S: AsyncRead + Unpin>(
    s: &mut S,
    deadline: Instant,
) -> Result<(u8, Vec<u8>), ReadErr> {
    let mut h = [0u8; 5];
    read_full(s, &mut h, deadline).await?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(ReadErr::Bad(format!(
            "not a PostgreSQL message (type {:?}, length {len})",
            h[0] as char
        )));
    }
    let mut body = vec![0u8; len - 4];
    match read_full(s, &mut body, deadline).await {
        Err(ReadErr::Closed { got, want }) => Err(ReadErr::Closed {
            got: got + 5,
            want: want + 5,
        }),
        r => r.map(|()| (h[0], body)),
    }
}

fn failure(e: ReadErr) -> Outcome {
    match e {
        ReadErr::Timeout => (
            Reason::Timeout,
            "port open, but no PostgreSQL answer to the startup message before the timeout".into(),
            None,
        ),
        ReadErr::Closed { got: 0, .. } => (
            Reason::ProtocolError,
            "the server closed the connection without answering the startup message".into(),
            None,
        ),
        ReadErr::Closed { got, .. } => (
            Reason::ProtocolError,
            format!("the server closed the connection in the middle of a message ({got} bytes)"),
            None,
        ),
        ReadErr::Io(e) => (
            Reason::ProtocolError,
            format!("connection failed during startup: {e}"),
            None,
        ),
        ReadErr::Bad(m) => (Reason::ProtocolError, m, None),
    }
}

/// The fields of an ErrorResponse/NoticeResponse (code byte, text), bounded by the body.
pub fn error_fields(body: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        out.push((code, printable(&tail[..end], 200)));
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    out
}

fn printable(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

fn auth_name(code: u32) -> &'static str {
    match code {
        2 => "Kerberos V5",
        3 => "a cleartext password",
        5 => "an MD5 password",
        7 => "GSSAPI",
        9 => "SSPI",
        10 => "SASL (SCRAM)",
        _ => "authentication",
    }
}

/// Classifies an ErrorResponse like libpq's `PQping` (what `pg_isready` prints), except that a
/// full server (53300) counts as down: the connector could not connect either.
pub fn classify_error(body: &[u8]) -> Outcome {
    let fields = error_fields(body);
    let get = |c: u8| {
        fields
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v.as_str())
    };
    let message = get(b'M').unwrap_or("");
    let severity = get(b'V').or_else(|| get(b'S')).unwrap_or("ERROR");
    let Some(code) = get(b'C').filter(|c| c.len() == 5) else {
        return (
            Reason::ProtocolError,
            format!("ErrorResponse without a SQLSTATE: {message:?}"),
            None,
        );
    };
    match code {
        "57P03" => (
            Reason::StartingUp,
            format!("server up, not accepting connections: {message} (SQLSTATE 57P03)"),
            None,
        ),
        "53300" => (
            Reason::TooManyConnections,
            format!("server up, but full: {message} (SQLSTATE 53300)"),
            None,
        ),
        _ => (
            Reason::Ok,
            format!("server accepting connections; it turned the probe's login away as expected: {severity}: {message} (SQLSTATE {code})"),
            None,
        ),
    }
}

/// One startup exchange on an open connection. Generic over the stream so the parser can be fed
/// any bytes.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, deadline: Instant) -> Outcome {
    if let Err(e) = s.write_all(&startup_message()).await {
        return (
            Reason::ProtocolError,
            format!("could not send the startup message: {e}"),
            None,
        );
    }
    for _ in 0..MAX_MESSAGES {
        let (t, body) = match read_message(s, deadline).await {
            Ok(m) => m,
            Err(e) => return failure(e),
        };
        match t {
            b'R' => {
                let Some(code) = body
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                else {
                    return (
                        Reason::ProtocolError,
                        "authentication request too short".into(),
                        None,
                    );
                };
                if code == 0 {
                    return trusted_login(s, deadline).await;
                }
                // Leaving at the password prompt: PostgreSQL exits that backend silently.
                let _ = s.shutdown().await;
                return (
                    Reason::Ok,
                    format!(
                        "server accepting connections: it asks for {}; no password sent",
                        auth_name(code)
                    ),
                    None,
                );
            }
            b'E' => return classify_error(&body),
            // Notices and a protocol-version negotiation may precede the answer.
            b'N' | b'v' => continue,
            other => {
                return (
                    Reason::ProtocolError,
                    format!(
                        "unexpected message {:?} (0x{other:02x}) in answer to the startup message",
                        other as char
                    ),
                    None,
                )
            }
        }
    }
    (
        Reason::ProtocolError,
        format!("more than {MAX_MESSAGES} messages without an answer"),
        None,
    )
}

/// `trust` authentication let the probe in: read the server version from the parameter
/// statuses, then say goodbye with Terminate so the session ends cleanly.
async fn trusted_login<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, deadline: Instant) -> Outcome {
    let mut version = None;
    for _ in 0..MAX_MESSAGES {
        match read_message(s, deadline).await {
            Ok((b'S', body)) => {
                let mut parts = body.split(|&b| b == 0);
                if parts.next() == Some(b"server_version") {
                    version = parts.next().map(|v| printable(v, 64));
                }
            }
            Ok((b'Z', _)) | Err(_) => break,
            Ok((b'E', body)) => {
                // e.g. "database does not exist" after a trust login: still up.
                let (reason, detail, _) = classify_error(&body);
                return (reason, detail, version);
            }
            Ok(_) => {}
        }
    }
    let _ = s.write_all(&[b'X', 0, 0, 0, 4]).await;
    let _ = s.shutdown().await;
    (
        Reason::Ok,
        format!("server accepting connections: trust authentication let the probe's role {USER} in; it quit at once"),
        version,
    )
}

/// Probes a PostgreSQL target.
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
    use std::time::Duration;

    async fn feed(reply: &[u8], hang: bool) -> (Outcome, Vec<u8>) {
        let mut s = Canned::new(reply, hang);
        let deadline = Instant::now() + Duration::from_millis(if hang { 50 } else { 2000 });
        let o = exchange(&mut s, deadline).await;
        (o, s.written)
    }

    fn msg(t: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![t];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn error(code: &str, text: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for (k, v) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', text)] {
            b.push(k);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        msg(b'E', &b)
    }

    #[test]
    fn startup_message_names_the_probe() {
        let m = startup_message();
        assert_eq!(
            u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(&m[4..8], &[0, 3, 0, 0]);
        let text = String::from_utf8_lossy(&m[8..]);
        assert!(text.contains(
            "user\0cdc_sentinel\0database\0postgres\0application_name\0cdc-sentinel\0\0"
        ));
        assert!(!text.contains("password"));
    }

    #[tokio::test]
    async fn answers_are_classified_like_pg_isready() {
        let sasl = msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
        let (o, w) = feed(&sasl, false).await;
        assert_eq!(o.0, Reason::Ok, "{o:?}");
        assert!(o.1.contains("SCRAM"));
        assert_eq!(
            w,
            startup_message(),
            "nothing but the startup message is sent"
        );

        let cases = [
            (
                "57P03",
                "the database system is shutting down",
                Reason::StartingUp,
            ),
            (
                "57P03",
                "the database system is starting up",
                Reason::StartingUp,
            ),
            (
                "53300",
                "sorry, too many clients already",
                Reason::TooManyConnections,
            ),
            ("28000", "role \"cdc_sentinel\" does not exist", Reason::Ok),
            (
                "3D000",
                "database \"cdc_sentinel\" does not exist",
                Reason::Ok,
            ),
            ("28000", "no pg_hba.conf entry for host", Reason::Ok),
        ];
        for (code, text, want) in cases {
            let (o, _) = feed(&error(code, text), false).await;
            assert_eq!(o.0, want, "{code}: {o:?}");
            assert!(o.1.contains(text) && o.1.contains(code), "{o:?}");
        }
        // A notice first is fine.
        let mut r = msg(b'N', b"SWARNING\0Mhello\0\0");
        r.extend(error("57P03", "the database system is in recovery mode"));
        assert_eq!(feed(&r, false).await.0 .0, Reason::StartingUp);
    }

    #[tokio::test]
    async fn trust_login_reads_the_version_and_terminates() {
        let mut r = msg(b'R', &[0, 0, 0, 0]);
        r.extend(msg(
            b'S',
            b"server_version\x0015.8 (Debian 15.8-0+deb12u1)\0",
        ));
        r.extend(msg(b'K', &[0; 8]));
        r.extend(msg(b'Z', b"I"));
        let (o, w) = feed(&r, false).await;
        assert_eq!(o.0, Reason::Ok);
        assert_eq!(o.2.as_deref(), Some("15.8 (Debian 15.8-0+deb12u1)"));
        assert!(
            w.ends_with(&[b'X', 0, 0, 0, 4]),
            "ends the session with Terminate"
        );
    }

    #[tokio::test]
    async fn truncated_and_garbage_replies_are_protocol_errors() {
        let valid = [
            msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0"),
            error("57P03", "the database system is starting up"),
            msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]),
        ];
        for v in &valid {
            for n in 0..v.len() {
                let (o, _) = feed(&v[..n], false).await;
                assert_eq!(o.0, Reason::ProtocolError, "prefix {n}: {o:?}");
            }
            let (o, _) = feed(&v[..v.len() / 2], true).await;
            assert_eq!(o.0, Reason::Timeout, "{o:?}");
        }
        let mut rng = Lcg(0x5eed_0002);
        for i in 0..1000 {
            let len = (rng.next() % 200) as usize;
            let mut b = rng.bytes(len);
            if i % 2 == 0 && b.len() >= 5 {
                // a plausible header around a random body
                let l = (b.len() - 1) as u32;
                b[1..5].copy_from_slice(&l.to_be_bytes());
                b[0] = [b'E', b'N', b'v', b'S', b'Z'][i / 2 % 5];
            }
            let (o, _) = feed(&b, false).await;
            assert!(
                matches!(o.0, Reason::ProtocolError) || b[0] == b'E',
                "{b:02x?}: {o:?}"
            );
        }
        // An oversized length is refused before any allocation.
        let mut big = vec![b'E'];
        big.extend_from_slice(&(u32::MAX).to_be_bytes());
        assert_eq!(feed(&big, false).await.0 .0, Reason::ProtocolError);
    }
}

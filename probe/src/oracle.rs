//! Oracle readiness without an Oracle client: a TNS CONNECT for the connector's service (or SID),
//! classified by the listener's answer. ACCEPT means the service is registered with a ready
//! handler; the probe then sends an NS EOF and closes, so no login, no session, no logon audit
//! record. REFUSE carries the listener's error number (ORA-12514, 12528, ...). RESEND and both
//! REDIRECT forms are followed, a bounded number of times. The probe never sends `(UR=A)`, which
//! would let it through to BLOCKED/RESTRICTED instances. Wire facts: docs/probes.md and
//! tests/tns/VECTORS.txt.

use super::wire::{read_full, ReadErr};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{Outcome, Reason};
use crate::target::{OracleId, Target};

/// This protocol's row of the probe table.
pub static PROBER: crate::Prober = crate::Prober {
    protocol: crate::Protocol::Oracle,
    schemes: &["oracle"],
    default_port: Some(1521),
    class_hints: &["oracle"],
    jdbc: &[],
    run: |target, deadline| Box::pin(probe(target, deadline)),
};

/// The `PROGRAM` the probe puts in its CID, so DBAs can find its lines in listener.log.
pub const PROGRAM: &str = "cdc-sentinel";
/// No reply packet larger than this is read (the 2-byte TNS length caps it anyway).
pub const MAX_PACKET: usize = 64 * 1024;
/// Connect data longer than this travels in a DATA packet after the CONNECT.
pub const MAX_INLINE_CONNECT_DATA: usize = 230;
/// Redirects followed before giving up (a SCAN listener redirects once).
pub const MAX_REDIRECTS: u32 = 3;
/// RESENDs honoured on one connection.
pub const MAX_RESENDS: u32 = 3;

pub const TNS_CONNECT: u8 = 1;
pub const TNS_ACCEPT: u8 = 2;
pub const TNS_REFUSE: u8 = 4;
pub const TNS_REDIRECT: u8 = 5;
pub const TNS_DATA: u8 = 6;
pub const TNS_RESEND: u8 = 11;
pub const TNS_MARKER: u8 = 12;
pub const TNS_CONTROL: u8 = 14;

/// Header flag a client sets on the CONNECT it sends after a REDIRECT.
pub const FLAG_REDIRECTED: u8 = 0x04;
/// TNS protocol version we announce (what current thin clients send) and the lowest we accept.
const VERSION: u16 = 319;
const LOWEST_VERSION: u16 = 300;
/// Offset of the inline connect data in our CONNECT.
const CONNECT_DATA_OFFSET: u16 = 74;
const SDU: u16 = 8192;

/// Whether a service name or SID can travel inside a TNS descriptor unchanged.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-$#".contains(&b))
}

/// Keeps only characters that cannot break a descriptor (CID values are informational).
fn sanitize(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-:".contains(*c))
        .take(max)
        .collect();
    if v.is_empty() {
        "unknown".into()
    } else {
        v
    }
}

/// This machine's name and user for the CID (informational; never fails).
fn client_identity() -> (String, String) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| PROGRAM.into());
    (sanitize(host.trim(), 64), sanitize(&user, 32))
}

/// The connect descriptor the probe sends for `id` at `host:port`.
pub fn descriptor(id: &OracleId, host: &str, port: u16) -> String {
    let (client_host, user) = client_identity();
    let what = match id {
        OracleId::Service(s) => format!("(SERVICE_NAME={s})"),
        OracleId::Sid(s) => format!("(SID={s})"),
    };
    format!(
        "(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST={})(PORT={port}))(CONNECT_DATA={what}(CID=(PROGRAM={PROGRAM})(HOST={client_host})(USER={user}))))",
        sanitize(host, 255)
    )
}

/// The bytes of a CONNECT for `descriptor`, followed by a DATA packet carrying the descriptor
/// when it is longer than 230 bytes. `redirected` sets header flag 0x04.
pub fn connect_packets(descriptor: &str, redirected: bool) -> Vec<u8> {
    let data = descriptor.as_bytes();
    let inline = data.len() <= MAX_INLINE_CONNECT_DATA;
    let total = CONNECT_DATA_OFFSET as usize + if inline { data.len() } else { 0 };
    let mut p = Vec::with_capacity(total + data.len() + 10);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, TNS_CONNECT]);
    p.push(if redirected { FLAG_REDIRECTED } else { 0 });
    p.extend_from_slice(&[0, 0]);
    for v in [
        VERSION,
        LOWEST_VERSION,
        0x0401, // service options: don't care, can receive attention
        SDU,
        SDU, // TDU
        0x4f98,
        0, // line turnaround
        1, // value of one
        data.len() as u16,
        CONNECT_DATA_OFFSET,
    ] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p.extend_from_slice(&[0; 4]); // max receivable connect data
    p.extend_from_slice(&[0x84, 0x84]); // NSI flags: no native network authentication
    p.extend_from_slice(&[0; 24]);
    p.extend_from_slice(&(SDU as u32).to_be_bytes());
    p.extend_from_slice(&(SDU as u32).to_be_bytes());
    p.extend_from_slice(&[0; 4]); // no compression
    p.extend_from_slice(&1u32.to_be_bytes()); // flags2
    debug_assert_eq!(p.len(), CONNECT_DATA_OFFSET as usize);
    if inline {
        p.extend_from_slice(data);
    } else {
        let len = (10 + data.len()) as u16;
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[0, 0, TNS_DATA, 0, 0, 0, 0, 0]);
        p.extend_from_slice(data);
    }
    p
}

/// The NS DATA packet with the EOF flag that closes a connection politely after ACCEPT.
pub fn eof_packet(accept_version: u16) -> [u8; 10] {
    if accept_version >= 315 {
        [0, 0, 0, 10, TNS_DATA, 0, 0, 0, 0, 0x40]
    } else {
        [0, 10, 0, 0, TNS_DATA, 0, 0, 0, 0, 0x40]
    }
}

/// What one connection to a listener ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Done(Outcome),
    /// Connect again to `host:port`, sending `descriptor` if the listener gave one.
    Redirect {
        host: String,
        port: u16,
        descriptor: Option<String>,
    },
}

fn protocol_error(detail: impl Into<String>) -> Step {
    Step::Done((Reason::ProtocolError, detail.into(), None))
}

/// Reads one packet in pre-ACCEPT framing (2-byte length). Returns the whole packet.
async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    deadline: Instant,
) -> Result<Vec<u8>, ReadErr> {
    let mut header = [0u8; 8];
    read_full(s, &mut header, deadline).await?;
    let len = u16::from_be_bytes([header[0], header[1]]) as usize;
    if len < 8 {
        return Err(ReadErr::Bad(format!(
            "not a TNS packet (header {:02x?} announces {len} bytes)",
            &header
        )));
    }
    if !matches!(
        header[4],
        TNS_CONNECT
            | TNS_ACCEPT
            | TNS_REFUSE
            | TNS_REDIRECT
            | TNS_DATA
            | TNS_RESEND
            | TNS_MARKER
            | TNS_CONTROL
    ) {
        // Don't wait for the body of something that is not TNS (an HTTP server, say).
        return Err(ReadErr::Bad(format!(
            "not a TNS packet (header {:02x?}, unknown type {})",
            &header, header[4]
        )));
    }
    if len > MAX_PACKET {
        return Err(ReadErr::Bad(format!(
            "TNS packet of {len} bytes exceeds the 64 KiB cap"
        )));
    }
    let mut p = vec![0u8; len];
    p[..8].copy_from_slice(&header);
    match read_full(s, &mut p[8..], deadline).await {
        Err(ReadErr::Closed { got, want }) => Err(ReadErr::Closed {
            got: got + 8,
            want: want + 8,
        }),
        r => r.map(|()| p),
    }
}

fn read_failure(e: ReadErr, while_: &str) -> Step {
    match e {
        ReadErr::Timeout => Step::Done((
            Reason::Timeout,
            format!("port open, but no TNS answer {while_} before the timeout (hung listener, or not a listener)"),
            None,
        )),
        ReadErr::Closed { got: 0, .. } => protocol_error(format!(
            "the peer closed the connection without a TNS answer {while_} (not a listener, or a firewall)"
        )),
        ReadErr::Closed { got, want } => protocol_error(format!(
            "the peer closed the connection in the middle of a TNS packet {while_} ({got} of {want} bytes)"
        )),
        ReadErr::Io(e) => protocol_error(format!("connection failed {while_}: {e}")),
        ReadErr::Bad(m) => protocol_error(format!("{m} {while_}")),
    }
}

fn packet_name(t: u8) -> &'static str {
    match t {
        TNS_CONNECT => "CONNECT",
        TNS_ACCEPT => "ACCEPT",
        TNS_REFUSE => "REFUSE",
        TNS_REDIRECT => "REDIRECT",
        TNS_DATA => "DATA",
        TNS_RESEND => "RESEND",
        TNS_MARKER => "MARKER",
        TNS_CONTROL => "CONTROL",
        _ => "unknown",
    }
}

fn what(id: &OracleId) -> String {
    match id {
        OracleId::Service(s) => format!("service {s}"),
        OracleId::Sid(s) => format!("SID {s}"),
    }
}

/// One CONNECT exchange on an open connection: sends `packets` (from [`connect_packets`]) and
/// classifies the answer. Generic over the stream so the parsers can be fed any bytes.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    packets: &[u8],
    id: &OracleId,
    deadline: Instant,
) -> Step {
    if let Err(e) = s.write_all(packets).await {
        return protocol_error(format!("could not send the TNS CONNECT: {e}"));
    }
    let mut resends = 0;
    loop {
        let p = match read_packet(s, deadline).await {
            Ok(p) => p,
            Err(e) => return read_failure(e, "to the CONNECT"),
        };
        match p[4] {
            TNS_ACCEPT => return accepted(s, &p, id).await,
            TNS_REFUSE => return refused(s, &p, id, deadline).await,
            TNS_REDIRECT => return redirected(s, &p, deadline).await,
            TNS_RESEND => {
                resends += 1;
                if resends > MAX_RESENDS {
                    return protocol_error(format!(
                        "the listener asked for the CONNECT again more than {MAX_RESENDS} times"
                    ));
                }
                if let Err(e) = s.write_all(packets).await {
                    return protocol_error(format!("could not resend the TNS CONNECT: {e}"));
                }
            }
            t => {
                return protocol_error(format!(
                    "unexpected TNS packet type {t} ({}) in answer to CONNECT",
                    packet_name(t)
                ))
            }
        }
    }
}

async fn accepted<S: AsyncWrite + Unpin>(s: &mut S, p: &[u8], id: &OracleId) -> Step {
    if p.len() < 24 {
        return protocol_error(format!("ACCEPT packet too short ({} bytes)", p.len()));
    }
    let version = u16::from_be_bytes([p[8], p[9]]);
    if !(LOWEST_VERSION..=0x1ff).contains(&version) {
        return protocol_error(format!("ACCEPT with an implausible TNS version {version}"));
    }
    // No login: close at the NS layer so the server process ends at once.
    let _ = s.write_all(&eof_packet(version)).await;
    let _ = s.shutdown().await;
    Step::Done((
        Reason::Ok,
        format!(
            "listener handed the connection for {} to a server process (ACCEPT, TNS {version}); no login attempted",
            what(id)
        ),
        None,
    ))
}

/// `(KEY=value)` in a descriptor, case-insensitive key, value trimmed.
pub fn tns_value(text: &str, key: &str) -> Option<String> {
    let upper = text.to_ascii_uppercase();
    let pat = format!("({}=", key.to_ascii_uppercase());
    let start = upper.find(&pat)? + pat.len();
    let rest = &text[start..];
    let end = rest.find(')')?;
    Some(rest[..end].trim().to_string())
}

fn number_after(text: &str, key: &str) -> Option<u32> {
    let upper = text.to_ascii_uppercase();
    let i = upper.find(key)? + key.len();
    let digits: String = upper[i..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(9)
        .collect();
    digits.parse().ok()
}

/// Decodes a listener `VSNNUM` (318767104 -> 19.0.0.0.0).
pub fn decode_vsnnum(v: u32) -> String {
    format!(
        "{}.{}.{}.{}.{}",
        v >> 24,
        (v >> 20) & 0xf,
        (v >> 12) & 0xff,
        (v >> 8) & 0xf,
        v & 0xff
    )
}

fn printable(b: &[u8], max: usize) -> String {
    b.iter()
        .take(max)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

/// What a listener error number means for recovery, with words for the log.
pub fn classify_refusal(code: u32, id: &OracleId) -> (Reason, String) {
    let w = what(id);
    match code {
        12514 | 12505 | 12521 => (
            Reason::ServiceUnknown,
            format!("listener up, {w} not registered (ORA-{code}): instance down, or not yet registered after a restart"),
        ),
        12528 => (
            Reason::Blocked,
            format!("listener up, every instance of {w} is BLOCKED (ORA-12528): NOMOUNT, or just starting"),
        ),
        12526 | 12527 => (
            Reason::Restricted,
            format!("listener up, {w} is in restricted mode or shutting down (ORA-{code})"),
        ),
        12500 | 12510 | 12511 | 12516 | 12518 | 12519 | 12520 => (
            Reason::NoHandler,
            format!("listener up, no handler can take a connection for {w} (ORA-{code}): processes/sessions exhausted or the handler is not accepting"),
        ),
        12530 => (
            Reason::TooManyConnections,
            "listener up, its connection rate limit was reached (ORA-12530)".into(),
        ),
        0 => (
            Reason::ProtocolError,
            "the listener answered with ERR=0 as to a ping instead of connecting: that proves the listener only".into(),
        ),
        n => (
            Reason::Refused,
            format!("listener up, it refused the connection for {w} (ORA-{n})"),
        ),
    }
}

async fn refused<S: AsyncRead + Unpin>(
    s: &mut S,
    p: &[u8],
    id: &OracleId,
    deadline: Instant,
) -> Step {
    if p.len() < 12 {
        return protocol_error(format!("REFUSE packet too short ({} bytes)", p.len()));
    }
    let text_len = u16::from_be_bytes([p[10], p[11]]) as usize;
    let mut text = p[12..p.len().min(12 + text_len)].to_vec();
    if text.is_empty() && text_len > 0 {
        // The text follows in a DATA packet (2 data-flag bytes, then the text).
        match read_packet(s, deadline).await {
            Ok(d) if d[4] == TNS_DATA && d.len() >= 10 => text = d[10..].to_vec(),
            Ok(d) => {
                return protocol_error(format!(
                    "REFUSE followed by a {} packet instead of its text",
                    packet_name(d[4])
                ))
            }
            Err(e) => return read_failure(e, "in the REFUSE text"),
        }
    }
    let text = String::from_utf8_lossy(&text);
    let version = number_after(&text, "(VSNNUM=").map(decode_vsnnum);
    let code = number_after(&text, "(ERR=").or_else(|| number_after(&text, "CODE="));
    match code {
        Some(code) => {
            let (reason, detail) = classify_refusal(code, id);
            Step::Done((reason, detail, version))
        }
        None => Step::Done((
            Reason::ProtocolError,
            format!(
                "the listener refused without an error number: {:?}",
                printable(text.as_bytes(), 160)
            ),
            version,
        )),
    }
}

async fn redirected<S: AsyncRead + Unpin>(s: &mut S, p: &[u8], deadline: Instant) -> Step {
    if p.len() < 10 {
        return protocol_error(format!("REDIRECT packet too short ({} bytes)", p.len()));
    }
    let data_len = u16::from_be_bytes([p[8], p[9]]) as usize;
    let data = if p.len() > 10 {
        p[10..p.len().min(10 + data_len)].to_vec()
    } else {
        // Split form: the address follows in a DATA packet.
        match read_packet(s, deadline).await {
            Ok(d) if d[4] == TNS_DATA && d.len() >= 10 => {
                d[10..d.len().min(10 + data_len)].to_vec()
            }
            Ok(d) => {
                return protocol_error(format!(
                    "REDIRECT followed by a {} packet instead of its address",
                    packet_name(d[4])
                ))
            }
            Err(e) => return read_failure(e, "in the REDIRECT address"),
        }
    };
    let text = String::from_utf8_lossy(&data).into_owned();
    let (address, new_descriptor) = match text.split_once('\0') {
        Some((a, d)) => (a.to_string(), Some(d.trim_end_matches('\0').to_string())),
        None => (text.clone(), None),
    };
    let protocol = tns_value(&address, "PROTOCOL").unwrap_or_else(|| "tcp".into());
    if !protocol.eq_ignore_ascii_case("tcp") {
        return protocol_error(format!(
            "redirected to a {} address, which the probe cannot follow",
            printable(protocol.as_bytes(), 16)
        ));
    }
    let host = tns_value(&address, "HOST").filter(|h| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:_".contains(&b))
    });
    let port = tns_value(&address, "PORT")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0);
    let (Some(host), Some(port)) = (host, port) else {
        return protocol_error(format!(
            "REDIRECT without a usable HOST and PORT: {:?}",
            printable(address.as_bytes(), 160)
        ));
    };
    let descriptor = new_descriptor
        .filter(|d| d.starts_with('('))
        .map(|d| strip_ur_any(&d));
    Step::Redirect {
        host,
        port,
        descriptor,
    }
}

/// Removes `(UR=A)` from a descriptor a listener redirected us with: the probe must not get
/// through to BLOCKED or RESTRICTED instances.
fn strip_ur_any(d: &str) -> String {
    let mut out = d.to_string();
    loop {
        let upper = out.to_ascii_uppercase();
        let Some(i) = upper.find("(UR=") else {
            return out;
        };
        let Some(end) = upper[i..].find(')') else {
            return out;
        };
        out.replace_range(i..i + end + 1, "");
    }
}

/// Probes an Oracle target: connects, follows redirects (bounded), classifies.
pub async fn probe(target: &Target, deadline: Instant) -> Outcome {
    let Some(id) = &target.oracle else {
        return (
            Reason::ProtocolError,
            "no service name or SID to ask the listener for (oracle://HOST:PORT/SERVICE or oracle://HOST:PORT?sid=SID)".into(),
            None,
        );
    };
    let (OracleId::Service(name) | OracleId::Sid(name)) = id;
    if !valid_name(name) {
        return (
            Reason::ProtocolError,
            format!(
                "{:?} cannot be sent as a service name or SID (letters, digits, . _ - $ # only)",
                printable(name.as_bytes(), 64)
            ),
            None,
        );
    }
    let mut host = target.host.clone();
    let mut port = target.port;
    let mut desc = descriptor(id, &host, port);
    let mut hops = 0;
    loop {
        let mut stream = match super::connect(&host, port).await {
            Ok(s) => s,
            Err((reason, detail, v)) if hops > 0 => {
                return (reason, format!("redirected to {host}:{port}: {detail}"), v)
            }
            Err(e) => return e,
        };
        let packets = connect_packets(&desc, hops > 0);
        match exchange(&mut stream, &packets, id, deadline).await {
            Step::Done((reason, detail, v)) if hops > 0 => {
                return (
                    reason,
                    format!("{detail} (after a redirect to {host}:{port})"),
                    v,
                )
            }
            Step::Done(o) => return o,
            Step::Redirect {
                host: h,
                port: p,
                descriptor: d,
            } => {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return (
                        Reason::ProtocolError,
                        format!("more than {MAX_REDIRECTS} redirects (last to {h}:{p})"),
                        None,
                    );
                }
                host = h;
                port = p;
                if let Some(d) = d {
                    desc = d;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    /// Runs one exchange against `reply` (then EOF, or silence when `hang`).
    async fn feed(reply: &[u8], hang: bool) -> Step {
        let mut stream = crate::testio::Canned::new(reply, hang);
        let id = OracleId::Service("ORCLPDB1".into());
        let deadline = Instant::now() + Duration::from_millis(if hang { 50 } else { 2000 });
        exchange(
            &mut stream,
            &connect_packets(&descriptor(&id, "db", 1521), false),
            &id,
            deadline,
        )
        .await
    }

    fn reason(s: &Step) -> Option<Reason> {
        match s {
            Step::Done((r, _, _)) => Some(*r),
            Step::Redirect { .. } => None,
        }
    }

    const REFUSE_12514: &str = "00 67 00 00 04 00 00 00 22 00 00 5b 28 44 45 53 43 52 49 50 54 49 4f 4e 3d 28 54 4d 50 3d 29 28 56 53 4e 4e 55 4d 3d 33 31 38 37 36 37 31 30 34 29 28 45 52 52 3d 31 32 35 31 34 29 28 45 52 52 4f 52 5f 53 54 41 43 4b 3d 28 45 52 52 4f 52 3d 28 43 4f 44 45 3d 31 32 35 31 34 29 28 45 4d 46 49 3d 34 29 29 29 29";
    const ACCEPT_319: &str = "00 2d 00 00 02 00 00 00 01 3f 08 01 20 00 ff ff 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 20 00 00 00 ff ff 00 00 00 00 00";
    const REDIRECT_SPLIT: &str = "00 0a 00 00 05 00 00 00 00 95 00 9f 00 00 06 00 00 00 00 00 28 41 44 44 52 45 53 53 3d 28 50 52 4f 54 4f 43 4f 4c 3d 74 63 70 29 28 48 4f 53 54 3d 31 30 2e 30 2e 30 2e 35 29 28 50 4f 52 54 3d 31 35 32 31 29 29 00 28 44 45 53 43 52 49 50 54 49 4f 4e 3d 28 41 44 44 52 45 53 53 3d 28 50 52 4f 54 4f 43 4f 4c 3d 74 63 70 29 28 48 4f 53 54 3d 31 30 2e 30 2e 30 2e 35 29 28 50 4f 52 54 3d 31 35 32 31 29 29 28 43 4f 4e 4e 45 43 54 5f 44 41 54 41 3d 28 53 45 52 56 49 43 45 5f 4e 41 4d 45 3d 4f 52 43 4c 29 29 29";

    #[test]
    fn connect_matches_the_thin_client_layout() {
        // python-oracledb 26.1 CONNECT header fields (tests/tns/VECTORS.txt), bytes 8..74
        // except the connect-data length at 24-25.
        let thin = hex("00 4a 00 00 01 00 00 00 01 3f 01 2c 04 01 20 00 20 00 4f 98 00 00 00 01 00 e9 00 4a 00 00 00 00 84 84 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 20 00 00 00 20 00 00 00 00 00 00 00 00 01");
        let d = descriptor(&OracleId::Service("ORCLPDB1".into()), "db", 1521);
        let ours = connect_packets(&d, false);
        assert_eq!(&ours[8..24], &thin[8..24]);
        assert_eq!(&ours[26..74], &thin[26..74]);
        assert!(d.contains("(PROGRAM=cdc-sentinel)") && !d.to_uppercase().contains("UR="));
    }

    #[test]
    fn long_connect_data_goes_in_a_data_packet() {
        let svc = "S".repeat(200);
        let d = descriptor(&OracleId::Service(svc), "db.example", 1521);
        assert!(d.len() > MAX_INLINE_CONNECT_DATA);
        let p = connect_packets(&d, true);
        assert_eq!(u16::from_be_bytes([p[0], p[1]]), 74);
        assert_eq!(p[5], FLAG_REDIRECTED);
        assert_eq!(u16::from_be_bytes([p[24], p[25]]) as usize, d.len());
        assert_eq!(p[74 + 4], TNS_DATA);
        assert_eq!(&p[84..], d.as_bytes());
        let short = connect_packets("(DESCRIPTION=)", false);
        assert_eq!(short.len(), 74 + 14);
    }

    #[test]
    fn vsnnum_decodes_to_the_listener_version() {
        assert_eq!(decode_vsnnum(318767104), "19.0.0.0.0");
        assert_eq!(decode_vsnnum(0x0C20_0000), "12.2.0.0.0");
    }

    #[test]
    fn ur_a_is_never_forwarded() {
        assert_eq!(
            strip_ur_any("(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=X)(ur=A)))"),
            "(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=X)))"
        );
    }

    #[tokio::test]
    async fn classifies_the_vector_replies() {
        let s = feed(&hex(REFUSE_12514), false).await;
        let Step::Done((r, d, v)) = s else { panic!() };
        assert_eq!(r, Reason::ServiceUnknown);
        assert!(d.contains("ORCLPDB1") && d.contains("ORA-12514"), "{d}");
        assert_eq!(v.as_deref(), Some("19.0.0.0.0"));
        assert_eq!(
            reason(&feed(&hex(ACCEPT_319), false).await),
            Some(Reason::Ok)
        );
        assert_eq!(
            feed(&hex(REDIRECT_SPLIT), false).await,
            Step::Redirect {
                host: "10.0.0.5".into(),
                port: 1521,
                descriptor: Some("(DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=10.0.0.5)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=ORCL)))".into()),
            }
        );
    }

    /// Every strict prefix of every valid reply, then EOF: a protocol error, never a panic.
    #[tokio::test]
    async fn truncated_replies_are_protocol_errors() {
        for v in [
            REFUSE_12514,
            ACCEPT_319,
            REDIRECT_SPLIT,
            "00 08 00 00 0b 00 00 00",
        ] {
            let full = hex(v);
            for n in 0..full.len() {
                let s = feed(&full[..n], false).await;
                assert_eq!(
                    reason(&s),
                    Some(Reason::ProtocolError),
                    "prefix {n} of {v}: {s:?}"
                );
            }
            let s = feed(&full[..full.len() / 2], true).await;
            assert_eq!(reason(&s), Some(Reason::Timeout), "{s:?}");
        }
    }

    /// Seeded random bytes (and random bodies behind a valid header of each non-ACCEPT type):
    /// never a panic, always a protocol error.
    #[tokio::test]
    async fn garbage_is_a_protocol_error() {
        let mut rng = crate::testio::Lcg(0x5eed_0001);
        for i in 0..600 {
            let len = (rng.next() % 300) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 && b.len() >= 8 {
                // a plausible header for a random type, so the body parsers see garbage too
                let l = b.len() as u16;
                b[0..2].copy_from_slice(&l.to_be_bytes());
                b[4] = [TNS_REFUSE, TNS_REDIRECT, TNS_RESEND, TNS_DATA, TNS_MARKER][i / 2 % 5];
            }
            let s = feed(&b, false).await;
            assert_eq!(reason(&s), Some(Reason::ProtocolError), "{b:02x?}: {s:?}");
        }
        // An ACCEPT whose version is no TNS version is not taken for one.
        let mut a = hex(ACCEPT_319);
        a[8] = 0xff;
        assert_eq!(reason(&feed(&a, false).await), Some(Reason::ProtocolError));
    }
}

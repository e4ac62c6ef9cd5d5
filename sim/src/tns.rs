//! A scripted Oracle TNS listener on 127.0.0.1:0 for the probe tests. It answers each CONNECT
//! with the reply shapes real listeners send (byte-compared with tests/tns/VECTORS.txt, and
//! checked against python-oracledb, a real thin client, by tests/tns/run.sh), and it parses
//! every CONNECT it receives with its own parser, independent of the probe's code, so tests can
//! check what a listener would log (SERVICE_NAME, PROGRAM, redirect flag, no UR=A).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The listener version real 19c listeners put in VSNNUM.
pub const VSNNUM_19C: u32 = 318767104;

/// One scripted answer to one CONNECT.
#[derive(Debug, Clone)]
pub enum Reply {
    /// ACCEPT with this TNS version (319 and 314 are the vector shapes).
    Accept(u16),
    /// REFUSE with `(ERR=n)` and an error stack, text inline (real-listener shape).
    Refuse(u32),
    /// REFUSE whose text follows in a DATA packet.
    RefuseSplit(u32),
    /// The tnsping answer: REFUSE with ERR=0.
    Ping,
    /// RESEND; the next reply of the script answers the CONNECT sent again.
    Resend,
    /// REDIRECT (10 bytes) + DATA with address NUL descriptor: the form python-oracledb follows.
    RedirectSplit { port: u16, descriptor: String },
    /// REDIRECT with the data inline (node-oracledb / go-ora accept it).
    RedirectInline { port: u16, descriptor: String },
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// These bytes, then silence.
    RawThenHang(Vec<u8>),
    /// Read the CONNECT, never answer.
    Silence,
}

/// A CONNECT as the listener parsed it.
#[derive(Debug, Clone)]
pub struct Connect {
    pub version: u16,
    pub flags: u8,
    /// Connect data inside the CONNECT (<= 230 bytes) rather than in a following DATA packet.
    pub inline: bool,
    pub descriptor: String,
    /// The CONNECT packet (without a following DATA packet).
    pub raw: Vec<u8>,
    /// The DATA packet that carried the descriptor, if any.
    pub data_packet: Option<Vec<u8>>,
}

impl Connect {
    /// `(KEY=value)` from the descriptor.
    pub fn value(&self, key: &str) -> Option<String> {
        let up = self.descriptor.to_ascii_uppercase();
        let pat = format!("({key}=");
        let i = up.find(&pat)? + pat.len();
        let end = up[i..].find(')')?;
        Some(self.descriptor[i..i + end].to_string())
    }
}

/// What happened on one accepted TCP connection.
#[derive(Debug, Clone, Default)]
pub struct Conn {
    pub connects: Vec<Connect>,
    /// Errors of the listener's own parser (a CONNECT it could not read).
    pub parse_errors: Vec<String>,
    /// The first packet the client sent after ACCEPT (framing per the accepted version).
    pub after_accept: Option<Vec<u8>>,
    /// The client closed the connection after that.
    pub client_closed: bool,
}

pub struct TnsListener {
    pub port: u16,
    conns: Arc<Mutex<Vec<Conn>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TnsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TnsListener {
    /// Connection `i` follows `scripts[i]` (the last script repeats).
    pub async fn start(scripts: Vec<Vec<Reply>>) -> TnsListener {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        Self::serve(l, port, scripts)
    }

    /// As [`start`], on an already bound listener (so a script can redirect to itself).
    pub fn serve(l: TcpListener, port: u16, scripts: Vec<Vec<Reply>>) -> TnsListener {
        assert!(!scripts.is_empty());
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let c2 = conns.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            let mut handlers = tokio::task::JoinSet::new();
            while let Ok((sock, _)) = l.accept().await {
                let script = scripts[n.min(scripts.len() - 1)].clone();
                let idx = {
                    let mut g = c2.lock().unwrap();
                    g.push(Conn::default());
                    g.len() - 1
                };
                handlers.spawn(handle(sock, script, c2.clone(), idx));
                n += 1;
            }
        });
        TnsListener { port, conns, task }
    }

    pub fn conns(&self) -> Vec<Conn> {
        self.conns.lock().unwrap().clone()
    }

    /// Waits (briefly) until `n` connections have finished their script.
    pub async fn wait_closed(&self, n: usize) -> Vec<Conn> {
        for _ in 0..100 {
            let c = self.conns();
            if c.len() >= n && c.iter().take(n).all(|c| c.client_closed) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.conns()
    }
}

const READ_LIMIT: Duration = Duration::from_secs(5);

async fn read_exact(sock: &mut TcpStream, buf: &mut [u8]) -> Result<(), String> {
    match tokio::time::timeout(READ_LIMIT, sock.read_exact(buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Err(_) => Err("read timed out".into()),
    }
}

/// Reads one packet with the 2-byte length of the pre-ACCEPT phase.
async fn read_packet(sock: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut h = [0u8; 8];
    read_exact(sock, &mut h).await?;
    let len = u16::from_be_bytes([h[0], h[1]]) as usize;
    if len < 8 {
        return Err(format!("bad length {len}"));
    }
    let mut p = vec![0u8; len];
    p[..8].copy_from_slice(&h);
    read_exact(sock, &mut p[8..]).await?;
    Ok(p)
}

/// The listener side of CONNECT parsing: the CONNECT, and the DATA packet after it when the
/// connect data is not inline.
pub async fn read_connect(sock: &mut TcpStream) -> Result<Connect, String> {
    let p = read_packet(sock).await?;
    let data = match connect_layout(&p)? {
        Layout::Inline(_) => None,
        Layout::FollowsInData(_) => {
            let d = read_packet(sock).await?;
            if d[4] != 6 || d.len() < 10 {
                return Err(format!(
                    "expected DATA with the connect data, got type {}",
                    d[4]
                ));
            }
            Some(d)
        }
    };
    parse_connect(&p, data.as_deref())
}

enum Layout {
    Inline(usize),
    FollowsInData(usize),
}

fn connect_layout(p: &[u8]) -> Result<Layout, String> {
    if p[4] != 1 {
        return Err(format!("expected CONNECT (type 1), got type {}", p[4]));
    }
    if p.len() < 34 {
        return Err(format!("CONNECT too short ({} bytes)", p.len()));
    }
    let cd_len = u16::from_be_bytes([p[24], p[25]]) as usize;
    let cd_off = u16::from_be_bytes([p[26], p[27]]) as usize;
    if cd_len == 0 {
        return Err("CONNECT without connect data".into());
    }
    if cd_off + cd_len <= p.len() && p.len() > cd_off {
        Ok(Layout::Inline(cd_off))
    } else if p.len() <= cd_off {
        Ok(Layout::FollowsInData(cd_len))
    } else {
        Err(format!(
            "connect data of {cd_len} bytes at {cd_off} overruns the {}-byte CONNECT",
            p.len()
        ))
    }
}

/// Parses a CONNECT (and the DATA packet that carries its connect data, if any).
pub fn parse_connect(p: &[u8], data: Option<&[u8]>) -> Result<Connect, String> {
    let cd_len = if p.len() >= 26 {
        u16::from_be_bytes([p[24], p[25]]) as usize
    } else {
        0
    };
    let (inline, bytes) = match (connect_layout(p)?, data) {
        (Layout::Inline(off), _) => (true, p[off..off + cd_len].to_vec()),
        (Layout::FollowsInData(n), Some(d)) => {
            let text = &d[10..];
            if text.len() != n {
                return Err(format!(
                    "DATA carries {} bytes of connect data, CONNECT announced {n}",
                    text.len()
                ));
            }
            (false, text.to_vec())
        }
        (Layout::FollowsInData(_), None) => return Err("connect data missing".into()),
    };
    let descriptor = String::from_utf8(bytes).map_err(|_| "connect data is not text")?;
    if !descriptor.starts_with('(')
        || descriptor.matches('(').count() != descriptor.matches(')').count()
    {
        return Err(format!("unbalanced descriptor {descriptor:?}"));
    }
    Ok(Connect {
        version: u16::from_be_bytes([p[8], p[9]]),
        flags: p[5],
        inline,
        descriptor,
        raw: p.to_vec(),
        data_packet: data.map(<[u8]>::to_vec),
    })
}

// ---- the replies, in the shapes real listeners send ----

fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut p = ((body.len() + 8) as u16).to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 0, kind, 0, 0, 0]);
    p.extend_from_slice(body);
    p
}

pub fn accept(version: u16) -> Vec<u8> {
    // version, options 0x0801, SDU 8192, TDU 65535, value of one, no accept data, flags,
    // then 32-bit SDU/TDU at 32/36 (used by >= 315 clients).
    let mut b = Vec::new();
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&[0x08, 0x01, 0x20, 0x00, 0xff, 0xff, 0x01, 0x00]);
    b.extend_from_slice(&[0; 14]);
    b.extend_from_slice(&8192u32.to_be_bytes());
    b.extend_from_slice(&65535u32.to_be_bytes());
    b.extend_from_slice(&[0; 5]);
    packet(2, &b)
}

pub fn refuse_text(err: u32) -> String {
    if err == 0 {
        return format!("(DESCRIPTION=(TMP=)(VSNNUM={VSNNUM_19C})(ERR=0)(ALIAS=LISTENER))");
    }
    format!("(DESCRIPTION=(TMP=)(VSNNUM={VSNNUM_19C})(ERR={err})(ERROR_STACK=(ERROR=(CODE={err})(EMFI=4))))")
}

pub fn refuse(err: u32) -> Vec<u8> {
    let t = refuse_text(err);
    let mut b = vec![0x22, 0x00];
    b.extend_from_slice(&(t.len() as u16).to_be_bytes());
    b.extend_from_slice(t.as_bytes());
    packet(4, &b)
}

pub fn refuse_split(err: u32) -> Vec<u8> {
    let t = refuse_text(err);
    let mut b = vec![0x22, 0x00];
    b.extend_from_slice(&(t.len() as u16).to_be_bytes());
    let mut p = packet(4, &b);
    let mut d = vec![0, 0];
    d.extend_from_slice(t.as_bytes());
    p.extend(packet(6, &d));
    p
}

pub fn resend() -> Vec<u8> {
    packet(11, &[])
}

pub fn redirect_data(host: &str, port: u16, descriptor: &str) -> Vec<u8> {
    let mut d = format!("(ADDRESS=(PROTOCOL=tcp)(HOST={host})(PORT={port}))").into_bytes();
    if !descriptor.is_empty() {
        d.push(0);
        d.extend_from_slice(descriptor.as_bytes());
    }
    d
}

pub fn redirect_split(host: &str, port: u16, descriptor: &str) -> Vec<u8> {
    let data = redirect_data(host, port, descriptor);
    let mut p = packet(5, &(data.len() as u16).to_be_bytes());
    let mut d = vec![0, 0];
    d.extend_from_slice(&data);
    p.extend(packet(6, &d));
    p
}

pub fn redirect_inline(host: &str, port: u16, descriptor: &str) -> Vec<u8> {
    let data = redirect_data(host, port, descriptor);
    let mut b = (data.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&data);
    packet(5, &b)
}

/// Reads the client's first packet after ACCEPT (4-byte length from version 315 on).
async fn read_after_accept(sock: &mut TcpStream, version: u16) -> Option<Vec<u8>> {
    let mut h = [0u8; 8];
    read_exact(sock, &mut h).await.ok()?;
    let len = if version >= 315 {
        u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize
    } else {
        u16::from_be_bytes([h[0], h[1]]) as usize
    };
    if !(8..=65536).contains(&len) {
        return Some(h.to_vec());
    }
    let mut p = vec![0u8; len];
    p[..8].copy_from_slice(&h);
    read_exact(sock, &mut p[8..]).await.ok()?;
    Some(p)
}

/// Whether the client closes within a moment (reads and discards anything else it sends).
async fn client_closes(sock: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(READ_LIMIT, sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn handle(mut sock: TcpStream, script: Vec<Reply>, conns: Arc<Mutex<Vec<Conn>>>, idx: usize) {
    let record = |f: &dyn Fn(&mut Conn)| f(&mut conns.lock().unwrap()[idx]);
    for reply in script {
        match read_connect(&mut sock).await {
            Ok(c) => record(&|conn| conn.connects.push(c.clone())),
            Err(e) => {
                record(&|conn| conn.parse_errors.push(e.clone()));
                break;
            }
        }
        let bytes = match &reply {
            Reply::Accept(v) => accept(*v),
            Reply::Refuse(e) => refuse(*e),
            Reply::RefuseSplit(e) => refuse_split(*e),
            Reply::Ping => refuse(0),
            Reply::Resend => resend(),
            Reply::RedirectSplit { port, descriptor } => {
                redirect_split("127.0.0.1", *port, descriptor)
            }
            Reply::RedirectInline { port, descriptor } => {
                redirect_inline("127.0.0.1", *port, descriptor)
            }
            Reply::Raw(b) | Reply::RawThenHang(b) => b.clone(),
            Reply::Silence => Vec::new(),
        };
        if sock.write_all(&bytes).await.is_err() {
            break;
        }
        match reply {
            Reply::Resend => continue,
            Reply::Accept(v) => {
                let after = read_after_accept(&mut sock, v).await;
                record(&|conn| conn.after_accept = after.clone());
                break;
            }
            Reply::RawThenHang(_) | Reply::Silence => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            // Real listeners hang up after REFUSE and REDIRECT; so does anything else.
            _ => {
                let _ = sock.shutdown().await;
                break;
            }
        }
    }
    let closed = client_closes(&mut sock).await;
    record(&|conn| conn.client_closed = closed);
}

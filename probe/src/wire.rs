//! Bounded reads shared by the protocol probes: read exactly N bytes before a deadline, and
//! say precisely why not (peer closed after `got` of `want` bytes, I/O error, timeout).

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// A read that could not produce a whole packet.
pub(crate) enum ReadErr {
    /// The peer closed the connection after `got` of the `want` bytes.
    Closed {
        got: usize,
        want: usize,
    },
    Io(std::io::Error),
    Timeout,
    /// The bytes are not the protocol's (the message says how).
    Bad(String),
}

/// Fills `buf` completely, or fails at the deadline.
pub(crate) async fn read_full<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), ReadErr> {
    let mut got = 0;
    while got < buf.len() {
        match tokio::time::timeout_at(deadline, s.read(&mut buf[got..])).await {
            Err(_) => return Err(ReadErr::Timeout),
            Ok(Err(e)) => return Err(ReadErr::Io(e)),
            Ok(Ok(0)) => {
                return Err(ReadErr::Closed {
                    got,
                    want: buf.len(),
                })
            }
            Ok(Ok(n)) => got += n,
        }
    }
    Ok(())
}

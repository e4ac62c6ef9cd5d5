//! What the protocol targets share: a stream that answers with the fuzzer's bytes (in pieces
//! whose size the first byte chooses, as a network delivers them) and swallows what is sent,
//! and one small runtime to run the async exchanges on.

#![allow(dead_code)]

use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Replays `data` to the reader in pieces of at most `piece` bytes, then end of stream.
pub struct Replay<'a> {
    data: &'a [u8],
    piece: usize,
}

impl<'a> Replay<'a> {
    /// The first byte sets the piece size (1 to 256); the rest is the peer's answer.
    pub fn new(input: &'a [u8]) -> Replay<'a> {
        match input.split_first() {
            Some((p, rest)) => Replay {
                data: rest,
                piece: *p as usize + 1,
            },
            None => Replay {
                data: input,
                piece: 1,
            },
        }
    }
}

impl AsyncRead for Replay<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = buf.remaining().min(self.data.len()).min(self.piece);
        let (now, later) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = later;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One current-thread runtime with a clock, for every input.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

/// A deadline far enough that only the bytes decide how an exchange ends.
pub fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(30)
}

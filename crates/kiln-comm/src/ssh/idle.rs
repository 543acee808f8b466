//! `ssh_read_write_timeout`: a connection on which a read or a write makes no progress for
//! that long is dead (as Packer's deadline on each read and write). Keep-alives keep a healthy
//! idle connection moving, so only a connection that stopped answering trips it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Where a tripped limit leaves its message, for the operation that sees the connection end.
pub type Tripped = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// A stream whose stalled reads and writes fail with `TimedOut` after `limit`.
pub(super) struct IdleLimit<S> {
    inner: S,
    limit: Duration,
    read: Option<Pin<Box<Sleep>>>,
    write: Option<Pin<Box<Sleep>>>,
    tripped: Tripped,
}

impl<S> IdleLimit<S> {
    pub(super) fn new(inner: S, limit: Duration, tripped: Tripped) -> IdleLimit<S> {
        IdleLimit {
            inner,
            limit,
            read: None,
            write: None,
            tripped,
        }
    }

    fn trip(&self, what: &str) -> io::Error {
        let e = timed_out(self.limit, what);
        *self.tripped.lock().expect("tripped lock") = Some(e.to_string());
        e
    }
}

/// Arms `timer` while the operation is pending; fails once it expires.
fn stalled(timer: &mut Option<Pin<Box<Sleep>>>, limit: Duration, cx: &mut Context<'_>) -> bool {
    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
    t.as_mut().poll(cx).is_ready()
}

fn timed_out(limit: Duration, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no {what} progress on the SSH connection for {limit:?} (ssh_read_write_timeout)"),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleLimit<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read = None;
                Poll::Ready(r)
            }
            Poll::Pending if stalled(&mut this.read, this.limit, cx) => {
                Poll::Ready(Err(this.trip("read")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleLimit<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                this.write = None;
                Poll::Ready(r)
            }
            Poll::Pending if stalled(&mut this.write, this.limit, cx) => {
                Poll::Ready(Err(this.trip("write")))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.write = None;
                Poll::Ready(r)
            }
            Poll::Pending if stalled(&mut this.write, this.limit, cx) => {
                Poll::Ready(Err(this.trip("write")))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_stalled_read_fails_and_a_moving_one_does_not() {
        let (a, mut b) = tokio::io::duplex(64);
        let tripped = Tripped::default();
        let mut limited = IdleLimit::new(a, Duration::from_millis(100), tripped.clone());
        // Data every 40 ms keeps it alive past the limit.
        let writer = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(40)).await;
                b.write_all(b"x").await.unwrap();
            }
            b // kept open, silent
        });
        let mut got = [0u8; 5];
        limited.read_exact(&mut got).await.unwrap();
        let _b = writer.await.unwrap();
        let err = limited.read(&mut [0u8; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(tripped
            .lock()
            .unwrap()
            .as_deref()
            .unwrap()
            .contains("no read progress"));
    }
}

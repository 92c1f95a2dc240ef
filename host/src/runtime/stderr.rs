//! A guest's stderr: kept in memory, only its last bytes, so the host can say
//! what a panicking backbone printed. Writes never fail (a full pipe would
//! otherwise trap a chatty guest).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone)]
pub struct TailPipe {
    capacity: usize,
    tail: Arc<Mutex<VecDeque<u8>>>,
}

impl TailPipe {
    pub fn new(capacity: usize) -> Self {
        TailPipe {
            capacity,
            tail: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
        }
    }

    /// What was written since the last `clear`, up to the capacity.
    pub fn contents(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = tail.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).into_owned()
    }

    pub fn clear(&self) {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for TailPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let keep = buf.len().min(self.capacity);
        tail.extend(&buf[buf.len() - keep..]);
        let excess = tail.len().saturating_sub(self.capacity);
        tail.drain(..excess);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn keeps_only_the_tail_and_never_fails() {
        let pipe = TailPipe::new(8);
        let mut w = pipe.clone();
        w.write_all(b"hello, ").await.unwrap();
        w.write_all(b"world and more").await.unwrap();
        assert_eq!(pipe.contents(), "and more");
        pipe.clear();
        assert_eq!(pipe.contents(), "");
    }
}

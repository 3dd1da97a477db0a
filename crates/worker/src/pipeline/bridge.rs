//! The async-to-blocking bridge for input: the store's download is an async
//! stream, the source readers want a blocking `Read`. [`ChannelReader::spawn`]
//! starts a task that pulls chunks from the store into a small channel, and
//! the reader hands them to the blocking thread, so at most a few chunks of a
//! source are ever in memory. (Output goes the other way through
//! [`PartWriter`](crate::multipart::PartWriter).)

use std::io::{self, Read};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::sync::mpsc;

/// Chunks that may wait between the download and the export.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A blocking `Read` over chunks sent by an async task (a store download).
pub struct ChannelReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    /// Streams `body` in a new task (on the current Tokio runtime). A failed
    /// download reaches the reader as an I/O error; a reader that is dropped
    /// stops the download.
    pub fn spawn(mut body: ByteStream) -> Self {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            loop {
                let chunk = match body.try_next().await {
                    Ok(Some(chunk)) => Ok(chunk),
                    Ok(None) => break,
                    Err(e) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        ChannelReader {
            chunks: rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

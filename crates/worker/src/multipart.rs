//! Streaming an export into a multipart upload with flat memory.
//!
//! The writers are synchronous (`std::io::Write`) and run on a blocking
//! thread; [`PartWriter`] cuts their output into 5 MiB parts and hands each
//! full part to an async task that uploads it. The channel holds one part, so
//! at most three parts exist at once (being filled, queued, being uploaded)
//! whatever the size of the export. Nothing is visible in the bucket until the
//! upload is completed; a failed or cancelled job aborts it.

use std::io::{self, Write};

use broker_core::ObjectKey;
use broker_core::store::{Store, StoreError};
use tokio::sync::mpsc;

/// S3's minimum part size (except for the last part).
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// The blocking side: buffers output into parts.
pub struct PartWriter {
    buffer: Vec<u8>,
    parts: mpsc::Sender<Vec<u8>>,
    part_size: usize,
    sent_any: bool,
    written: u64,
}

impl PartWriter {
    /// A writer and the receiving end of its parts; at most one finished part waits in the channel.
    pub fn new(part_size: usize) -> (Self, mpsc::Receiver<Vec<u8>>) {
        let (parts, receiver) = mpsc::channel(1);
        (
            PartWriter {
                buffer: Vec::with_capacity(part_size),
                parts,
                part_size,
                sent_any: false,
                written: 0,
            },
            receiver,
        )
    }

    fn send(&mut self) -> io::Result<()> {
        let part = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.part_size));
        self.sent_any = true;
        self.parts
            .blocking_send(part)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }

    /// Sends the last part (at least one part is always sent) and closes the channel.
    pub fn finish(mut self) -> io::Result<u64> {
        if !self.buffer.is_empty() || !self.sent_any {
            self.send()?;
        }
        Ok(self.written)
    }
}

impl Write for PartWriter {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            let room = self.part_size - self.buffer.len();
            let take = room.min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == self.part_size {
                self.send()?;
            }
        }
        self.written += total as u64;
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One multipart upload in progress.
pub struct MultipartUpload<'a> {
    store: &'a Store,
    key: &'a ObjectKey,
    upload_id: String,
}

impl<'a> MultipartUpload<'a> {
    pub fn new(store: &'a Store, key: &'a ObjectKey, upload_id: String) -> Self {
        MultipartUpload { store, key, upload_id }
    }

    /// Uploads parts as they arrive until the writer closes the channel.
    /// On error the receiver is dropped, so the writer fails fast.
    pub async fn upload_parts(&self, mut parts: mpsc::Receiver<Vec<u8>>) -> Result<Vec<(i32, String)>, StoreError> {
        let mut done = Vec::new();
        while let Some(part) = parts.recv().await {
            let number = i32::try_from(done.len() + 1).unwrap_or(i32::MAX);
            let etag = self.store.upload_part(self.key, &self.upload_id, number, part).await?;
            done.push((number, etag));
        }
        Ok(done)
    }

    pub async fn complete(&self, parts: &[(i32, String)]) -> Result<(), StoreError> {
        self.store.complete_multipart(self.key, &self.upload_id, parts).await
    }

    /// Best effort: a failed abort leaves invisible parts that the bucket's
    /// `AbortIncompleteMultipartUpload` lifecycle rule removes.
    pub async fn abort(&self) {
        if let Err(error) = self.store.abort_multipart(self.key, &self.upload_id).await {
            tracing::warn!(key = %self.key, %error, "could not abort a multipart upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_into_full_parts_and_a_last_one() {
        let (mut writer, mut parts) = PartWriter::new(4);
        let reader = std::thread::spawn(move || {
            let mut sizes = Vec::new();
            while let Some(part) = parts.blocking_recv() {
                sizes.push(part.len());
            }
            sizes
        });
        writer.write_all(b"0123456789").expect("write");
        assert_eq!(writer.finish().expect("finish"), 10);
        assert_eq!(reader.join().expect("join"), [4, 4, 2]);

        let (writer, mut parts) = PartWriter::new(4);
        writer.finish().expect("finish");
        assert_eq!(
            parts.blocking_recv().map(|p| p.len()),
            Some(0),
            "an empty output is one empty part"
        );
    }

    #[test]
    fn a_stopped_upload_fails_the_writer() {
        let (mut writer, parts) = PartWriter::new(2);
        drop(parts);
        assert!(writer.write_all(b"abcd").is_err());
    }
}

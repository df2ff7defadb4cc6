//! Frames over a byte stream: a reader that grows its buffer only as data
//! arrives, and the batching writer loop both sides of a connection use.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::codec::{FrameTooLarge, LEN_PREFIX, announced_len, split_frame};
use super::stats::{Counter, PeerStats};

/// Smallest read buffer growth.
const MIN_READ: usize = 8 * 1024;
/// Frames at least this large are written on their own instead of being
/// copied into the batch buffer.
const DIRECT_WRITE: usize = 16 * 1024;
/// A batch is written once it holds this many bytes.
const MAX_BATCH: usize = 256 * 1024;

/// Why no further frame can be read from a stream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The socket failed, or closed in the middle of a frame.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The next frame announces more than the limit; the stream cannot be
    /// resynchronized.
    #[error(transparent)]
    TooLarge(#[from] FrameTooLarge),
}

/// Splits frames off a byte stream.
#[derive(Debug)]
pub(crate) struct FrameReader {
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    /// A reader accepting frame bodies up to `max` bytes.
    pub(crate) fn new(max: usize) -> FrameReader {
        FrameReader { buf: BytesMut::new(), max }
    }

    /// Changes the limit (after the handshake), keeping buffered bytes.
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// The next frame body already buffered, if a whole one is.
    pub(crate) fn try_next(&mut self) -> Result<Option<Bytes>, FrameTooLarge> {
        split_frame(&mut self.buf, self.max)
    }

    /// Reads more bytes; `Ok(0)` at end of stream. Cancel-safe: bytes read
    /// are kept in the buffer.
    ///
    /// The buffer grows by at most what the pending frame still needs and
    /// at most doubles per read, so a peer announcing a large frame and
    /// sending nothing costs nothing.
    pub(crate) async fn fill<R: AsyncRead + Unpin>(&mut self, stream: &mut R) -> io::Result<usize> {
        let needed = match announced_len(&self.buf, self.max) {
            Ok(Some(len)) => (LEN_PREFIX + len).saturating_sub(self.buf.len()),
            _ => 0,
        };
        self.buf.reserve(needed.min(self.buf.len()).max(MIN_READ));
        stream.read_buf(&mut self.buf).await
    }

    /// The next frame body, reading as needed. `Ok(None)`: the stream ended
    /// cleanly between frames.
    pub(crate) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<Option<Bytes>, ReadError> {
        loop {
            if let Some(body) = self.try_next()? {
                return Ok(Some(body));
            }
            if self.fill(stream).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the middle of a frame")
                        .into())
                };
            }
        }
    }
}

/// Writes encoded frames from `frames` until the channel closes (after
/// writing everything queued) or `stop` is cancelled. Frames queued
/// together go out in one write. Each write must finish within
/// `write_timeout`: a peer that stops reading is treated as dead.
pub(crate) async fn write_frames<W: AsyncWrite + Unpin>(
    stream: &mut W,
    frames: &mut mpsc::Receiver<Bytes>,
    stop: &CancellationToken,
    write_timeout: Duration,
    stats: &PeerStats,
) -> io::Result<()> {
    let mut batch = BytesMut::new();
    let mut last_count = 0;
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            frame = frames.recv() => match frame {
                Some(frame) => frame,
                None => return Ok(()),
            },
        };
        // Under load, let the tasks that are about to queue frames run
        // first: the writer is woken by the first frame of a burst, and
        // writing that one alone would cost a write per request. A lone
        // request (the last batch had one frame) goes out at once: waiting
        // would only add to its latency.
        if last_count > 1 {
            tokio::task::yield_now().await;
        }
        let mut next = Some(first);
        let mut count = 0;
        while let Some(frame) = next {
            count += 1;
            if frame.len() >= DIRECT_WRITE {
                flush(stream, &mut batch, write_timeout, stats).await?;
                write(stream, &frame, write_timeout, stats).await?;
            } else {
                batch.extend_from_slice(&frame);
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = frames.try_recv().ok();
        }
        flush(stream, &mut batch, write_timeout, stats).await?;
        stats.add(Counter::FrameWritten, count);
        last_count = count;
    }
}

async fn flush<W: AsyncWrite + Unpin>(
    stream: &mut W,
    batch: &mut BytesMut,
    timeout: Duration,
    stats: &PeerStats,
) -> io::Result<()> {
    if !batch.is_empty() {
        write(stream, batch, timeout, stats).await?;
        batch.clear();
    }
    Ok(())
}

async fn write<W: AsyncWrite + Unpin>(
    stream: &mut W,
    bytes: &[u8],
    timeout: Duration,
    stats: &PeerStats,
) -> io::Result<()> {
    stats.bump(Counter::Write);
    match tokio::time::timeout(timeout, stream.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "peer stopped reading")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_split_across_reads_and_detects_a_cut() {
        let frames: Vec<u8> =
            [&b"\x00\x00\x00\x03abc"[..], b"\x00\x00\x00\x00", b"\x00\x00\x00\x02xy"].concat();
        let (mut client, mut server) = tokio::io::duplex(3);
        let writer = tokio::spawn(async move {
            client.write_all(&frames).await.unwrap();
            client.write_all(b"\x00\x00\x00\x05ab").await.unwrap();
        });
        let mut reader = FrameReader::new(16);
        assert_eq!(reader.next(&mut server).await.unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(reader.next(&mut server).await.unwrap().unwrap(), &b""[..]);
        assert_eq!(reader.next(&mut server).await.unwrap().unwrap(), &b"xy"[..]);
        assert!(matches!(reader.next(&mut server).await, Err(ReadError::Io(_))), "EOF inside a frame");
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn refuses_an_oversized_announcement_without_reading_it() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"\x7f\xff\xff\xff").await.unwrap();
        let mut reader = FrameReader::new(1024);
        assert!(matches!(reader.next(&mut server).await, Err(ReadError::TooLarge(_))));
        assert!(reader.buf.capacity() < 64 * 1024);
    }

    #[tokio::test]
    async fn a_large_frame_is_buffered_as_it_arrives() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client.write_all(b"\x00\x10\x00\x00first bytes").await.unwrap();
        let mut reader = FrameReader::new(1 << 20);
        reader.fill(&mut server).await.unwrap();
        assert!(reader.try_next().unwrap().is_none());
        assert!(reader.buf.capacity() < 64 * 1024, "1 MiB announced, not allocated");
    }

    #[tokio::test]
    async fn clean_end_between_frames_is_none() {
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        assert!(FrameReader::new(16).next(&mut server).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn queued_frames_go_out_in_one_write() {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let (tx, mut rx) = mpsc::channel(16);
        for i in 0..10u8 {
            tx.send(Bytes::from(vec![0, 0, 0, 1, i])).await.unwrap();
        }
        tx.send(Bytes::from(vec![7u8; DIRECT_WRITE])).await.unwrap();
        drop(tx);
        let stats = PeerStats::default();
        write_frames(&mut client, &mut rx, &CancellationToken::new(), Duration::from_secs(5), &stats)
            .await
            .unwrap();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.frames_written, 11);
        assert_eq!(snapshot.writes, 2, "ten small frames batched, the large one written directly");
        drop(client);
        let mut all = Vec::new();
        server.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 50 + DIRECT_WRITE);
    }
}

//! NDJSON input, read one bounded line at a time: the one line reader behind the
//! batch route, the import route and the command line's `eval` and `import`.
//!
//! [`Splitter`] is the reader without IO: bytes in, numbered lines out. A line over
//! the cap is counted as it passes and reported, never buffered whole; blank lines
//! are skipped (their numbers are kept); a final `\r` is dropped. [`ReadLines`] feeds
//! it from a [`BufRead`] (on the blocking pool) and [`StreamLines`] from a stream of
//! byte chunks (a request body); both are a [`LineSource`].

use std::collections::VecDeque;
use std::io::{self, BufRead};

use futures_util::{Stream, StreamExt};
use serde::Serialize;

use crate::record::RecordError;

/// One input line: its number (from 1) and its text, or why it cannot be a record.
pub type Line = (u64, Result<String, RecordError>);

/// The answer line for an input line that could not be used.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct LineError<'a> {
    pub line: u64,
    pub field: &'a str,
    pub error: String,
}

impl LineError<'_> {
    /// The JSON error line for `line` refused with `e`.
    pub fn json(line: u64, e: &RecordError) -> String {
        serde_json::to_string(&LineError {
            line,
            field: e.field(),
            error: e.to_string(),
        })
        .unwrap_or_default()
    }
}

/// Why the input could not be read (not why a line was refused).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("could not read the body: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Interrupted(#[from] crate::blocking::Interrupted),
}

/// Splits bytes into numbered lines of at most `cap` bytes.
#[derive(Debug)]
pub struct Splitter {
    cap: usize,
    pending: Vec<u8>,
    /// Bytes of the current line so far (kept or not).
    len: usize,
    line_no: u64,
}

impl Splitter {
    pub fn new(cap: usize) -> Splitter {
        Splitter {
            cap,
            pending: Vec::new(),
            len: 0,
            line_no: 0,
        }
    }

    /// Take `bytes`; every line they complete goes to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut VecDeque<Line>) {
        while let Some(i) = bytes.iter().position(|&b| b == b'\n') {
            self.take(&bytes[..i]);
            self.end_line(out);
            bytes = &bytes[i + 1..];
        }
        self.take(bytes);
    }

    /// The input ended: a last line without a newline goes to `out`.
    pub fn finish(&mut self, out: &mut VecDeque<Line>) {
        if self.len > 0 {
            self.end_line(out);
        }
    }

    fn take(&mut self, part: &[u8]) {
        self.len += part.len();
        // One byte over the cap is kept: it may be the `\r` of a `\r\n`.
        if self.len <= self.cap + 1 {
            self.pending.extend_from_slice(part);
        } else if !self.pending.is_empty() {
            self.pending = Vec::new();
        }
    }

    fn end_line(&mut self, out: &mut VecDeque<Line>) {
        self.line_no += 1;
        let mut len = std::mem::take(&mut self.len);
        let mut bytes = std::mem::take(&mut self.pending);
        if len <= self.cap + 1 && bytes.last() == Some(&b'\r') {
            bytes.pop();
            len -= 1;
        }
        let n = self.line_no;
        if len > self.cap {
            out.push_back((n, Err(too_long(len, self.cap))));
            return;
        }
        match String::from_utf8(bytes) {
            Ok(s) if s.trim().is_empty() => {}
            Ok(s) => out.push_back((n, Ok(s))),
            Err(_) => out.push_back((
                n,
                Err(RecordError::message("line is not valid UTF-8".into())),
            )),
        }
    }
}

fn too_long(len: usize, cap: usize) -> RecordError {
    RecordError::message(format!(
        "line is {len} bytes, longer than the limit of {cap} bytes"
    ))
}

/// Where NDJSON lines come from.
pub trait LineSource {
    /// Up to `max` lines; empty at the end of the input.
    fn next_chunk(&mut self, max: usize) -> impl Future<Output = Result<Vec<Line>, ReadError>>;
}

/// Lines from a [`BufRead`] (a file, standard input), read on the blocking pool.
pub struct ReadLines<R> {
    /// `None` only while a read is running on the blocking pool.
    inner: Option<(R, Splitter, VecDeque<Line>, bool)>,
}

impl<R: BufRead + Send + 'static> ReadLines<R> {
    pub fn new(reader: R, cap: usize) -> ReadLines<R> {
        ReadLines {
            inner: Some((reader, Splitter::new(cap), VecDeque::new(), false)),
        }
    }

    /// Up to `max` lines, read here on the calling thread. The reader is left just
    /// after the last line returned or queued, so [`ReadLines::into_inner`] after
    /// one line gives the rest of the input untouched.
    pub fn next_chunk_now(&mut self, max: usize) -> io::Result<Vec<Line>> {
        let Some((reader, splitter, ready, done)) = self.inner.as_mut() else {
            return Ok(Vec::new());
        };
        while ready.len() < max && !*done {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                *done = true;
                splitter.finish(ready);
                break;
            }
            // Up to the end of one line at most: nothing past it is consumed.
            let n = buf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |i| i + 1);
            splitter.feed(&buf[..n], ready);
            reader.consume(n);
        }
        let n = ready.len().min(max);
        Ok(ready.drain(..n).collect())
    }

    /// Put `line` back: the next chunk starts with it.
    pub fn unread(&mut self, line: Line) {
        if let Some((_, _, ready, _)) = self.inner.as_mut() {
            ready.push_front(line);
        }
    }

    /// The reader, positioned after the lines read so far (lines queued are lost).
    pub fn into_inner(self) -> Option<R> {
        self.inner.map(|(r, ..)| r)
    }
}

impl<R: BufRead + Send + 'static> LineSource for ReadLines<R> {
    async fn next_chunk(&mut self, max: usize) -> Result<Vec<Line>, ReadError> {
        let Some(inner) = self.inner.take() else {
            return Ok(Vec::new());
        };
        let mut this = ReadLines { inner: Some(inner) };
        let (this, chunk) = crate::blocking::run(move || {
            let chunk = this.next_chunk_now(max);
            (this, chunk)
        })
        .await?;
        self.inner = this.inner;
        Ok(chunk?)
    }
}

/// Lines from a stream of byte chunks (a request body).
pub struct StreamLines<S> {
    stream: S,
    splitter: Splitter,
    ready: VecDeque<Line>,
    done: bool,
}

impl<S, B, E> StreamLines<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::error::Error + Send + Sync + 'static,
{
    pub fn new(stream: S, cap: usize) -> StreamLines<S> {
        StreamLines {
            stream,
            splitter: Splitter::new(cap),
            ready: VecDeque::new(),
            done: false,
        }
    }
}

impl<S, B, E> LineSource for StreamLines<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::error::Error + Send + Sync + 'static,
{
    async fn next_chunk(&mut self, max: usize) -> Result<Vec<Line>, ReadError> {
        while self.ready.len() < max && !self.done {
            match self.stream.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| ReadError::Body(Box::new(e)))?;
                    self.splitter.feed(chunk.as_ref(), &mut self.ready);
                }
                None => {
                    self.done = true;
                    self.splitter.finish(&mut self.ready);
                }
            }
        }
        let n = self.ready.len().min(max);
        Ok(self.ready.drain(..n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], cap: usize, piece: usize) -> Vec<Line> {
        let mut s = Splitter::new(cap);
        let mut out = VecDeque::new();
        for p in input.chunks(piece) {
            s.feed(p, &mut out);
        }
        s.finish(&mut out);
        out.into_iter().collect()
    }

    #[test]
    fn lines_are_numbered_blank_ones_skipped_and_long_ones_reported() {
        for piece in [1, 3, 1000] {
            let got = split(b"ab\r\n\n  \nabcdefgh\nxyz", 4, piece);
            assert_eq!(got.len(), 3, "{got:?}");
            assert_eq!(got[0].0, 1);
            assert_eq!(got[0].1.as_deref().ok(), Some("ab"));
            assert_eq!(got[1].0, 4);
            let err = got[1].1.as_ref().unwrap_err().to_string();
            assert!(
                err.contains("8 bytes") && err.contains("longer than"),
                "{err}"
            );
            assert_eq!((got[2].0, got[2].1.as_deref().ok()), (5, Some("xyz")));
        }
    }

    #[test]
    fn a_line_of_exactly_the_cap_with_crlf_is_kept() {
        let got = split(b"abcd\r\n", 4, 2);
        assert_eq!(got[0].1.as_deref().ok(), Some("abcd"));
    }

    #[test]
    fn invalid_utf8_is_refused_by_line() {
        let got = split(b"\xff\xfe\nok\n", 100, 1);
        assert!(got[0].1.is_err());
        assert_eq!((got[1].0, got[1].1.as_deref().ok()), (2, Some("ok")));
    }
}

//! Streaming reader for the line-based formats, in bounded memory.

use crate::line::{parse_line, too_long, MAX_RECORD_BYTES};
use crate::{AccessRecord, Fingerprinter, InputFormat, RecordError};
use std::io::{BufRead, ErrorKind};

/// Records of a line-based input (NDJSON, nginx JSON, combined log), in input order.
///
/// Blank lines are skipped but counted. A line longer than
/// [`MAX_RECORD_BYTES`] gives one error and is skipped without being held in
/// memory. A read error gives one error (`field: None`, reason starting
/// `read error:`) and ends the iteration.
pub struct RecordReader<R: BufRead> {
    reader: R,
    format: InputFormat,
    fp: Fingerprinter,
    /// Number of the last line read (1-based).
    line: usize,
    buf: Vec<u8>,
    finished: bool,
}

/// What the zero-copy path made of the reader's buffer.
// Matched as soon as it is returned; boxing the record would cost an allocation per line.
#[allow(clippy::large_enum_variant)]
enum InBuffer {
    /// A whole line was there (`None`: it was blank).
    Parsed(Option<Result<AccessRecord, RecordError>>),
    /// No whole line in the buffer: the copying path takes over.
    NotWhole,
    Failed(std::io::Error),
}

/// What reading one line produced.
enum RawLine {
    /// The line is in `buf` (without its newline).
    Complete,
    TooLong(usize),
    End,
}

impl<R: BufRead> RecordReader<R> {
    /// `format` should be line-based; MessagePack and JSON bodies belong to
    /// [`crate::parse_bytes`]. A JSON reader reads one object per line; a
    /// MessagePack reader yields one error and ends.
    pub fn new(reader: R, format: InputFormat, fp: Fingerprinter) -> Self {
        Self {
            reader,
            format,
            fp,
            line: 0,
            buf: Vec::new(),
            finished: false,
        }
    }

    /// Number of lines read so far (blank lines included).
    pub fn lines_read(&self) -> usize {
        self.line
    }

    fn read_line(&mut self) -> std::io::Result<RawLine> {
        self.buf.clear();
        let mut len = 0usize;
        let mut saw_anything = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !saw_anything {
                    return Ok(RawLine::End);
                }
                break;
            }
            saw_anything = true;
            let (chunk, consumed, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            len += chunk.len();
            if len <= MAX_RECORD_BYTES + 1 {
                self.buf.extend_from_slice(chunk);
            }
            self.reader.consume(consumed);
            if done {
                break;
            }
        }
        // One byte of slack so that a final `\r` does not count against the limit.
        let content_len = if self.buf.ends_with(b"\r") {
            len - 1
        } else {
            len
        };
        if content_len > MAX_RECORD_BYTES {
            self.buf.clear();
            self.buf.shrink_to(64 * 1024);
            return Ok(RawLine::TooLong(content_len));
        }
        Ok(RawLine::Complete)
    }
}

impl<R: BufRead> RecordReader<R> {
    /// The next line when it lies whole in the reader's buffer: parsed in
    /// place, without a copy.
    fn next_in_buffer(&mut self) -> InBuffer {
        let available = match self.reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == ErrorKind::Interrupted => return InBuffer::NotWhole,
            Err(e) => return InBuffer::Failed(e),
        };
        let Some(end) = memchr::memchr(b'\n', available) else {
            return InBuffer::NotWhole;
        };
        if end > MAX_RECORD_BYTES + 1 {
            return InBuffer::NotWhole;
        }
        self.line += 1;
        let result = parse_line(&available[..end], self.line, self.format, &self.fp);
        self.reader.consume(end + 1);
        InBuffer::Parsed(result)
    }

    fn read_error(&mut self, e: &std::io::Error) -> RecordError {
        self.finished = true;
        RecordError {
            line: self.line,
            field: None,
            reason: format!("read error: {e}"),
        }
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<AccessRecord, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.format == InputFormat::MsgPack && !self.finished {
            self.finished = true;
            return Some(Err(RecordError {
                line: 1,
                field: None,
                reason: "MessagePack is not line-based: read the whole body with parse_bytes"
                    .to_owned(),
            }));
        }
        while !self.finished {
            match self.next_in_buffer() {
                InBuffer::Parsed(Some(result)) => return Some(result),
                InBuffer::Parsed(None) => continue,
                InBuffer::NotWhole => {}
                InBuffer::Failed(e) => {
                    self.line += 1;
                    return Some(Err(self.read_error(&e)));
                }
            }
            let raw = self.read_line();
            self.line += 1;
            match raw {
                Ok(RawLine::End) => {
                    self.line -= 1;
                    self.finished = true;
                }
                Ok(RawLine::TooLong(len)) => return Some(Err(too_long(self.line, len))),
                Ok(RawLine::Complete) => {
                    if let Some(result) = parse_line(&self.buf, self.line, self.format, &self.fp) {
                        return Some(result);
                    }
                }
                Err(e) => return Some(Err(self.read_error(&e))),
            }
        }
        None
    }
}

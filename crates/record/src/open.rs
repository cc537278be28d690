//! Opening an input path: a file, `-` for stdin, gzip decompressed.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

const READ_BUFFER: usize = 256 * 1024;

/// Why an input could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot open input {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read input {path}: it is a directory")]
    IsDirectory { path: PathBuf },
}

/// `-` is stdin; gzip input (a `.gz` name, or gzip magic bytes) is decompressed,
/// concatenated gzip members included.
pub fn open_input(path: &str) -> Result<Box<dyn BufRead + Send>, InputError> {
    let open_err = |source| InputError::Open {
        path: PathBuf::from(path),
        source,
    };
    let mut reader: Box<dyn BufRead + Send> = if path == "-" {
        Box::new(BufReader::with_capacity(READ_BUFFER, std::io::stdin()))
    } else {
        let file = File::open(path).map_err(open_err)?;
        if file.metadata().map_err(open_err)?.is_dir() {
            return Err(InputError::IsDirectory {
                path: PathBuf::from(path),
            });
        }
        Box::new(BufReader::with_capacity(READ_BUFFER, file))
    };
    let is_gzip = path.ends_with(".gz")
        || reader
            .fill_buf()
            .map_err(open_err)?
            .starts_with(&[0x1f, 0x8b]);
    if is_gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(
            READ_BUFFER,
            ExplainTruncation(decoder),
        )))
    } else {
        Ok(reader)
    }
}

/// flate2 reports a truncated stream as a bare "unexpected end of file".
struct ExplainTruncation<R>(R);

impl<R: Read> Read for ExplainTruncation<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("unexpected end of gzip stream (truncated file?): {e}"),
                )
            } else {
                e
            }
        })
    }
}

//! The IDX format of the MNIST files: a big-endian header, then unsigned bytes.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The contents of an IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first: `[count]` for labels, `[count, 28, 28]` for MNIST
    /// images.
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Type code of unsigned bytes, the third byte of the magic number.
const UNSIGNED_BYTE: u8 = 0x08;

/// Reads an IDX file of unsigned bytes, gzip-compressed or plain (detected from its
/// first two bytes).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read or decompressed, and [`Error::Format`] for
/// a bad magic number, an element type other than unsigned byte, or a length that does
/// not match the header.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io_error)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut decoded)
            .map_err(io_error)?;
        decoded
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|reason| Error::Format {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    let Some(&[zero0, zero1, kind, rank]) = bytes.first_chunk::<4>() else {
        return Err(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        ));
    };
    if (zero0, zero1) != (0, 0) {
        return Err(format!(
            "not an IDX file: the magic number starts with {zero0:#04x} {zero1:#04x}, not 0x00 0x00"
        ));
    }
    if kind != UNSIGNED_BYTE {
        return Err(format!(
            "element type {kind:#04x} is not supported; only unsigned bytes (0x08) are"
        ));
    }
    let header_len = 4 + 4 * usize::from(rank);
    let header = bytes
        .get(4..header_len)
        .ok_or_else(|| format!("the header declares {rank} dimensions but the file ends first"))?;
    let dims: Vec<usize> = header
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let data = &bytes[header_len..];
    if data.len() != expected {
        return Err(format!(
            "dimensions {dims:?} need {expected} bytes of data but the file has {}",
            data.len()
        ));
    }
    Ok(IdxArray {
        dims,
        data: data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_idx_reads_dims_and_data() {
        let bytes = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
        let array = parse_idx(&bytes).unwrap();
        assert_eq!(array.dims, vec![2, 3]);
        assert_eq!(array.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn parse_idx_rejects_short_data() {
        let bytes = [0, 0, 8, 1, 0, 0, 0, 4, 1, 2];
        let message = parse_idx(&bytes).unwrap_err();
        assert!(message.contains("need 4 bytes"), "{message}");
    }

    #[test]
    fn parse_idx_rejects_float_elements() {
        let bytes = [0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0];
        let message = parse_idx(&bytes).unwrap_err();
        assert!(message.contains("0x0d"), "{message}");
    }

    #[test]
    fn parse_idx_rejects_bad_magic() {
        let message = parse_idx(&[1, 0, 8, 1]).unwrap_err();
        assert!(message.contains("not an IDX file"), "{message}");
    }
}

//! Reader for the IDX format of MNIST and Fashion-MNIST.
//!
//! ```text
//! offset  type     value
//! 0       u16      0x0000
//! 2       u8       element type (0x08 = unsigned byte, the only type read here)
//! 3       u8       rank r
//! 4       u32[r]   dimensions, big-endian
//! 4+4r    u8[..]   the elements, row-major
//! ```
//!
//! A file may be gzip-compressed; the gzip magic bytes `1f 8b` select decompression. Only the
//! size its header announces is kept, and at most [`MAX_DECOMPRESSED_BYTES`], so that a small
//! crafted archive cannot exhaust memory.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// IDX element-type code for unsigned bytes.
const UNSIGNED_BYTE: u32 = 0x08;

/// The largest decompressed size accepted from a gzip-compressed IDX file: 1 GiB.
///
/// The full MNIST training images take 47 MB once decompressed, so real files stay far below
/// this. An uncompressed file is not capped: its size on disk is its size in memory.
pub const MAX_DECOMPRESSED_BYTES: usize = 1 << 30;

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header, outermost first.
    pub dims: Vec<usize>,
    /// The elements in row-major order; `data.len()` equals the product of `dims`.
    pub data: Vec<u8>,
}

/// Returns the magic number of an unsigned-byte IDX file of the given rank.
pub fn idx_magic(rank: usize) -> u32 {
    (UNSIGNED_BYTE << 8) | rank as u32
}

/// Reads an IDX file of unsigned bytes with the given rank, raw or gzip-compressed.
///
/// # Errors
/// [`DataError::NotFound`] for a missing file, [`DataError::Io`] for unreadable or corrupt gzip
/// data, and the parse errors of [`parse_idx`].
pub fn read_idx_file(path: &Path, rank: usize) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
    let bytes = decompress_if_gzip(bytes, path)?;
    parse_idx(&bytes, rank, path)
}

/// Parses the bytes of an uncompressed IDX file of unsigned bytes with the given rank.
///
/// `path` only labels errors.
///
/// # Errors
/// [`DataError::Truncated`] when the header or the payload is incomplete,
/// [`DataError::BadMagic`] for another element type or rank, [`DataError::BadDimensions`] for a
/// zero dimension or a size that overflows, and [`DataError::TrailingBytes`] when bytes follow
/// the payload.
pub fn parse_idx(bytes: &[u8], rank: usize, path: &Path) -> Result<IdxArray> {
    let header_len = 4 + 4 * rank;
    if bytes.len() < 4 {
        return Err(truncated(path, header_len, bytes.len()));
    }
    let magic = read_u32(bytes, 0);
    let expected = idx_magic(rank);
    if magic != expected {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: magic,
            expected,
            rank,
        });
    }
    if bytes.len() < header_len {
        return Err(truncated(path, header_len, bytes.len()));
    }

    let dims: Vec<usize> = (0..rank)
        .map(|axis| read_u32(bytes, 4 + 4 * axis) as usize)
        .collect();
    if dims.contains(&0) {
        return Err(DataError::BadDimensions {
            path: path.to_path_buf(),
            found: dims,
            reason: "every dimension must be at least 1".to_string(),
        });
    }
    let payload_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header_len))
        .ok_or_else(|| DataError::BadDimensions {
            path: path.to_path_buf(),
            found: dims.clone(),
            reason: "their product overflows the address space".to_string(),
        })?;
    if bytes.len() < payload_len {
        return Err(truncated(path, payload_len, bytes.len()));
    }
    if bytes.len() > payload_len {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            extra: bytes.len() - payload_len,
        });
    }
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
    })
}

/// Decompresses `bytes` when they start with the gzip magic `1f 8b`, else returns them as they are.
///
/// The decompressed IDX header announces the payload size, so only that many bytes are kept:
/// a stream whose first four bytes are not an unsigned-byte IDX magic stops there, and bytes
/// past the announced size are counted without being stored. Memory therefore stays at the
/// announced size, and decompression work at [`MAX_DECOMPRESSED_BYTES`].
///
/// # Errors
/// [`DataError::Io`] for corrupt gzip data, [`DataError::DecompressedTooLarge`] for a header
/// that announces more than [`MAX_DECOMPRESSED_BYTES`] or a stream that runs past it, and
/// [`DataError::TrailingBytes`] for bytes after the announced payload. A short or invalid
/// header is returned as it is, for [`parse_idx`] to name the problem.
pub(crate) fn decompress_if_gzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    decompress_capped(bytes, path, MAX_DECOMPRESSED_BYTES)
}

fn decompress_capped(bytes: Vec<u8>, path: &Path, limit: usize) -> Result<Vec<u8>> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Ok(bytes);
    }
    let mut decoder = flate2::read::GzDecoder::new(bytes.as_slice());
    let mut out = Vec::new();
    let mut read_more = |out: &mut Vec<u8>, count: usize| -> Result<bool> {
        let expected = out.len() + count;
        (&mut decoder)
            .take(count as u64)
            .read_to_end(out)
            .map_err(|source| io_error(path, source))?;
        Ok(out.len() == expected)
    };

    // The magic: two zero bytes, the element type, the rank.
    if !read_more(&mut out, 4)? || out[..3] != [0, 0, UNSIGNED_BYTE as u8] {
        return Ok(out);
    }
    let rank = usize::from(out[3]);
    if !read_more(&mut out, 4 * rank)? {
        return Ok(out);
    }
    let header_len = out.len();
    let dims: Vec<usize> = (0..rank)
        .map(|axis| read_u32(&out, 4 + 4 * axis) as usize)
        .collect();
    let total = dims
        .iter()
        .try_fold(1usize, |size, &dim| size.checked_mul(dim))
        .and_then(|payload| payload.checked_add(header_len));
    let total = match total {
        // A zero or overflowing dimension: `parse_idx` names the dimensions.
        _ if dims.contains(&0) => return Ok(out),
        None => return Ok(out),
        Some(total) if total > limit => {
            return Err(DataError::DecompressedTooLarge {
                path: path.to_path_buf(),
                limit,
            });
        }
        Some(total) => total,
    };
    if !read_more(&mut out, total - header_len)? {
        return Ok(out);
    }

    // Count what follows the payload without keeping it, up to one byte past the limit.
    let extra = std::io::copy(
        &mut (&mut decoder).take((limit - total) as u64 + 1),
        &mut std::io::sink(),
    )
    .map_err(|source| io_error(path, source))?;
    if total as u64 + extra > limit as u64 {
        return Err(DataError::DecompressedTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            extra: extra as usize,
        });
    }
    Ok(out)
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes([
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    ])
}

fn truncated(path: &Path, expected: usize, found: usize) -> DataError {
    DataError::Truncated {
        path: path.to_path_buf(),
        expected,
        found,
    }
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> DataError {
    if source.kind() == std::io::ErrorKind::NotFound {
        DataError::NotFound {
            path: PathBuf::from(path),
        }
    } else {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an IDX file of rank 3 holding `n` images of 2x3 pixels with values 0, 1, 2, ...
    fn images_file(n: u32) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0x08, 3];
        for d in [n, 2, 3] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend((0..n * 6).map(|v| v as u8));
        bytes
    }

    fn here() -> &'static Path {
        Path::new("test.idx")
    }

    #[test]
    fn parses_good_file() {
        let array = parse_idx(&images_file(4), 3, here()).expect("valid file");
        assert_eq!(array.dims, vec![4, 2, 3]);
        assert_eq!(array.data.len(), 24);
        assert_eq!(array.data[7], 7);
    }

    #[test]
    fn rejects_wrong_magic() {
        let mut bytes = images_file(2);
        bytes[2] = 0x0d; // float32 element type
        match parse_idx(&bytes, 3, here()) {
            Err(DataError::BadMagic {
                found, expected, ..
            }) => {
                assert_eq!(found, 0x0000_0d03);
                assert_eq!(expected, 0x0000_0803);
            }
            other => panic!("expected BadMagic, got {other:?}"),
        }
    }

    #[test]
    fn rejects_wrong_rank() {
        let err = parse_idx(&images_file(2), 1, here()).unwrap_err();
        assert!(matches!(err, DataError::BadMagic { rank: 1, .. }), "{err}");
    }

    #[test]
    fn rejects_truncated_header() {
        let bytes = images_file(2);
        let err = parse_idx(&bytes[..9], 3, here()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 16,
                    found: 9,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_truncated_payload() {
        let bytes = images_file(2);
        let err = parse_idx(&bytes[..bytes.len() - 1], 3, here()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 28,
                    found: 27,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = images_file(2);
        bytes.extend_from_slice(&[1, 2, 3]);
        let err = parse_idx(&bytes, 3, here()).unwrap_err();
        assert!(
            matches!(err, DataError::TrailingBytes { extra: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_zero_dimension() {
        let mut bytes = images_file(2);
        bytes[8..12].copy_from_slice(&0u32.to_be_bytes());
        let err = parse_idx(&bytes, 3, here()).unwrap_err();
        assert!(matches!(err, DataError::BadDimensions { .. }), "{err}");
    }

    #[test]
    fn rejects_overflowing_dimensions() {
        let mut bytes = vec![0, 0, 0x08, 3];
        for _ in 0..3 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let err = parse_idx(&bytes, 3, here()).unwrap_err();
        // On 64-bit targets the product fits, so the payload check fires instead.
        assert!(
            matches!(
                err,
                DataError::BadDimensions { .. } | DataError::Truncated { .. }
            ),
            "{err}"
        );
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("write to memory");
        encoder.finish().expect("finish gzip stream")
    }

    #[test]
    fn gzip_round_trip_parses() {
        let raw = images_file(3);
        let unpacked = decompress_capped(gzip(&raw), here(), raw.len()).expect("within the cap");
        assert_eq!(unpacked, raw);
        let array = parse_idx(&unpacked, 3, here()).expect("valid file");
        assert_eq!(array.dims, vec![3, 2, 3]);
    }

    /// Returns the header of a rank-3 IDX file announcing `n` images of 28x28 pixels.
    fn header(n: u32) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0x08, 3];
        for d in [n, 28, 28] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn gzip_non_idx_stops_at_magic() {
        // 64 KiB of zeros compress to well under a kilobyte: a miniature decompression bomb.
        // Its first bytes are no IDX magic, so only those four are kept.
        let packed = gzip(&vec![0u8; 64 * 1024]);
        assert!(packed.len() < 1024, "{} compressed bytes", packed.len());
        let unpacked = decompress_capped(packed, here(), 1 << 20).expect("gzip is valid");
        assert_eq!(unpacked, vec![0, 0, 0, 0]);
        let err = parse_idx(&unpacked, 3, here()).unwrap_err();
        assert!(matches!(err, DataError::BadMagic { found: 0, .. }), "{err}");
    }

    #[test]
    fn gzip_trailing_bytes_counted() {
        let mut raw = header(2);
        raw.extend(vec![7u8; 2 * 784 + 5000]);
        let err = decompress_capped(gzip(&raw), here(), 1 << 20).unwrap_err();
        assert!(
            matches!(err, DataError::TrailingBytes { extra: 5000, .. }),
            "{err}"
        );
    }

    #[test]
    fn gzip_announced_size_past_cap() {
        // The header alone announces 60,000 images; the cap is checked before any payload.
        let err = decompress_capped(gzip(&header(60_000)), here(), 1 << 20).unwrap_err();
        assert!(
            matches!(err, DataError::DecompressedTooLarge { limit, .. } if limit == 1 << 20),
            "{err}"
        );
        assert!(err.to_string().contains("gunzip"), "{err}");
    }

    #[test]
    fn gzip_stream_past_cap() {
        // A valid payload followed by more zeros than the cap allows.
        let mut raw = header(1);
        raw.extend(vec![0u8; 784 + 8 * 1024]);
        let err = decompress_capped(gzip(&raw), here(), 4 * 1024).unwrap_err();
        assert!(
            matches!(err, DataError::DecompressedTooLarge { .. }),
            "{err}"
        );
    }

    #[test]
    fn gzip_short_payload_returned() {
        let mut raw = header(2);
        raw.extend(vec![1u8; 784]);
        let unpacked = decompress_capped(gzip(&raw), here(), 1 << 20).expect("gzip is valid");
        let err = parse_idx(&unpacked, 3, here()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 1584,
                    found: 800,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn empty_file_is_truncated() {
        let err = parse_idx(&[], 1, here()).unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { found: 0, .. }),
            "{err}"
        );
    }
}

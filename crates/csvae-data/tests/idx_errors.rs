//! The IDX parser on malformed headers and payloads, raw and gzip-compressed.

use std::io::Write;
use std::path::Path;

use csvae_data::{DataError, idx_magic, parse_idx, read_idx_file};

fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("in-memory write");
    encoder.finish().expect("in-memory gzip")
}

fn label() -> &'static Path {
    Path::new("test.idx")
}

#[test]
fn valid_file_parses() {
    let array = parse_idx(&idx_bytes(&[2, 3], &[1, 2, 3, 4, 5, 6]), 2, label()).expect("valid");
    assert_eq!(array.dims, vec![2, 3]);
    assert_eq!(array.data, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn short_header_is_truncated() {
    for len in 0..4 {
        let err = parse_idx(&[0, 0, 8, 1][..len], 1, label()).expect_err("bad input accepted");
        assert!(
            matches!(err, DataError::Truncated { expected: 8, .. }),
            "{len}: {err}"
        );
    }
    let err = parse_idx(&[0, 0, 8, 3, 0, 0, 0, 1], 3, label()).expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 16,
                found: 8,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn wrong_magic_names_both_values() {
    // Element type 0x0D (float) instead of 0x08 (unsigned byte).
    let mut bytes = idx_bytes(&[1], &[0]);
    bytes[2] = 0x0D;
    let err = parse_idx(&bytes, 1, label()).expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 0x0D01,
                expected: 0x0801,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("test.idx"), "{text}");

    // A rank-1 label file read as images.
    let err = parse_idx(&idx_bytes(&[1], &[0]), 3, label()).expect_err("bad input accepted");
    assert!(
        matches!(err, DataError::BadMagic { expected, .. } if expected == idx_magic(3)),
        "{err}"
    );
}

#[test]
fn zero_and_overflowing_dimensions() {
    let err = parse_idx(&idx_bytes(&[2, 0, 2], &[]), 3, label()).expect_err("bad input accepted");
    assert!(
        matches!(err, DataError::BadDimensions { ref found, .. } if found == &vec![2, 0, 2]),
        "{err}"
    );

    let huge = u32::MAX;
    let err = parse_idx(&idx_bytes(&[huge, huge, huge], &[]), 3, label())
        .expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            DataError::BadDimensions { .. } | DataError::Truncated { .. }
        ),
        "{err}"
    );
}

#[test]
fn payload_length_is_exact() {
    let err = parse_idx(&idx_bytes(&[4], &[1, 2, 3]), 1, label()).expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 12,
                found: 11,
                ..
            }
        ),
        "{err}"
    );
    let err = parse_idx(&idx_bytes(&[2], &[1, 2, 3]), 1, label()).expect_err("bad input accepted");
    assert!(
        matches!(err, DataError::TrailingBytes { extra: 1, .. }),
        "{err}"
    );
}

#[test]
fn gzip_file_reads_like_raw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = idx_bytes(&[3], &[7, 8, 9]);
    let raw = dir.path().join("raw.idx");
    let packed = dir.path().join("packed.idx.gz");
    std::fs::write(&raw, &bytes).expect("write");
    std::fs::write(&packed, gzip(&bytes)).expect("write");
    assert_eq!(
        read_idx_file(&raw, 1).expect("raw"),
        read_idx_file(&packed, 1).expect("gzip")
    );
}

#[test]
fn corrupt_gzip_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut packed = gzip(&idx_bytes(&[3], &[7, 8, 9]));
    // Flip a byte of the deflate stream and then of the CRC trailer.
    let middle = packed.len() / 2;
    packed[middle] ^= 0xFF;
    let path = dir.path().join("corrupt.idx.gz");
    std::fs::write(&path, &packed).expect("write");
    assert!(read_idx_file(&path, 1).is_err());

    // Only the gzip magic: a header with nothing after it.
    std::fs::write(&path, [0x1f, 0x8b]).expect("write");
    let err = read_idx_file(&path, 1).expect_err("bad input accepted");
    assert!(
        matches!(err, DataError::Io { .. } | DataError::Truncated { .. }),
        "{err}"
    );
}

#[test]
fn missing_file_is_not_found() {
    let err =
        read_idx_file(Path::new("/nonexistent/train.idx"), 3).expect_err("bad input accepted");
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/train.idx"), "{err}");
}

//! Loading datasets from directories and the embedded sample, with every bad-file case.

use std::io::Write;
use std::path::Path;

use burn::tensor::Device;
use csvae_data::{DataError, Dataset, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};

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

/// Writes a small valid dataset of 2x2 images: 3 training and 2 test images.
fn write_dataset(dir: &Path, compress: bool) {
    let files = [
        (
            TRAIN_IMAGES,
            idx_bytes(&[3, 2, 2], &[0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8]),
        ),
        (TRAIN_LABELS, idx_bytes(&[3], &[7, 0, 9])),
        (
            TEST_IMAGES,
            idx_bytes(&[2, 2, 2], &[9, 9, 9, 9, 0, 0, 0, 0]),
        ),
        (TEST_LABELS, idx_bytes(&[2], &[1, 2])),
    ];
    for (name, bytes) in files {
        if compress {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).expect("write");
        } else {
            std::fs::write(dir.join(name), bytes).expect("write");
        }
    }
}

#[test]
fn embedded_sample_has_documented_sizes() {
    let data = Dataset::embedded_mnist().expect("embedded sample");
    assert_eq!(data.train.len(), 9_000);
    assert_eq!(data.test.len(), 1_000);
    assert_eq!(data.train.height(), 28);
    assert_eq!(data.train.width(), 28);
    // Every digit class appears in the test split.
    for class in 0..10u8 {
        assert!(data.test.labels().contains(&class), "class {class} missing");
    }
    // Real digits: mostly background, some full ink.
    let image = data.train.image(0);
    let ink = image.iter().filter(|&&p| p > 127).count();
    assert!(ink > 20, "ink pixels {ink}");
    assert!(ink < 400, "ink pixels {ink}");
}

#[test]
fn loads_raw_and_gzip_directories() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        write_dataset(dir.path(), compress);
        let data = Dataset::from_dir(dir.path()).expect("valid dataset");
        assert_eq!(data.train.len(), 3);
        assert_eq!(data.test.len(), 2);
        assert_eq!(data.train.labels(), &[7, 0, 9]);
        assert_eq!(data.train.image(0), &[0, 255, 51, 102]);
    }
}

#[test]
fn batch_scales_to_unit_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), false);
    let data = Dataset::from_dir(dir.path()).expect("valid dataset");
    let device = Device::flex();
    let batch = data.train.batch(&[0, 2], &device).expect("batch");
    assert_eq!(batch.dims(), [2, 1, 2, 2]);
    let values = batch.into_data().try_into_vec::<f32>().expect("f32 data");
    assert_eq!(values[0], 0.0);
    assert_eq!(values[1], 1.0);
    assert!((values[2] - 0.2).abs() < 1e-6); // 51 / 255
    assert!((values[4] - 5.0 / 255.0).abs() < 1e-6);
}

#[test]
fn batch_rejects_bad_index_and_empty() {
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let device = Device::flex();
    let err = data.test.batch(&[0, 1_000], &device).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::IndexOutOfRange {
                index: 1_000,
                len: 1_000
            }
        ),
        "{err}"
    );
    let err = data.test.batch(&[], &device).unwrap_err();
    assert!(matches!(err, DataError::ZeroBatchSize), "{err}");
}

#[test]
fn batch_indices_cover_every_image_once() {
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let batches = data.test.batch_indices(128, Some(3)).expect("batches");
    assert_eq!(batches.len(), 8); // ceil(1000 / 128)
    assert_eq!(batches[7].len(), 1_000 - 7 * 128);
    let mut all: Vec<usize> = batches.concat();
    assert_ne!(all[..10], (0..10).collect::<Vec<_>>()[..], "shuffled");
    all.sort_unstable();
    assert_eq!(all, (0..1_000).collect::<Vec<_>>());
    let again = data.test.batch_indices(128, Some(3)).expect("batches");
    assert_eq!(batches, again, "same seed, same order");
    assert!(matches!(
        data.test.batch_indices(0, None),
        Err(DataError::ZeroBatchSize)
    ));
}

#[test]
fn missing_directory_is_not_found() {
    let err = Dataset::from_dir(Path::new("/nonexistent/mnist")).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/mnist"));
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), false);
    std::fs::remove_file(dir.path().join(TEST_LABELS)).expect("remove");
    let err = Dataset::from_dir(dir.path()).unwrap_err();
    match &err {
        DataError::MissingFile { name, .. } => assert_eq!(name, TEST_LABELS),
        other => panic!("expected MissingFile, got {other:?}"),
    }
}

#[test]
fn label_count_mismatch_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), false);
    std::fs::write(dir.path().join(TRAIN_LABELS), idx_bytes(&[2], &[1, 2])).expect("write");
    let err = Dataset::from_dir(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn truncated_gzip_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), true);
    let path = dir.path().join(format!("{TRAIN_IMAGES}.gz"));
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let err = Dataset::from_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, DataError::Io { .. } | DataError::Truncated { .. }),
        "{err}"
    );
}

#[test]
fn swapped_files_fail_on_magic() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), false);
    // A label file where images are expected.
    std::fs::copy(dir.path().join(TEST_LABELS), dir.path().join(TEST_IMAGES)).expect("copy");
    let err = Dataset::from_dir(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 0x0801,
                expected: 0x0803,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn label_above_nine_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), false);
    std::fs::write(dir.path().join(TEST_LABELS), idx_bytes(&[2], &[1, 12])).expect("write");
    let err = Dataset::from_dir(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 1,
                label: 12,
                ..
            }
        ),
        "{err}"
    );
}

use std::path::PathBuf;

/// Errors raised while reading IDX files or assembling a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or directory does not exist.
    #[error("{path}: not found; pass a directory that contains the four MNIST-format IDX files")]
    NotFound {
        /// The path that was looked up.
        path: PathBuf,
    },
    /// A directory lacks one of the standard file names, with or without `.gz`.
    #[error(
        "{dir}: missing `{name}` (or `{name}.gz`); the directory must hold the four standard IDX files"
    )]
    MissingFile {
        /// The directory that was searched.
        dir: PathBuf,
        /// The expected file name without the `.gz` suffix.
        name: String,
    },
    /// Reading or decompressing failed for another reason.
    #[error("{path}: read failed: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A gzip-compressed file announces or expands to more than [`crate::MAX_DECOMPRESSED_BYTES`].
    #[error(
        "{path}: decompresses to more than {limit} bytes, larger than any IDX dataset this \
         reader expects; if the file is genuine, decompress it with `gunzip` and pass the raw file"
    )]
    DecompressedTooLarge {
        /// The file being read.
        path: PathBuf,
        /// The cap in bytes.
        limit: usize,
    },
    /// The first four bytes are not an IDX header for unsigned bytes.
    #[error(
        "{path}: invalid IDX magic number 0x{found:08x}; expected 0x{expected:08x} \
         (unsigned-byte IDX file of rank {rank}); is this the right file, and is it complete?"
    )]
    BadMagic {
        /// The file being read.
        path: PathBuf,
        /// The magic number found.
        found: u32,
        /// The magic number expected for the requested rank.
        expected: u32,
        /// The expected rank.
        rank: usize,
    },
    /// The file ends before its header or its payload is complete.
    #[error(
        "{path}: truncated: the header announces {expected} bytes but only {found} are present; re-download or re-extract the file"
    )]
    Truncated {
        /// The file being read.
        path: PathBuf,
        /// Number of bytes the header requires.
        expected: usize,
        /// Number of bytes present.
        found: usize,
    },
    /// Bytes follow the announced payload.
    #[error(
        "{path}: {extra} unexpected bytes after the announced payload; the file is corrupt or not an IDX file"
    )]
    TrailingBytes {
        /// The file being read.
        path: PathBuf,
        /// Number of surplus bytes.
        extra: usize,
    },
    /// The dimensions are zero, overflow, or differ from what the caller requires.
    #[error("{path}: invalid dimensions {found:?}; {reason}")]
    BadDimensions {
        /// The file being read.
        path: PathBuf,
        /// The dimensions in the header.
        found: Vec<usize>,
        /// Expected dimensions.
        reason: String,
    },
    /// Images and labels of one split disagree in count.
    #[error(
        "{split} split: {images} images but {labels} labels; the image and label files do not belong together"
    )]
    CountMismatch {
        /// `train` or `test`.
        split: String,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label lies outside 0..=9.
    #[error("{path}: label {label} at index {index} is outside 0..=9")]
    BadLabel {
        /// The file being read.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The offending value.
        label: u8,
    },
    /// A request for a batch named an index past the end of the set.
    #[error("image index {index} is out of range for a set of {len} images")]
    IndexOutOfRange {
        /// The requested index.
        index: usize,
        /// The number of images in the set.
        len: usize,
    },
    /// A batch size of zero was requested.
    #[error("batch size must be at least 1, got 0")]
    ZeroBatchSize,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

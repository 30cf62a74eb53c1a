//! Datasets for csvae: an IDX reader (raw and gzip), the embedded 10,000-digit MNIST sample,
//! any directory holding the four standard IDX files (full MNIST, Fashion-MNIST), and batching
//! into burn tensors of shape `[batch, 1, height, width]` with values in [0, 1].
//!
//! ```
//! let data = csvae_data::Dataset::embedded_mnist().expect("the embedded sample parses");
//! assert_eq!(data.train.len(), 9_000);
//! assert_eq!(data.test.len(), 1_000);
//! assert_eq!((data.test.height(), data.test.width()), (28, 28));
//! ```

mod dataset;
mod error;
pub mod fs;
mod idx;

pub use dataset::{Dataset, ImageSet, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
pub use error::{DataError, Result};
pub use idx::{IdxArray, MAX_DECOMPRESSED_BYTES, idx_magic, parse_idx, read_idx_file};

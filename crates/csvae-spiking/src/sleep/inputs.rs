//! The images that drive a sleep phase, kept on the host.

use burn::tensor::Tensor;

use crate::error::SpikingError;
use crate::layers::read_f32;

/// Images for sleep, on the host, with values in `[0, 1]`.
///
/// # Shapes
///
/// - values: row-major `[images, channels, height, width]`
#[derive(Debug, Clone, PartialEq)]
pub struct SleepInputs {
    values: Vec<f32>,
    shape: [usize; 4],
}

impl SleepInputs {
    /// Wraps a row-major buffer of images.
    ///
    /// # Errors
    ///
    /// [`SpikingError::InputShape`] when the buffer length does not match `shape` or `shape`
    /// contains no image, and [`SpikingError::InvalidSleepInput`] for the first value that is NaN
    /// or outside `[0, 1]`.
    pub fn new(values: Vec<f32>, shape: [usize; 4]) -> Result<Self, SpikingError> {
        let length: usize = shape.iter().product();
        if length == 0 || values.len() != length {
            return Err(SpikingError::InputShape {
                input: "sleep images".to_string(),
                expected: shape.to_vec(),
                actual: vec![values.len()],
            });
        }
        if let Some((index, &value)) = values
            .iter()
            .enumerate()
            .find(|(_, value)| !(0.0..=1.0).contains(*value))
        {
            return Err(SpikingError::InvalidSleepInput { index, value });
        }
        Ok(Self { values, shape })
    }

    /// Copies a tensor of images to the host.
    ///
    /// # Shapes
    ///
    /// - `images`: `[images, channels, height, width]`, values in `[0, 1]`
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when the tensor cannot be read back, and the errors of
    /// [`SleepInputs::new`].
    pub fn from_tensor(images: Tensor<4>) -> Result<Self, SpikingError> {
        let shape = images.dims();
        let values = read_f32(images.into_data(), "sleep images")?;
        Self::new(values, shape)
    }

    /// Returns the shape `[images, channels, height, width]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Returns the number of images.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Returns true when there is no image; [`SleepInputs::new`] never builds such a value.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Returns image `index`, row-major `[channels, height, width]`.
    ///
    /// # Panics
    ///
    /// Panics when `index` is not below [`SleepInputs::len`].
    pub fn image(&self, index: usize) -> &[f32] {
        assert!(
            index < self.len(),
            "image {index} requested from {} sleep images",
            self.len()
        );
        let size = self.image_size();
        &self.values[index * size..(index + 1) * size]
    }

    /// Returns the pixel-wise mean of the images, row-major `[channels, height, width]`.
    pub fn mean_image(&self) -> Vec<f32> {
        let size = self.image_size();
        let mut sums = vec![0.0f64; size];
        for image in self.values.chunks_exact(size) {
            for (sum, &value) in sums.iter_mut().zip(image) {
                *sum += f64::from(value);
            }
        }
        let count = self.len() as f64;
        sums.into_iter().map(|sum| (sum / count) as f32).collect()
    }

    fn image_size(&self) -> usize {
        self.shape[1..].iter().product()
    }
}

//! Host copies of tensors, the form in which weights are folded, scaled and recorded.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TransferError};

/// A tensor copied to host memory: shape and row-major `f32` values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostTensor {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values, row-major; `values.len()` is the product of `shape`.
    pub values: Vec<f32>,
}

impl HostTensor {
    /// Copies a burn tensor to the host. `layer` labels errors.
    ///
    /// # Errors
    /// [`TransferError::TensorData`] when the values cannot be read as `f32`.
    pub fn from_tensor<const D: usize>(tensor: Tensor<D>, layer: &str) -> Result<Self> {
        let shape = tensor.dims().to_vec();
        let values =
            tensor
                .into_data()
                .try_into_vec::<f32>()
                .map_err(|e| TransferError::TensorData {
                    layer: layer.to_string(),
                    message: format!("{e:?}"),
                })?;
        Ok(Self { shape, values })
    }

    /// Moves the values to `device` as a tensor of rank `D`.
    ///
    /// # Errors
    /// [`TransferError::ShapeMismatch`] when the rank is not `D`.
    pub fn to_tensor<const D: usize>(&self, device: &Device, layer: &str) -> Result<Tensor<D>> {
        let dims: [usize; D] = self.shape.clone().try_into().map_err(|shape: Vec<usize>| {
            TransferError::ShapeMismatch {
                layer: layer.to_string(),
                expected: vec![0; D],
                found: shape,
            }
        })?;
        Ok(Tensor::from_data(
            TensorData::new(self.values.clone(), dims),
            device,
        ))
    }

    /// Checks that the values fill the shape and are finite.
    ///
    /// # Errors
    /// [`TransferError::ShapeMismatch`] or [`TransferError::NonFinite`].
    pub fn check(&self, layer: &str, what: &str) -> Result<()> {
        let expected: usize = self.shape.iter().product();
        if expected != self.values.len() {
            return Err(TransferError::ShapeMismatch {
                layer: format!("{layer}.{what}"),
                expected: self.shape.clone(),
                found: vec![self.values.len()],
            });
        }
        check_finite(&self.values, layer, what)
    }

    /// Multiplies the values in place by `factors[c]`, where `c` is the index along `axis`.
    pub(crate) fn scale_axis(&mut self, axis: usize, factors: &[f64]) {
        let inner: usize = self.shape[axis + 1..].iter().product();
        let size = self.shape[axis];
        for (i, value) in self.values.iter_mut().enumerate() {
            let channel = (i / inner) % size;
            *value = (f64::from(*value) * factors[channel]) as f32;
        }
    }

    /// Multiplies every value in place by `factor`.
    pub(crate) fn scale(&mut self, factor: f64) {
        for value in &mut self.values {
            *value = (f64::from(*value) * factor) as f32;
        }
    }
}

/// Checks that every value is finite.
///
/// # Errors
/// [`TransferError::NonFinite`] naming the first bad index.
pub fn check_finite(values: &[f32], layer: &str, what: &str) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(TransferError::NonFinite {
            layer: layer.to_string(),
            what: what.to_string(),
            index,
            value: f64::from(values[index]),
        }),
        None => Ok(()),
    }
}

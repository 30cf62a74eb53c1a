//! Folding batch norm into the preceding layer, and unfolding it again.
//!
//! For output channel `c` of a layer followed by batch norm (Ioffe and Szegedy 2015, in
//! inference mode):
//!
//! ```text
//! scale_c = gamma_c / sqrt(var_c + eps)
//! W'_c    = W_c * scale_c
//! b'_c    = beta_c + (b_c - mean_c) * scale_c        (b_c = 0 when the layer has no bias)
//! ```
//!
//! The output channel is axis 0 of a Conv2d weight `[out, in, kh, kw]` and axis 1 of a
//! ConvTranspose2d weight `[in, out, kh, kw]`. Unfolding divides `scale_c` back out of the
//! weight and leaves the batch-norm constants as they were.

use burn::nn::BatchNorm;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TransferError};
use crate::host::{HostTensor, check_finite};

/// The inference-mode constants of one batch-norm layer, kept so that folding can be undone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNormConstants {
    /// Learned gain gamma, one per channel.
    pub gamma: Vec<f32>,
    /// Learned shift beta, one per channel.
    pub beta: Vec<f32>,
    /// Running mean.
    pub running_mean: Vec<f32>,
    /// Running (biased, as burn keeps it) variance.
    pub running_var: Vec<f32>,
    /// Epsilon added to the variance.
    pub epsilon: f64,
}

impl BatchNormConstants {
    /// Copies the constants of a burn batch-norm layer. `layer` labels errors.
    ///
    /// # Errors
    /// [`TransferError::TensorData`] or [`TransferError::NonFinite`].
    pub fn from_module(bn: &BatchNorm, layer: &str) -> Result<Self> {
        let read = |tensor, what: &str| -> Result<Vec<f32>> {
            let host = HostTensor::from_tensor::<1>(tensor, layer)?;
            check_finite(&host.values, layer, what)?;
            Ok(host.values)
        };
        Ok(Self {
            gamma: read(bn.gamma.val(), "batch-norm gamma")?,
            beta: read(bn.beta.val(), "batch-norm beta")?,
            running_mean: read(bn.running_mean.value(), "batch-norm running mean")?,
            running_var: read(bn.running_var.value(), "batch-norm running variance")?,
            epsilon: bn.epsilon,
        })
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.gamma.len()
    }

    /// Returns `gamma_c / sqrt(var_c + eps)` per channel.
    pub fn scales(&self) -> Vec<f64> {
        self.gamma
            .iter()
            .zip(&self.running_var)
            .map(|(&g, &v)| f64::from(g) / (f64::from(v) + self.epsilon).sqrt())
            .collect()
    }
}

/// Folds batch norm into a weight (and optional bias) whose output channel lies on
/// `channel_axis`. Returns the folded weight and bias.
///
/// # Errors
/// [`TransferError::ShapeMismatch`] when the channel counts differ.
pub fn fold_batch_norm(
    weight: &HostTensor,
    bias: Option<&[f32]>,
    bn: &BatchNormConstants,
    channel_axis: usize,
    layer: &str,
) -> Result<(HostTensor, Vec<f32>)> {
    let channels = weight.shape[channel_axis];
    if bn.channels() != channels || bias.is_some_and(|b| b.len() != channels) {
        return Err(TransferError::ShapeMismatch {
            layer: format!("{layer}_bn"),
            expected: vec![channels],
            found: vec![bn.channels()],
        });
    }
    let scales = bn.scales();
    let mut folded = weight.clone();
    folded.scale_axis(channel_axis, &scales);
    let folded_bias = (0..channels)
        .map(|c| {
            let b = bias.map_or(0.0, |b| f64::from(b[c]));
            (f64::from(bn.beta[c]) + (b - f64::from(bn.running_mean[c])) * scales[c]) as f32
        })
        .collect();
    Ok((folded, folded_bias))
}

/// Divides the batch-norm scale back out of a folded weight.
///
/// # Errors
/// [`TransferError::ZeroBatchNormScale`] when a channel's scale is zero or not finite.
pub fn unfold_batch_norm(
    folded: &HostTensor,
    bn: &BatchNormConstants,
    channel_axis: usize,
    layer: &str,
) -> Result<HostTensor> {
    let scales = bn.scales();
    let mut inverse = Vec::with_capacity(scales.len());
    for (channel, &scale) in scales.iter().enumerate() {
        if scale == 0.0 || !scale.is_finite() {
            return Err(TransferError::ZeroBatchNormScale {
                layer: layer.to_string(),
                channel,
                scale,
            });
        }
        inverse.push(1.0 / scale);
    }
    let mut weight = folded.clone();
    weight.scale_axis(channel_axis, &inverse);
    Ok(weight)
}

/// Returns the bias that folding produces for a layer without its own bias.
pub fn folded_bias(bn: &BatchNormConstants) -> Vec<f32> {
    bn.scales()
        .iter()
        .enumerate()
        .map(|(c, s)| (f64::from(bn.beta[c]) - f64::from(bn.running_mean[c]) * s) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constants() -> BatchNormConstants {
        BatchNormConstants {
            gamma: vec![2.0, 0.5],
            beta: vec![0.1, -0.3],
            running_mean: vec![1.0, -2.0],
            running_var: vec![3.0, 0.0],
            epsilon: 1.0,
        }
    }

    #[test]
    fn fold_hand_values_on_axis_zero() {
        // scale = 2 / sqrt(4) = 1 and 0.5 / sqrt(1) = 0.5.
        let weight = HostTensor {
            shape: vec![2, 1, 1, 2],
            values: vec![1.0, 2.0, 3.0, 4.0],
        };
        let (folded, bias) = fold_batch_norm(&weight, None, &constants(), 0, "conv").expect("fold");
        assert_eq!(folded.values, vec![1.0, 2.0, 1.5, 2.0]);
        // b' = beta - mean * scale: 0.1 - 1 = -0.9 and -0.3 + 2 * 0.5 = 0.7.
        assert!((bias[0] + 0.9).abs() < 1e-6);
        assert!((bias[1] - 0.7).abs() < 1e-6);
        assert_eq!(bias, folded_bias(&constants()));
    }

    #[test]
    fn fold_uses_axis_one_for_transposed() {
        let weight = HostTensor {
            shape: vec![1, 2, 1, 2],
            values: vec![1.0, 2.0, 3.0, 4.0],
        };
        let (folded, _) = fold_batch_norm(&weight, None, &constants(), 1, "deconv").expect("fold");
        assert_eq!(folded.values, vec![1.0, 2.0, 1.5, 2.0]);
        let (folded, _) = fold_batch_norm(
            &HostTensor {
                shape: vec![2, 2, 1, 1],
                values: vec![1.0, 2.0, 3.0, 4.0],
            },
            None,
            &constants(),
            1,
            "deconv",
        )
        .expect("fold");
        assert_eq!(folded.values, vec![1.0, 1.0, 3.0, 2.0]);
    }

    #[test]
    fn fold_keeps_existing_bias() {
        let weight = HostTensor {
            shape: vec![2, 1],
            values: vec![1.0, 1.0],
        };
        let (_, bias) =
            fold_batch_norm(&weight, Some(&[1.0, 0.0]), &constants(), 0, "fc").expect("fold");
        // beta + (b - mean) * scale: 0.1 + 0 = 0.1 and -0.3 + 2 * 0.5 = 0.7.
        assert!((bias[0] - 0.1).abs() < 1e-6);
        assert!((bias[1] - 0.7).abs() < 1e-6);
    }

    #[test]
    fn unfold_inverts_fold() {
        let weight = HostTensor {
            shape: vec![2, 3, 1, 1],
            values: vec![0.3, -1.2, 0.7, 2.5, -0.1, 0.05],
        };
        let (folded, _) = fold_batch_norm(&weight, None, &constants(), 0, "conv").expect("fold");
        let back = unfold_batch_norm(&folded, &constants(), 0, "conv").expect("unfold");
        for (a, b) in weight.values.iter().zip(&back.values) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0));
        }
    }

    #[test]
    fn zero_gamma_cannot_be_unfolded() {
        let mut bn = constants();
        bn.gamma[1] = 0.0;
        let weight = HostTensor {
            shape: vec![2, 1],
            values: vec![1.0, 1.0],
        };
        let err = unfold_batch_norm(&weight, &bn, 0, "conv2").unwrap_err();
        assert!(
            matches!(err, TransferError::ZeroBatchNormScale { channel: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn channel_mismatch_is_reported() {
        let weight = HostTensor {
            shape: vec![3, 1],
            values: vec![1.0; 3],
        };
        let err = fold_batch_norm(&weight, None, &constants(), 0, "conv1").unwrap_err();
        assert!(err.to_string().contains("conv1_bn"), "{err}");
    }
}

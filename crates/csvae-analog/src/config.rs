//! The architecture configuration of the analog CVAE.

use serde::{Deserialize, Serialize};

use crate::error::{AnalogError, Result};

/// Side length of the square input images the architecture is built for. The paddings of conv1
/// (k4 s2 p3: 28 -> 16) and deconv3 (16 -> 28) fix it.
pub const IMAGE_SIZE: usize = 28;

/// Side length of the conv3 feature maps: 28 -> 28 -> 16 -> 8 -> 4.
pub const BOTTLENECK_SIZE: usize = 4;

/// Architecture of the convolutional VAE.
///
/// The encoder is conv0..conv3 (each Conv2d without bias, then batch norm and ReLU) followed by
/// the two linear heads fc21 (mu) and fc22 (log-variance). The decoder mirrors it: fc3 and ReLU,
/// then deconv1..deconv3 (ConvTranspose2d, batch norm, ReLU) and deconv4 with a sigmoid.
///
/// ```text
/// layer    operation                        output (VAE18)
/// conv0    Conv2d c_in->c0   k5 s1 p2       64 x 28 x 28
/// conv1    Conv2d c0->c1     k4 s2 p3       64 x 16 x 16
/// conv2    Conv2d c1->c2     k4 s2 p1      128 x  8 x  8
/// conv3    Conv2d c2->c3     k4 s2 p1      256 x  4 x  4
/// fc21/22  Linear 16*c3->latent            128
/// fc3      Linear latent->16*c3            4096 -> 256 x 4 x 4
/// deconv1  ConvTranspose2d c3->c2 k4 s2 p1 128 x  8 x  8
/// deconv2  ConvTranspose2d c2->c1 k4 s2 p1  64 x 16 x 16
/// deconv3  ConvTranspose2d c1->c0 k4 s2 p3  64 x 28 x 28
/// deconv4  ConvTranspose2d c0->c_in k5 s1 p2 1 x 28 x 28
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CvaeConfig {
    /// Channels of the input image. Default: 1.
    pub input_channels: usize,
    /// Output channels of conv0..conv3; the decoder mirrors them. Default: `[64, 64, 128, 256]`.
    pub channels: [usize; 4],
    /// Size of the latent code z. Default: 128.
    pub latent_dim: usize,
    /// Batch-norm epsilon added to the variance. Default: 1e-5.
    pub bn_epsilon: f64,
    /// Batch-norm momentum of the running statistics. Default: 0.1.
    pub bn_momentum: f64,
}

impl Default for CvaeConfig {
    fn default() -> Self {
        Self::vae18()
    }
}

impl CvaeConfig {
    /// Returns the VAE18 preset: channels 64, 64, 128, 256 and a 128-dimensional latent code.
    pub fn vae18() -> Self {
        Self {
            input_channels: 1,
            channels: [64, 64, 128, 256],
            latent_dim: 128,
            bn_epsilon: 1e-5,
            bn_momentum: 0.1,
        }
    }

    /// Returns a narrow variant with the same layer geometry, for tests and quick runs.
    pub fn small(channels: [usize; 4], latent_dim: usize) -> Self {
        Self {
            channels,
            latent_dim,
            ..Self::vae18()
        }
    }

    /// Number of features of the flattened conv3 output, the input of fc21 and fc22.
    pub fn flat_dim(&self) -> usize {
        self.channels[3] * BOTTLENECK_SIZE * BOTTLENECK_SIZE
    }

    /// Checks that every size is positive and the batch-norm constants are usable.
    ///
    /// # Errors
    /// [`AnalogError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &str, value: String, expected: &str| {
            Err(AnalogError::InvalidConfig {
                field: field.to_string(),
                value,
                expected: expected.to_string(),
            })
        };
        if self.input_channels == 0 {
            return invalid("input_channels", "0".into(), "at least 1");
        }
        if self.channels.contains(&0) {
            return invalid(
                "channels",
                format!("{:?}", self.channels),
                "every width at least 1",
            );
        }
        if self.latent_dim == 0 {
            return invalid("latent_dim", "0".into(), "at least 1");
        }
        if !(self.bn_epsilon.is_finite() && self.bn_epsilon > 0.0) {
            return invalid(
                "bn_epsilon",
                self.bn_epsilon.to_string(),
                "a finite positive number",
            );
        }
        if !(self.bn_momentum.is_finite() && (0.0..=1.0).contains(&self.bn_momentum)) {
            return invalid(
                "bn_momentum",
                self.bn_momentum.to_string(),
                "a number in [0, 1]",
            );
        }
        Ok(())
    }
}

//! Activation statistics for threshold balancing (data-based normalisation).
//!
//! Each ReLU layer `l` gets a scale `lambda_l`: the `p`-th percentile (or the maximum) of its
//! positive activations over a calibration set (Diehl et al. 2015; Rueckauer et al. 2017 for
//! the percentile). Dividing by `lambda_l` maps most activations into [0, 1], the range of a
//! firing rate. Zeros are left out because a ReLU layer is mostly silent, and including them
//! would pull a percentile towards 0.

use std::time::Instant;

use burn::tensor::Device;
use csvae_analog::Cvae;
use csvae_data::ImageSet;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TransferError};
use crate::host::HostTensor;

/// The ReLU layers of the CVAE, in network order.
pub const RELU_LAYERS: [&str; 8] = [
    "conv0", "conv1", "conv2", "conv3", "fc3", "deconv1", "deconv2", "deconv3",
];

/// The statistic of positive activations that becomes a layer's scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScaleStatistic {
    /// The largest activation: no rate saturates, but a single outlier lowers every rate.
    Max,
    /// The nearest-rank percentile, `p` in (0, 100]. 99.9 is the usual choice.
    Percentile {
        /// The percentile.
        p: f64,
    },
}

impl Default for ScaleStatistic {
    fn default() -> Self {
        ScaleStatistic::Percentile { p: 99.9 }
    }
}

/// Settings of [`calibrate`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationConfig {
    /// Number of images taken from the start of the set. Default: 500.
    pub images: usize,
    /// Statistic of the positive activations. Default: the 99.9th percentile.
    pub statistic: ScaleStatistic,
    /// Images per forward pass. Default: 100.
    pub batch_size: usize,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            images: 500,
            statistic: ScaleStatistic::default(),
            batch_size: 100,
        }
    }
}

/// One activation scale `lambda` per ReLU layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActivationScales {
    /// Scale of conv0's activations.
    pub conv0: f64,
    /// Scale of conv1's activations.
    pub conv1: f64,
    /// Scale of conv2's activations.
    pub conv2: f64,
    /// Scale of conv3's activations.
    pub conv3: f64,
    /// Scale of fc3's activations.
    pub fc3: f64,
    /// Scale of deconv1's activations.
    pub deconv1: f64,
    /// Scale of deconv2's activations.
    pub deconv2: f64,
    /// Scale of deconv3's activations.
    pub deconv3: f64,
}

impl ActivationScales {
    /// Scales given explicitly, in the order of [`RELU_LAYERS`], for users without
    /// calibration data.
    ///
    /// # Errors
    /// [`TransferError::InvalidScale`] for a zero, negative or non-finite scale.
    pub fn explicit(scales: [f64; 8]) -> Result<Self> {
        let [conv0, conv1, conv2, conv3, fc3, deconv1, deconv2, deconv3] = scales;
        let result = Self {
            conv0,
            conv1,
            conv2,
            conv3,
            fc3,
            deconv1,
            deconv2,
            deconv3,
        };
        result.validate()?;
        Ok(result)
    }

    /// `(layer, scale)` pairs in network order.
    pub fn by_layer(&self) -> [(&'static str, f64); 8] {
        [
            ("conv0", self.conv0),
            ("conv1", self.conv1),
            ("conv2", self.conv2),
            ("conv3", self.conv3),
            ("fc3", self.fc3),
            ("deconv1", self.deconv1),
            ("deconv2", self.deconv2),
            ("deconv3", self.deconv3),
        ]
    }

    /// Returns the scale of `layer`, or `None` for a layer without ReLU.
    pub fn get(&self, layer: &str) -> Option<f64> {
        self.by_layer()
            .into_iter()
            .find(|(name, _)| *name == layer)
            .map(|(_, scale)| scale)
    }

    /// Checks that every scale is finite and positive.
    ///
    /// # Errors
    /// [`TransferError::InvalidScale`] naming the first bad layer.
    pub fn validate(&self) -> Result<()> {
        for (layer, scale) in self.by_layer() {
            if !(scale.is_finite() && scale > 0.0) {
                return Err(TransferError::InvalidScale {
                    layer: layer.to_string(),
                    scale,
                });
            }
        }
        Ok(())
    }
}

/// Returns the nearest-rank statistic of `values` (consumed; reordered).
fn statistic_of(mut values: Vec<f32>, statistic: ScaleStatistic) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    match statistic {
        ScaleStatistic::Max => f64::from(values.iter().cloned().fold(f32::MIN, f32::max)),
        ScaleStatistic::Percentile { p } => {
            // The small offset keeps products such as 0.999 * 1000 = 999.0000000000001 from
            // rounding up a whole rank.
            let rank = ((p / 100.0) * values.len() as f64 - 1e-9).ceil() as usize;
            let index = rank.clamp(1, values.len()) - 1;
            let (_, value, _) = values.select_nth_unstable_by(index, f32::total_cmp);
            f64::from(*value)
        }
    }
}

/// Runs the CVAE (z = mu) on the first `config.images` images of `set` and returns each ReLU
/// layer's activation scale.
///
/// # Errors
/// [`TransferError::InvalidConfig`] for zero images, batch size or a percentile outside
/// (0, 100]; [`TransferError::InvalidScale`] when a layer never activates.
pub fn calibrate(
    model: &Cvae,
    set: &ImageSet,
    config: &CalibrationConfig,
    device: &Device,
) -> Result<ActivationScales> {
    let invalid = |field: &str, value: String, expected: &str| TransferError::InvalidConfig {
        field: field.into(),
        value,
        expected: expected.into(),
    };
    if config.images == 0 || set.is_empty() {
        return Err(invalid(
            "calibration images",
            config.images.min(set.len()).to_string(),
            "at least 1 image",
        ));
    }
    if config.batch_size == 0 {
        return Err(invalid("calibration batch_size", "0".into(), "at least 1"));
    }
    if let ScaleStatistic::Percentile { p } = config.statistic
        && !(p > 0.0 && p <= 100.0)
    {
        return Err(invalid("percentile", p.to_string(), "a number in (0, 100]"));
    }

    let start = Instant::now();
    let subset = set.take(config.images);
    let mut positives: Vec<Vec<f32>> = vec![Vec::new(); RELU_LAYERS.len()];
    for indices in subset.batch_indices(config.batch_size, None)? {
        let activations = model.layer_activations(subset.batch(&indices, device)?)?;
        for (slot, (name, tensor)) in positives.iter_mut().zip(activations.layers) {
            let host = HostTensor::from_tensor(tensor, name)?;
            slot.extend(host.values.into_iter().filter(|&v| v > 0.0));
        }
    }
    let mut scales = [0.0; 8];
    for (scale, values) in scales.iter_mut().zip(positives) {
        *scale = statistic_of(values, config.statistic);
    }
    let scales = ActivationScales::explicit(scales)?;
    log::info!(
        "calibrated {} layers on {} images in {:.1} s: {:?}",
        RELU_LAYERS.len(),
        subset.len(),
        start.elapsed().as_secs_f64(),
        scales
    );
    Ok(scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let values: Vec<f32> = (1..=1000).map(|v| v as f32).collect();
        // ceil(0.999 * 1000) = 999th value.
        assert_eq!(
            statistic_of(values.clone(), ScaleStatistic::Percentile { p: 99.9 }),
            999.0
        );
        assert_eq!(
            statistic_of(values.clone(), ScaleStatistic::Percentile { p: 50.0 }),
            500.0
        );
        assert_eq!(
            statistic_of(values.clone(), ScaleStatistic::Percentile { p: 100.0 }),
            1000.0
        );
        assert_eq!(statistic_of(values, ScaleStatistic::Max), 1000.0);
    }

    #[test]
    fn explicit_scales_are_validated() {
        assert!(ActivationScales::explicit([1.0; 8]).is_ok());
        let err = ActivationScales::explicit([1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]).unwrap_err();
        assert!(
            matches!(err, TransferError::InvalidScale { ref layer, .. } if layer == "conv2"),
            "{err}"
        );
        let err =
            ActivationScales::explicit([1.0, 1.0, 1.0, 1.0, 1.0, f64::NAN, 1.0, 1.0]).unwrap_err();
        assert!(
            matches!(err, TransferError::InvalidScale { ref layer, .. } if layer == "deconv1"),
            "{err}"
        );
    }
}

//! The conversion record: every constant needed to undo a conversion exactly.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::calibrate::{ActivationScales, CalibrationConfig};
use crate::error::{Result, TransferError};
use crate::fold::BatchNormConstants;

/// Version of the record layout; bumped when a field changes meaning.
pub const RECORD_VERSION: u32 = 1;

/// The two equivalent forms of threshold balancing.
///
/// With `lambda_in` and `lambda_out` the activation scales of a layer's input and output and
/// `W'`, `b'` its batch-norm-folded weight and bias:
///
/// ```text
/// ScaledWeights:   W~ = W' * lambda_in / lambda_out   b~ = b' / lambda_out   v_threshold = 1
/// LayerThresholds: W~ = W'                            b~ = b' / lambda_in    v_threshold = lambda_out / lambda_in
/// ```
///
/// The second is the first multiplied through by `lambda_out / lambda_in`, so both give the
/// same spikes up to float rounding (with the initial membrane scaled alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancingForm {
    /// Scale the weights and keep every threshold at 1. Default.
    #[default]
    ScaledWeights,
    /// Keep the folded weights and set per-layer thresholds.
    LayerThresholds,
}

/// The kind of synaptic layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Conv2d, weight `[out, in, kh, kw]`.
    Conv2d,
    /// ConvTranspose2d, weight `[in, out, kh, kw]`.
    ConvTranspose2d,
    /// Linear, weight `[in, out]` (burn's layout).
    Linear,
}

/// Whether a layer's neurons spike or accumulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerRole {
    /// IF neurons with a threshold.
    Spiking,
    /// A non-spiking accumulator (fc21, fc22, deconv4).
    Readout,
}

/// Conversion constants of one layer: `W~ = W' * weight_factor`, `b~ = b' * bias_factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Layer path, as in both networks (`conv0`, `fc21`, `deconv4`, ...).
    pub name: String,
    /// The layer kind.
    pub kind: LayerKind,
    /// Spiking or readout.
    pub role: LayerRole,
    /// Shape of the weight.
    pub weight_shape: Vec<usize>,
    /// Whether the analog layer has its own bias (Linear layers do, convolutions do not).
    pub analog_bias: bool,
    /// Batch-norm constants folded into the layer, if any.
    pub batch_norm: Option<BatchNormConstants>,
    /// Activation scale of the layer's input (1 for images and for z).
    pub lambda_in: f64,
    /// Activation scale of the layer's output (1 for readouts).
    pub lambda_out: f64,
    /// Factor from folded to spiking weight.
    pub weight_factor: f64,
    /// Factor from folded to spiking bias.
    pub bias_factor: f64,
    /// Firing threshold of the layer's neurons (1 for readouts, which do not fire).
    pub v_threshold: f64,
    /// The folded bias `b'` before the bias factor, kept to detect bias changes.
    pub folded_bias: Vec<f32>,
}

/// Everything a conversion did, saved as JSON beside the spiking weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionRecord {
    /// Layout version, [`RECORD_VERSION`].
    pub version: u32,
    /// The balancing form used.
    pub form: BalancingForm,
    /// The calibration settings, or `None` for explicit scales.
    pub calibration: Option<CalibrationConfig>,
    /// The activation scales.
    pub scales: ActivationScales,
    /// One entry per synaptic layer, in network order.
    pub layers: Vec<LayerRecord>,
}

impl ConversionRecord {
    /// Returns the entry of `name`.
    ///
    /// # Errors
    /// [`TransferError::MissingLayer`].
    pub fn layer(&self, name: &str) -> Result<&LayerRecord> {
        self.layers
            .iter()
            .find(|layer| layer.name == name)
            .ok_or_else(|| TransferError::MissingLayer {
                layer: name.to_string(),
                source_name: "the conversion record".into(),
            })
    }

    /// Checks the version, every scale and factor, and the batch-norm constants.
    ///
    /// # Errors
    /// [`TransferError::InvalidConfig`] for another version, [`TransferError::InvalidScale`] and
    /// [`TransferError::NonFinite`] for bad numbers.
    pub fn validate(&self) -> Result<()> {
        if self.version != RECORD_VERSION {
            return Err(TransferError::InvalidConfig {
                field: "record version".into(),
                value: self.version.to_string(),
                expected: format!("{RECORD_VERSION}; convert the network again with this version"),
            });
        }
        self.scales.validate()?;
        for layer in &self.layers {
            for (what, value) in [
                ("lambda_in", layer.lambda_in),
                ("lambda_out", layer.lambda_out),
                ("weight_factor", layer.weight_factor),
                ("bias_factor", layer.bias_factor),
                ("v_threshold", layer.v_threshold),
            ] {
                if !(value.is_finite() && value > 0.0) {
                    return Err(TransferError::InvalidScale {
                        layer: format!("{}.{what}", layer.name),
                        scale: value,
                    });
                }
            }
            crate::host::check_finite(&layer.folded_bias, &layer.name, "folded bias")?;
            if let Some(bn) = &layer.batch_norm {
                for (what, values) in [
                    ("batch-norm gamma", &bn.gamma),
                    ("batch-norm beta", &bn.beta),
                    ("batch-norm running mean", &bn.running_mean),
                    ("batch-norm running variance", &bn.running_var),
                ] {
                    crate::host::check_finite(values, &layer.name, what)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the record as pretty JSON, atomically.
    ///
    /// # Errors
    /// [`TransferError::Io`].
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| TransferError::Format {
            path: path.to_path_buf(),
            format: "JSON conversion record",
            message: e.to_string(),
        })?;
        csvae_data::fs::write_atomic(path, text.as_bytes()).map_err(|source| TransferError::Io {
            path: path.to_path_buf(),
            action: "write",
            source,
        })
    }

    /// Reads and validates a record written by [`ConversionRecord::save`].
    ///
    /// # Errors
    /// [`TransferError::Io`], [`TransferError::Format`], and the errors of
    /// [`ConversionRecord::validate`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TransferError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        let record: Self = serde_json::from_str(&text).map_err(|e| TransferError::Format {
            path: path.to_path_buf(),
            format: "JSON conversion record",
            message: e.to_string(),
        })?;
        record.validate()?;
        Ok(record)
    }
}

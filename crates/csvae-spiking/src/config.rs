//! Simulation settings and per-layer network parameters (thresholds, readout scales).

use csvae_encoding::Encoder;
use serde::{Deserialize, Serialize};

use crate::engine::ExecutionPath;
use crate::error::SpikingError;
use crate::neuron::{InitialMembrane, ResetMode};

/// The first time steps that the readout accumulators skip while deeper layers settle.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReadoutWarmUp {
    /// Average over all time steps. Default.
    #[default]
    Off,
    /// Skip a fixed number of steps.
    Steps {
        /// Steps skipped; fewer than the simulation's time steps.
        steps: usize,
    },
    /// Skip `floor(fraction * time_steps)` steps; 0.5 averages over the second half.
    Fraction {
        /// Fraction of the steps skipped, in `[0, 1)`.
        fraction: f32,
    },
}

impl ReadoutWarmUp {
    /// Returns the number of skipped steps for a simulation of `time_steps` steps.
    ///
    /// # Errors
    ///
    /// [`SpikingError::InvalidWarmUpFraction`] for a fraction outside `[0, 1)`, and
    /// [`SpikingError::WarmUpTooLong`] when no step would be left to average.
    pub fn skipped_steps(&self, time_steps: usize) -> Result<usize, SpikingError> {
        let skipped_steps = match *self {
            Self::Off => 0,
            Self::Steps { steps } => steps,
            Self::Fraction { fraction } => {
                if !(0.0..1.0).contains(&fraction) {
                    return Err(SpikingError::InvalidWarmUpFraction { fraction });
                }
                (f64::from(fraction) * time_steps as f64).floor() as usize
            }
        };
        if skipped_steps >= time_steps {
            return Err(SpikingError::WarmUpTooLong {
                skipped_steps,
                time_steps,
            });
        }
        Ok(skipped_steps)
    }
}

/// Readout of the image from the output layer `deconv4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputReadout {
    /// `sigmoid(scale * mean current)`, where the mean over the readout window of deconv4's
    /// output current is taken. Values in (0, 1), like the analog network. Default.
    #[default]
    MeanCurrent,
    /// deconv4's current drives IF neurons with threshold
    /// [`NeuronThresholds::deconv4`], and the image is their spike count divided by the number
    /// of averaged steps. Values in `[0, 1]`; the readout scale is not used. It approximates
    /// `clamp(current / v_threshold, 0, 1)`, not a sigmoid.
    SpikeCount,
}

/// Choice of the latent code `z` from the readouts `mu` and `logvar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LatentSampling {
    /// `z = mu`, as the analog network in evaluation. Default.
    #[default]
    Mean,
    /// `z = mu + exp(logvar / 2) * eps` with `eps ~ N(0, I)` drawn on the host from a seeded
    /// `StdRng`.
    Sample {
        /// Seed of the noise `eps`.
        seed: u64,
    },
}

/// Settings of one CSVAE simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// Time steps `T` of the encoder and, afterwards, of the decoder. Default: 32.
    pub time_steps: usize,
    /// Reset of every IF neuron. Default: [`ResetMode::Subtract`].
    pub reset: ResetMode,
    /// Initial membrane potential of every IF neuron. Default: [`InitialMembrane::Zero`].
    pub initial_membrane: InitialMembrane,
    /// Steps the readouts skip before averaging. Default: [`ReadoutWarmUp::Off`].
    pub warm_up: ReadoutWarmUp,
    /// Readout of the image. Default: [`OutputReadout::MeanCurrent`].
    pub output_readout: OutputReadout,
    /// Choice of `z`. Default: [`LatentSampling::Mean`].
    pub latent_sampling: LatentSampling,
    /// Encoder of the input images. Default: Bernoulli with `max_rate` 1.
    pub input_encoder: Encoder,
    /// Seed of the input encoder. Default: 0.
    pub input_seed: u64,
    /// Implementation of the layer steps. Default: [`ExecutionPath::Auto`], which is the
    /// event-driven path on the CPU backends. Missing in JSON written before this field
    /// existed, so it deserialises to the default there.
    #[serde(default)]
    pub execution_path: ExecutionPath,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        Self {
            time_steps: 32,
            reset: ResetMode::Subtract,
            initial_membrane: InitialMembrane::Zero,
            warm_up: ReadoutWarmUp::Off,
            output_readout: OutputReadout::MeanCurrent,
            latent_sampling: LatentSampling::Mean,
            input_encoder: Encoder::default(),
            input_seed: 0,
            execution_path: ExecutionPath::Auto,
        }
    }
}

impl SimulationConfig {
    /// Checks the settings and returns the number of steps the readout warm-up skips.
    ///
    /// # Errors
    ///
    /// [`SpikingError::ZeroTimeSteps`], the errors of [`ReadoutWarmUp::skipped_steps`], and
    /// [`SpikingError::Encoding`] for invalid encoder parameters.
    pub fn validate(&self) -> Result<usize, SpikingError> {
        if self.time_steps == 0 {
            return Err(SpikingError::ZeroTimeSteps);
        }
        self.input_encoder.validate()?;
        self.warm_up.skipped_steps(self.time_steps)
    }
}

/// Firing thresholds `v_threshold` of the IF neurons, per layer whose current drives them.
///
/// Threshold balancing either scales the weights and keeps every threshold at 1, or keeps the
/// weights and sets these thresholds instead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NeuronThresholds {
    /// Neurons after conv0. Default: 1.0.
    pub conv0: f32,
    /// Neurons after conv1. Default: 1.0.
    pub conv1: f32,
    /// Neurons after conv2. Default: 1.0.
    pub conv2: f32,
    /// Neurons after conv3. Default: 1.0.
    pub conv3: f32,
    /// Neurons after fc3 (driven by `z`). Default: 1.0.
    pub fc3: f32,
    /// Neurons after deconv1. Default: 1.0.
    pub deconv1: f32,
    /// Neurons after deconv2. Default: 1.0.
    pub deconv2: f32,
    /// Neurons after deconv3. Default: 1.0.
    pub deconv3: f32,
    /// Output neurons of [`OutputReadout::SpikeCount`]; unused by the mean-current readout.
    /// Default: 1.0.
    pub deconv4: f32,
}

impl Default for NeuronThresholds {
    fn default() -> Self {
        Self::uniform(1.0)
    }
}

impl NeuronThresholds {
    /// Returns thresholds that are all `v_threshold`.
    pub fn uniform(v_threshold: f32) -> Self {
        Self {
            conv0: v_threshold,
            conv1: v_threshold,
            conv2: v_threshold,
            conv3: v_threshold,
            fc3: v_threshold,
            deconv1: v_threshold,
            deconv2: v_threshold,
            deconv3: v_threshold,
            deconv4: v_threshold,
        }
    }

    /// Returns `(layer name, threshold)` pairs in network order.
    pub fn by_layer(&self) -> [(&'static str, f32); 9] {
        [
            ("conv0", self.conv0),
            ("conv1", self.conv1),
            ("conv2", self.conv2),
            ("conv3", self.conv3),
            ("fc3", self.fc3),
            ("deconv1", self.deconv1),
            ("deconv2", self.deconv2),
            ("deconv3", self.deconv3),
            ("deconv4", self.deconv4),
        ]
    }

    /// Checks that every threshold is finite and above 0.
    ///
    /// # Errors
    ///
    /// [`SpikingError::InvalidThreshold`] naming the first invalid layer.
    pub fn validate(&self) -> Result<(), SpikingError> {
        for (layer, v_threshold) in self.by_layer() {
            if !v_threshold.is_finite() || v_threshold <= 0.0 {
                return Err(SpikingError::InvalidThreshold {
                    layer: layer.to_string(),
                    v_threshold,
                });
            }
        }
        Ok(())
    }
}

/// Factors that the readouts multiply their mean current by.
///
/// A readout of a threshold-balanced network undoes the scale of its input layer, so the
/// conversion sets each factor to the activation scale `lambda` of the layer feeding it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadoutScales {
    /// Factor of the `mu` readout. Default: 1.0.
    pub fc21: f32,
    /// Factor of the `logvar` readout. Default: 1.0.
    pub fc22: f32,
    /// Factor of the image readout, applied before the sigmoid. Default: 1.0.
    pub deconv4: f32,
}

impl Default for ReadoutScales {
    fn default() -> Self {
        Self {
            fc21: 1.0,
            fc22: 1.0,
            deconv4: 1.0,
        }
    }
}

impl ReadoutScales {
    /// Checks that every scale is finite.
    ///
    /// # Errors
    ///
    /// [`SpikingError::InvalidReadoutScale`] naming the first invalid readout.
    pub fn validate(&self) -> Result<(), SpikingError> {
        for (readout, scale) in [
            ("fc21", self.fc21),
            ("fc22", self.fc22),
            ("deconv4", self.deconv4),
        ] {
            if !scale.is_finite() {
                return Err(SpikingError::InvalidReadoutScale {
                    readout: readout.to_string(),
                    scale,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_skipped_steps() {
        assert_eq!(ReadoutWarmUp::Off.skipped_steps(8), Ok(0));
        assert_eq!(ReadoutWarmUp::Steps { steps: 3 }.skipped_steps(8), Ok(3));
        // floor(0.5 * 9) = 4.
        assert_eq!(
            ReadoutWarmUp::Fraction { fraction: 0.5 }.skipped_steps(9),
            Ok(4)
        );
        assert_eq!(
            ReadoutWarmUp::Steps { steps: 8 }.skipped_steps(8),
            Err(SpikingError::WarmUpTooLong {
                skipped_steps: 8,
                time_steps: 8
            })
        );
        assert_eq!(
            ReadoutWarmUp::Fraction { fraction: 1.0 }.skipped_steps(8),
            Err(SpikingError::InvalidWarmUpFraction { fraction: 1.0 })
        );
    }

    #[test]
    fn config_rejects_zero_steps() {
        let config = SimulationConfig {
            time_steps: 0,
            ..SimulationConfig::default()
        };
        assert_eq!(config.validate(), Err(SpikingError::ZeroTimeSteps));
    }

    #[test]
    fn thresholds_reject_nonpositive() {
        let thresholds = NeuronThresholds {
            deconv2: 0.0,
            ..NeuronThresholds::default()
        };
        assert_eq!(
            thresholds.validate(),
            Err(SpikingError::InvalidThreshold {
                layer: "deconv2".to_string(),
                v_threshold: 0.0
            })
        );
        assert_eq!(NeuronThresholds::default().validate(), Ok(()));
    }

    #[test]
    fn config_serde_round_trip() {
        let config = SimulationConfig {
            warm_up: ReadoutWarmUp::Fraction { fraction: 0.5 },
            latent_sampling: LatentSampling::Sample { seed: 3 },
            output_readout: OutputReadout::SpikeCount,
            ..SimulationConfig::default()
        };
        let json = serde_json::to_string(&config).expect("serialise");
        let back: SimulationConfig = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, config);
    }
}

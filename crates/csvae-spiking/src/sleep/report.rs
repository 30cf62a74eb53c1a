//! Results of a sleep phase: progress after each input, the final report and the early-stop
//! reason.

use serde::{Deserialize, Serialize};

use super::config::LearningRates;
use crate::model::Csvae;

/// Reason a sleep stopped before presenting every input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EarlyStop {
    /// A layer's relative weight change passed [`super::RunawayGuard::max_relative_change`].
    RelativeChange {
        /// The layer, such as `conv2`.
        layer: String,
        /// `||W - W_start|| / ||W_start||` after the input that passed the limit.
        relative_change: f64,
        /// The limit.
        limit: f64,
    },
    /// A layer's firing rate over one input passed [`super::RunawayGuard::max_firing_rate`].
    FiringRate {
        /// The layer.
        layer: String,
        /// Spikes per neuron and step over that input.
        firing_rate: f64,
        /// The limit.
        limit: f64,
    },
    /// A layer stayed silent for [`super::RunawayGuard::max_silent_inputs`] inputs in a row.
    SilentLayer {
        /// The layer.
        layer: String,
        /// Consecutive inputs without a spike in that layer.
        inputs: usize,
    },
}

impl std::fmt::Display for EarlyStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RelativeChange {
                layer,
                relative_change,
                limit,
            } => write!(
                f,
                "{layer} changed by {:.2}% of its weight norm, past the limit of {:.2}%",
                relative_change * 100.0,
                limit * 100.0
            ),
            Self::FiringRate {
                layer,
                firing_rate,
                limit,
            } => write!(
                f,
                "{layer} fired in {:.1}% of steps over one input, past the limit of {:.1}%",
                firing_rate * 100.0,
                limit * 100.0
            ),
            Self::SilentLayer { layer, inputs } => {
                write!(f, "{layer} stayed silent for {inputs} inputs in a row")
            }
        }
    }
}

/// Per-layer state after one input, passed to the progress callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerProgress {
    /// The layer, such as `conv0`.
    pub layer: String,
    /// Spikes per neuron and step during the last input; `None` for a layer that does not run
    /// (a mirrored decoder layer).
    pub firing_rate: Option<f64>,
    /// `||W - W_start|| / ||W_start||` after the last input; `None` for a layer whose weights
    /// do not change.
    pub relative_change: Option<f64>,
}

/// The state of a sleep after each input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepProgress {
    /// Inputs presented so far.
    pub inputs_presented: usize,
    /// Inputs in the configuration.
    pub inputs_total: usize,
    /// Time steps run so far.
    pub steps_run: usize,
    /// Learning rates used for the last input.
    pub rates: LearningRates,
    /// Spikes per input neuron and step during the last input.
    pub input_firing_rate: f64,
    /// Every reported layer, in network order.
    pub layers: Vec<LayerProgress>,
}

/// The summary of one layer over a whole sleep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSleepReport {
    /// The layer, such as `conv0` or `deconv4`.
    pub layer: String,
    /// The encoder layer whose weight change this decoder layer received (mirrored mode), or
    /// `None` for a layer that learns from its own spikes or does not learn.
    pub mirror_of: Option<String>,
    /// Whether the layer's weights may change during this sleep.
    pub plastic: bool,
    /// Frobenius norm `||W_start||` of the weight before sleep.
    pub weight_norm: f64,
    /// Frobenius norm `||W_end - W_start||` of the weight change kept in the returned network.
    pub change_norm: f64,
    /// `change_norm / weight_norm` (0 when both are 0).
    pub relative_change: f64,
    /// Spikes of the layer's neurons over every step run; `None` when its neurons do not run.
    pub spikes: Option<u64>,
    /// Spikes per neuron and step over every step run; `None` when its neurons do not run.
    pub firing_rate: Option<f64>,
    /// Potentiation events computed for this layer (see [`super::StdpUpdate`]).
    pub potentiation_events: u64,
    /// Depression events computed for this layer.
    pub depression_events: u64,
}

/// The summary of a sleep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepReport {
    /// Inputs presented, including one that triggered an early stop.
    pub inputs_presented: usize,
    /// Inputs whose weight changes the returned network keeps: all presented inputs, or one
    /// fewer after an early stop.
    pub inputs_applied: usize,
    /// Time steps run.
    pub steps_run: usize,
    /// Learning rates of the last input presented.
    pub final_rates: LearningRates,
    /// Spikes per input neuron and step over every step run.
    pub input_firing_rate: f64,
    /// The layers that ran or changed, in network order (conv0..conv3, fc21, then fc3 and
    /// deconv1..deconv4 unless the decoder is frozen). fc22 never changes and is not listed.
    pub layers: Vec<LayerSleepReport>,
    /// Reason for an early stop, or `None` when the sleep presented every input.
    pub early_stop: Option<EarlyStop>,
}

impl SleepReport {
    /// Returns the report of layer `name`, if listed.
    pub fn layer(&self, name: &str) -> Option<&LayerSleepReport> {
        self.layers.iter().find(|layer| layer.layer == name)
    }
}

/// The result of a sleep: the network with its new weights, and the report.
#[derive(Debug, Clone)]
pub struct SleepOutcome {
    /// The input network with the slept weights; thresholds, readout scales and biases are
    /// unchanged.
    pub network: Csvae,
    /// Summary of the sleep.
    pub report: SleepReport,
}

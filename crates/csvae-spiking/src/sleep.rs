//! The sleep phase: unsupervised spike-timing-dependent plasticity (STDP) on the CSVAE's
//! weights, after Tadros et al. (2022, "Sleep-like unsupervised replay reduces catastrophic
//! forgetting in artificial neural networks") and Talafha et al. (2020, "Biologically Inspired
//! Sleep Algorithm for Variational Auto-Encoders", the VAE paper). The published code of the
//! VAE paper does not run, so the rules below are our specification, built from both papers.
//!
//! # Network during sleep
//!
//! The encoder runs as IF neurons with batch 1. The input spikes drive conv0, and conv0..conv3
//! and fc21 each drive IF neurons with their own sleep threshold ([`SleepThresholds`]). fc21,
//! a readout at inference, spikes during sleep only so that it can learn. fc22 never runs and
//! never changes. Each step, for every layer `l` in order (no delays):
//!
//! ```text
//! I_l[t] = W_l * s_(l-1)[t] (+ b_l if include_biases)
//! v_l <- v_l + I_l[t];  s_l[t] = 1 if v_l >= theta_l;  reset by subtraction or to zero
//! ```
//!
//! Membranes and traces restart at 0 at the start of every input. The input spikes are
//! Bernoulli draws with probability `p = x * max_rate` (or the Poisson form
//! `min(1, x * f_max * dt)`) for each pixel `x` of the current training image
//! ([`SleepInputMode::Images`]), or of the mean training image masked to a random square
//! window at each step ([`SleepInputMode::MaskedMeanImage`]). The maximum rate is the input
//! scale of sleep.
//!
//! # STDP
//!
//! When post-synaptic neuron `i` learns at step `t`, every synapse `w_ij` reaching it changes:
//!
//! ```text
//! w_ij += a_plus  * f(w_ij)   if pre-synaptic j fired at a step in t - window + 1 ..= t
//! w_ij -= a_minus * f(w_ij)   otherwise
//! ```
//!
//! with `f` from [`WeightDependence`]: 1 (additive); `w_n (1 - w_n)` with
//! `w_n = (w - w_min) / (w_max - w_min)` and the layer's `w_min`, `w_max` at the start of
//! sleep (soft bound); or `sigmoid(w)` (our definition after Tadros et al.). A shared
//! convolution weight sums these changes over every position ([`SharedWeightUpdate::Sum`], the
//! default) or averages them ([`SharedWeightUpdate::Mean`]); see [`StdpUpdate`] for the
//! counts. A neuron learns when it fires, or, with competition ([`CompetitionConfig`]), when it
//! is one of the winners. Every layer computes its change from the weights at the start of
//! the step, and all changes are added after the step. Weights change in the scaled spiking
//! domain of the network as given; biases never change.
//!
//! The rates follow [`RateSchedule`]: constant, or `a_plus` doubled every `N` inputs up to a
//! maximum with `a_minus / a_plus` fixed.
//!
//! # Decoder
//!
//! [`DecoderPlasticity::Mirrored`] (Burbank 2015, "Mirrored STDP Implements Autoencoder
//! Learning in a Network of Spiking Neurons") adds each encoder layer's change to its decoder
//! mirror: conv0 -> deconv4, conv1 -> deconv3, conv2 -> deconv2, conv3 -> deconv1, with the
//! same `[out, in, kh, kw]` / `[in, out, kh, kw]` layout, and fc21 -> fc3 transposed (burn's
//! linear weights are `[in, out]`). [`DecoderPlasticity::Independent`] runs fc3 on fc21's
//! spikes and deconv1..deconv4 as IF neurons, and each decoder layer learns from its own
//! spikes. [`DecoderPlasticity::Frozen`] leaves the decoder alone.
//!
//! # Runaway guard
//!
//! After each input the sleep reads every layer's firing rate and relative weight change
//! `||W - W_start|| / ||W_start||`; when a [`RunawayGuard`] limit is passed it stops, returns
//! the weights of the last input that passed, and reports the reason ([`EarlyStop`]). An
//! early stop is a result, not an error.
//!
//! # Cost
//!
//! Currents and STDP counts are tensor operations on the given device. Competition reads each
//! competing layer's potentials to the host once per step, and the input spikes are drawn on
//! the host. The run is deterministic for a given seed on a given backend.

mod competition;
mod config;
mod inputs;
mod neurons;
mod report;
mod run;
mod state;
mod stdp;

use burn::tensor::Device;

pub use competition::{pointwise_inhibition, select_top_k, select_winners};
pub use config::{
    CompetitionConfig, DecoderPlasticity, LayerRates, LearningRates, RateSchedule, RunawayGuard,
    SLEEP_LAYERS, SharedWeightUpdate, SleepConfig, SleepInputMode, SleepThresholds, StdpConfig,
    WeightDependence, Winners,
};
pub use inputs::SleepInputs;
pub use report::{
    EarlyStop, LayerProgress, LayerSleepReport, SleepOutcome, SleepProgress, SleepReport,
};
pub use stdp::{
    StdpRule, StdpUpdate, WeightRange, conv_transpose2d_stdp, conv2d_stdp, linear_stdp,
    weight_factor,
};

use crate::error::SpikingError;
use crate::model::Csvae;

/// Runs a sleep phase on `network` and returns the network with the new weights and a report.
///
/// `progress` is called after every input. The network's weights are copied to `device`; the
/// returned network lives there.
///
/// # Errors
///
/// - the errors of [`SleepConfig::validate`];
/// - [`SpikingError::InputShape`] when the images do not have the network's image shape;
/// - [`SpikingError::InvalidSleepParameter`] for a mask window larger than the image;
/// - [`SpikingError::MirrorShape`] in mirrored mode when a decoder layer's weight does not have
///   its encoder mirror's shape;
/// - [`SpikingError::DataRead`] when a tensor cannot be read back from the device.
pub fn sleep(
    network: &Csvae,
    inputs: &SleepInputs,
    config: &SleepConfig,
    device: &Device,
    progress: &mut dyn FnMut(&SleepProgress),
) -> Result<SleepOutcome, SpikingError> {
    run::run(network, inputs, config, device, progress)
}

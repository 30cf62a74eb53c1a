//! Integrate-and-fire (IF) neurons, spiking layers and the convolutional spiking VAE (CSVAE)
//! on burn tensors.
//!
//! The CSVAE mirrors the analog VAE18 CVAE layer by layer, with the same field names (`conv0`
//! .. `conv3`, `fc21`, `fc22`, `fc3`, `deconv1` .. `deconv4`), so that weights transfer by
//! name. Batch norm is folded into the weights and biases before they reach this crate.
//!
//! # Dynamics
//!
//! At each step every synaptic layer turns the spikes `s_in[t]` of the layer before it into a
//! current `I[t] = W * s_in[t] + b`, and IF neurons integrate it ([`neuron`] gives the charge,
//! fire and reset equations). Layers update in order within a step, without delays.
//!
//! - Encoder: the input encoder ([`csvae_encoding`]) feeds conv0; conv0..conv3 drive IF
//!   neurons. The readouts fc21 and fc22 are non-spiking accumulators:
//!   `mu = scale * mean_t(I_fc21[t])`, `logvar = scale * mean_t(I_fc22[t])`.
//! - `z = mu`, or `mu + exp(logvar / 2) * eps` ([`LatentSampling`]).
//! - Decoder: after the encoder's `T` steps, `z` enters fc3 as a constant current; fc3's
//!   output, reshaped to `[c3, h3, w3]`, drives IF neurons, then deconv1..deconv3 drive IF
//!   neurons, and the image is `sigmoid(scale * mean_t(I_deconv4[t]))` ([`OutputReadout`]).
//! - A readout warm-up ([`ReadoutWarmUp`]) averages over the last steps only.
//!
//! Spike trains, when materialised as one tensor, are time-major:
//! `[time_steps, batch, channels, height, width]`.
//!
//! # Execution
//!
//! The dense path computes every step as full tensor operations on any burn device. Library
//! code never names a backend; callers pass tensors created on their device, such as
//! `Device::flex()` with this crate's `flex` feature.
//!
//! The event-driven path ([`event`]) keeps membrane potentials in host buffers and, for each
//! input spike, adds its weight column to the currents it reaches, so its cost grows with the
//! number of spikes. Layers fed by analog values (conv0 with constant-current input, fc3 with
//! `z`) still compute their current with tensor operations, once per run.
//! [`SimulationConfig::execution_path`] chooses the path; by default ([`ExecutionPath::Auto`])
//! it is the event-driven one on the CPU backends flex and ndarray. Both paths give the same
//! statistics, and readouts equal up to float rounding.
//!
//! # Statistics
//!
//! Every run returns per-layer spike counts, firing rates, synaptic operations and the analog
//! network's MACs, counted with exact border fan-out ([`statistics`]).

mod config;
mod engine;
mod error;
pub mod event;
mod layers;
mod model;
pub mod neuron;
mod simulation;
pub mod sleep;
pub mod statistics;

pub use config::{
    LatentSampling, NeuronThresholds, OutputReadout, ReadoutScales, ReadoutWarmUp, SimulationConfig,
};
pub use csvae_encoding;
pub use engine::ExecutionPath;
pub use error::SpikingError;
pub use layers::{FanOut, SpikingConv2d, SpikingConvTranspose2d, SpikingLinear};
pub use model::{
    ConvGeometry, Csvae, CsvaeArchitecture, CsvaeLayers, DECODER_GEOMETRY, ENCODER_GEOMETRY,
};
pub use neuron::{IfParams, IfState, InitialMembrane, ResetMode};
pub use simulation::{
    CsvaeOutput, DecoderOutput, DecoderSimulation, EncoderOutput, EncoderSimulation,
};
pub use sleep::{SleepConfig, SleepInputs, SleepOutcome, SleepProgress, SleepReport, sleep};
pub use statistics::{
    EnergyEstimate, EnergyModel, InputKind, LayerStatistics, SimulationStatistics,
};

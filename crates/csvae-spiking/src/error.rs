//! The error type of the spiking crate.

use csvae_encoding::EncodingError;
use thiserror::Error;

/// Errors raised when spiking layers or a CSVAE are built or simulated with invalid input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpikingError {
    /// A bias does not have one value per output channel or feature.
    #[error(
        "layer {layer}: bias shape {bias:?} does not fit weight shape {weight:?}; expected [{expected}]"
    )]
    BiasShape {
        /// Name of the layer, such as `conv1`.
        layer: String,
        /// Shape of the weight.
        weight: Vec<usize>,
        /// Shape of the bias.
        bias: Vec<usize>,
        /// Expected bias length (output channels or features).
        expected: usize,
    },

    /// A weight does not fit the layer that feeds it or the layer it feeds.
    #[error(
        "layer {layer}: weight shape {actual:?} does not fit the network; expected {expected:?}"
    )]
    WeightShape {
        /// Name of the layer, such as `deconv2`.
        layer: String,
        /// The expected weight shape.
        expected: Vec<usize>,
        /// The weight shape found.
        actual: Vec<usize>,
    },

    /// A tensor given to a layer or network has the wrong shape.
    #[error("{input}: shape {actual:?} is invalid; expected {expected:?}")]
    InputShape {
        /// The input, such as `images` or `z`.
        input: String,
        /// The expected shape.
        expected: Vec<usize>,
        /// The shape found.
        actual: Vec<usize>,
    },

    /// A stride of zero, or a kernel larger than the padded input.
    #[error(
        "layer {layer}: kernel {kernel:?}, stride {stride:?} and padding {padding:?} give no output for input size {input_size:?}"
    )]
    Geometry {
        /// Name of the layer.
        layer: String,
        /// Kernel size `[height, width]`.
        kernel: [usize; 2],
        /// Stride `[height, width]`.
        stride: [usize; 2],
        /// Padding `[height, width]`.
        padding: [usize; 2],
        /// Input size `[height, width]`.
        input_size: [usize; 2],
    },

    /// A convolution has a zero stride.
    #[error("layer {layer}: stride is 0; use a stride of 1 or more")]
    ZeroStride {
        /// Name of the layer.
        layer: String,
    },

    /// A simulation was configured with zero time steps.
    #[error("time_steps is 0; a simulation needs at least one time step")]
    ZeroTimeSteps,

    /// The readout warm-up skips every time step.
    #[error(
        "readout warm-up skips {skipped_steps} of {time_steps} time steps; it must leave at least one step to average"
    )]
    WarmUpTooLong {
        /// Steps the warm-up skips.
        skipped_steps: usize,
        /// Time steps of the simulation.
        time_steps: usize,
    },

    /// The warm-up fraction lies outside `[0, 1)`.
    #[error("readout warm-up fraction {fraction} is outside [0, 1)")]
    InvalidWarmUpFraction {
        /// The invalid fraction.
        fraction: f32,
    },

    /// A firing threshold is zero, negative or not finite.
    #[error("layer {layer}: v_threshold {v_threshold} is invalid; use a finite value above 0")]
    InvalidThreshold {
        /// Name of the layer whose neurons use the threshold.
        layer: String,
        /// The invalid threshold.
        v_threshold: f32,
    },

    /// A readout scale is not finite.
    #[error("readout {readout}: scale {scale} is not finite")]
    InvalidReadoutScale {
        /// Name of the readout layer.
        readout: String,
        /// The invalid scale.
        scale: f32,
    },

    /// The encoder and the simulation disagree on the number of time steps.
    #[error(
        "the encoder produces {encoder_steps} time steps but the simulation runs {config_steps}; build the encoder with the simulation's time_steps"
    )]
    TimeStepsMismatch {
        /// Time steps of the encoder.
        encoder_steps: usize,
        /// Time steps of the simulation configuration.
        config_steps: usize,
    },

    /// Building the input encoder failed.
    #[error("input encoding failed: {0}")]
    Encoding(#[from] EncodingError),

    /// A sleep phase was configured with zero inputs or zero steps per input.
    #[error("sleep {field} is 0; a sleep phase needs at least one input and one step per input")]
    ZeroSleepLength {
        /// The field that is 0: `inputs` or `steps_per_input`.
        field: String,
    },

    /// An STDP learning rate is negative or not finite.
    #[error("STDP learning rate {name} = {value} is invalid; use a finite value of 0 or more")]
    InvalidLearningRate {
        /// The rate: `a_plus`, `a_minus`, `max_a_plus` or `layer_rates.<layer>`.
        name: String,
        /// The invalid value.
        value: f32,
    },

    /// The STDP window is 0 steps long, so no pre-synaptic spike could ever count.
    #[error("STDP window is 0 steps; use 1 (same step only) or more")]
    ZeroStdpWindow,

    /// Competition is on but a layer may have no winner.
    #[error(
        "competition in layer {layer} allows k = 0 winners; use k >= 1 or turn competition off"
    )]
    ZeroWinners {
        /// The layer, such as `conv2`.
        layer: String,
    },

    /// A per-layer sleep setting names a layer the sleep does not have.
    #[error(
        "unknown sleep layer `{layer}`; use conv0, conv1, conv2, conv3, fc21, fc3, deconv1, deconv2, deconv3 or deconv4"
    )]
    UnknownSleepLayer {
        /// The name given.
        layer: String,
    },

    /// A sleep parameter lies outside its valid range.
    #[error("sleep parameter {parameter} = {value} is invalid; expected {expected}")]
    InvalidSleepParameter {
        /// The parameter, such as `guard.max_relative_change`.
        parameter: String,
        /// The invalid value.
        value: f64,
        /// The valid range, in words.
        expected: String,
    },

    /// The sleep input encoder does not produce binary spikes.
    #[error(
        "sleep input encoder {encoder} is not supported; STDP needs binary input spikes, so use bernoulli or poisson"
    )]
    UnsupportedSleepEncoder {
        /// The encoder kind, such as `latency`.
        encoder: String,
    },

    /// A sleep input image value is NaN or outside `[0, 1]`.
    #[error("sleep input value {value} at index {index} is invalid; images must lie in [0, 1]")]
    InvalidSleepInput {
        /// Flat index of the value in the `[images, channels, height, width]` buffer.
        index: usize,
        /// The invalid value.
        value: f32,
    },

    /// An encoder layer and its decoder mirror have weights of different shapes.
    #[error(
        "mirrored sleep needs {decoder} to mirror {encoder}, but their weights are {decoder_shape:?} and {encoder_shape:?}"
    )]
    MirrorShape {
        /// The encoder layer, such as `conv1`.
        encoder: String,
        /// The decoder layer, such as `deconv3`.
        decoder: String,
        /// Weight shape of the encoder layer.
        encoder_shape: Vec<usize>,
        /// Weight shape of the decoder layer.
        decoder_shape: Vec<usize>,
    },

    /// Reading a tensor back from its device failed.
    #[error("reading {tensor} from the device failed: {message}")]
    DataRead {
        /// The tensor that was read, such as `conv1 spikes`.
        tensor: String,
        /// The message of burn's data error.
        message: String,
    },
}

use std::path::PathBuf;

/// Errors of the ANN <-> SNN transfer.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// A layer the transfer needs is absent from the record or the weights file.
    #[error(
        "layer `{layer}` is missing from {source_name}; the file does not belong to this network"
    )]
    MissingLayer {
        /// Path of the missing layer, such as `deconv2`.
        layer: String,
        /// Name of the searched source: `the conversion record` or a file.
        source_name: String,
    },
    /// A tensor's shape differs between the two networks or from the record.
    #[error("layer `{layer}`: shape mismatch, expected {expected:?} but found {found:?}")]
    ShapeMismatch {
        /// Path of the tensor, such as `conv1.weight`.
        layer: String,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A weight, bias, scale or batch-norm constant is NaN or infinite.
    #[error("layer `{layer}`: {what} contains a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// Path of the layer.
        layer: String,
        /// Which quantity.
        what: String,
        /// Position of the first bad value.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// An activation scale (lambda) is zero, negative or non-finite.
    #[error(
        "layer `{layer}`: invalid activation scale {scale}; scales must be finite and > 0 (a layer that never activates on the calibration data cannot be balanced: use more calibration images or explicit scales)"
    )]
    InvalidScale {
        /// Path of the layer.
        layer: String,
        /// The rejected scale.
        scale: f64,
    },
    /// A batch-norm gain of zero makes folding impossible to invert.
    #[error(
        "layer `{layer}`: batch-norm scale gamma / sqrt(var + eps) is {scale} for channel {channel}; folding cannot be inverted"
    )]
    ZeroBatchNormScale {
        /// Path of the layer.
        layer: String,
        /// The channel.
        channel: usize,
        /// The folded scale.
        scale: f64,
    },
    /// The spiking biases changed although the transfer back keeps batch norm fixed.
    #[error(
        "layer `{layer}`: bias changed by up to {max_change} since conversion; the transfer back keeps batch norm unchanged and can carry back only weight changes"
    )]
    BiasChanged {
        /// Path of the layer.
        layer: String,
        /// Largest absolute change.
        max_change: f64,
    },
    /// A calibration or conversion setting is out of range.
    #[error("invalid {field} = {value}: expected {expected}")]
    InvalidConfig {
        /// The field name.
        field: String,
        /// The rejected value.
        value: String,
        /// Accepted values.
        expected: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {action} failed: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// `read` or `write`.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record or weights file could not be decoded.
    #[error("{path}: invalid {format}: {message}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// `JSON conversion record` or `safetensors`.
        format: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// Reading a tensor back from the device failed.
    #[error("layer `{layer}`: reading tensor data failed: {message}")]
    TensorData {
        /// Path of the layer.
        layer: String,
        /// Message from burn.
        message: String,
    },
    /// An error of the analog network.
    #[error(transparent)]
    Analog(#[from] csvae_analog::AnalogError),
    /// An error of the spiking network.
    #[error(transparent)]
    Spiking(#[from] csvae_spiking::SpikingError),
    /// An error of the data crate.
    #[error(transparent)]
    Data(#[from] csvae_data::DataError),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, TransferError>;

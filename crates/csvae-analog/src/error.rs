use std::path::PathBuf;

/// Errors of the analog CVAE crate.
#[derive(Debug, thiserror::Error)]
pub enum AnalogError {
    /// A configuration field is out of range.
    #[error("invalid {field} = {value}: expected {expected}")]
    InvalidConfig {
        /// The field name.
        field: String,
        /// The rejected value.
        value: String,
        /// Accepted values.
        expected: String,
    },
    /// An input tensor has the wrong shape for this network.
    #[error("invalid input shape {found:?} for {what}: expected {expected}")]
    ShapeMismatch {
        /// The input being checked.
        what: String,
        /// The shape received.
        found: Vec<usize>,
        /// A description of the accepted shapes.
        expected: String,
    },
    /// A loss or metric came out NaN or infinite.
    #[error("{what} is not finite ({value}); lower the learning rate or check the input data")]
    NonFinite {
        /// The quantity that diverged.
        what: String,
        /// Its value.
        value: f64,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {action} failed: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// `read`, `write` or `rename`.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file could not be decoded or does not fit the configured network.
    #[error(
        "{path}: invalid checkpoint: {message}; was it written by this version for the same CvaeConfig?"
    )]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Message from burn.
        message: String,
    },
    /// A PyTorch or safetensors `state_dict` file could not be decoded or encoded.
    #[error("{path}: invalid {format} file: {message}")]
    StateDictFormat {
        /// The file involved.
        path: PathBuf,
        /// `PyTorch` or `safetensors`.
        format: &'static str,
        /// Message from the reader or writer.
        message: String,
    },
    /// A tensor the network needs is absent from a `state_dict`.
    #[error(
        "{path}: missing tensor `{key}`; export the state_dict of the VAE18 module, whose keys are conv0.weight, conv0_bn.weight, ..., deconv4.weight"
    )]
    MissingTensor {
        /// The file involved.
        path: PathBuf,
        /// The absent key.
        key: String,
    },
    /// A `state_dict` contains a tensor the network does not have.
    #[error(
        "{path}: unexpected tensor `{key}`; the network has no such parameter (remove it, or strip a prefix such as `module.` from the keys)"
    )]
    UnexpectedTensor {
        /// The file involved.
        path: PathBuf,
        /// The unknown key.
        key: String,
    },
    /// A tensor of a `state_dict` has the wrong shape.
    #[error(
        "{path}: tensor `{key}` has shape {found:?}, expected {expected}; the file was saved for other layer widths (pass the matching CvaeConfig, or none to infer it)"
    )]
    TensorShape {
        /// The file involved.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// The shape in the file.
        found: Vec<usize>,
        /// The shape the network needs.
        expected: String,
    },
    /// A tensor of a `state_dict` has the wrong element type.
    #[error(
        "{path}: tensor `{key}` has element type {found}, expected {expected}; convert the model with model.float() before saving"
    )]
    TensorDtype {
        /// The file involved.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// The element type in the file.
        found: String,
        /// The element type the network needs.
        expected: &'static str,
    },
    /// A tensor of a `state_dict` contains NaN or infinity.
    #[error(
        "{path}: tensor `{key}` holds {value} at flat index {index}; the weights are corrupt or training diverged, so export them again from a finite model"
    )]
    NonFiniteTensor {
        /// The file involved.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// Row-major index of the first bad value.
        index: usize,
        /// The bad value.
        value: f32,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The dataset could not be turned into batches.
    #[error(transparent)]
    Data(#[from] csvae_data::DataError),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, AnalogError>;

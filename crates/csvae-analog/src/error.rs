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
        /// What the field accepts.
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
    #[error("{path}: invalid checkpoint: {message}; was it written by this version for the same CvaeConfig?")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What burn reported.
        message: String,
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

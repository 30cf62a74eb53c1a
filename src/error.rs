use std::path::PathBuf;

/// Errors of the facade: backend selection, pictures, and the member crates' errors.
#[derive(Debug, thiserror::Error)]
pub enum CsvaeError {
    /// The requested backend is not a known name.
    #[error("unknown backend `{name}`; expected one of flex, ndarray, wgpu")]
    UnknownBackend {
        /// The rejected name.
        name: String,
    },
    /// The requested backend was not compiled into this build.
    #[error("backend `{backend}` is not compiled in; rebuild with `--features {backend}`")]
    BackendNotCompiled {
        /// The backend's name.
        backend: &'static str,
    },
    /// An image grid could not be assembled or encoded.
    #[error("{path}: cannot write image: {message}")]
    Image {
        /// The output file.
        path: PathBuf,
        /// Description of the failure.
        message: String,
    },
    /// Writing an output file failed.
    #[error("{path}: write failed: {source}")]
    Io {
        /// The output file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An argument is out of range.
    #[error("invalid {name}: {message}")]
    InvalidArgument {
        /// The argument.
        name: String,
        /// Description of the problem and of the accepted values.
        message: String,
    },
    /// Reading a tensor back from the device failed.
    #[error("reading tensor data failed: {message}")]
    TensorData {
        /// Message from burn.
        message: String,
    },
    /// A plot could not be drawn.
    #[error("{path}: plotting failed: {message}")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// Message from the plotting library.
        message: String,
    },
    /// An error of the data crate.
    #[error(transparent)]
    Data(#[from] csvae_data::DataError),
    /// An error of the analog crate.
    #[error(transparent)]
    Analog(#[from] csvae_analog::AnalogError),
    /// An error of the spiking crate.
    #[error(transparent)]
    Spiking(#[from] csvae_spiking::SpikingError),
    /// An error of the transfer crate.
    #[error(transparent)]
    Transfer(#[from] csvae_transfer::TransferError),
}

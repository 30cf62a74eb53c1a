//! The error type of the encoding crate.

use thiserror::Error;

/// Errors raised when an encoder is built from invalid parameters or input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EncodingError {
    /// An input value lies outside `[0, 1]`.
    #[error(
        "input value {value} at flat index {index} is outside [0, 1]; scale the images to [0, 1] before encoding"
    )]
    InputOutOfRange {
        /// Row-major index of the value in the `[batch, channels, height, width]` input.
        index: usize,
        /// The invalid value.
        value: f32,
    },

    /// An input value is NaN.
    #[error(
        "input value at flat index {index} is NaN; remove or replace NaN pixels before encoding"
    )]
    InputNan {
        /// Row-major index of the value in the `[batch, channels, height, width]` input.
        index: usize,
    },

    /// The encoder was asked for zero time steps.
    #[error("time_steps is 0; an encoder needs at least one time step")]
    ZeroTimeSteps,

    /// The maximum spike probability per step of the Bernoulli encoder lies outside `[0, 1]`.
    #[error("Bernoulli max_rate {max_rate} is outside [0, 1]; it is a spike probability per step")]
    InvalidMaxRate {
        /// The invalid maximum rate.
        max_rate: f32,
    },

    /// The maximum frequency of the Poisson encoder is negative or not finite.
    #[error(
        "Poisson max_frequency_hz {max_frequency_hz} is invalid; use a finite frequency of 0 Hz or more"
    )]
    InvalidMaxFrequency {
        /// The invalid frequency in hertz.
        max_frequency_hz: f32,
    },

    /// The time step of the Poisson encoder is negative or not finite.
    #[error(
        "Poisson dt_s {dt_s} is invalid; use a finite time step of 0 s or more (1 ms is 0.001)"
    )]
    InvalidTimeStep {
        /// The invalid time step in seconds.
        dt_s: f32,
    },

    /// Reading the input tensor back from its device failed.
    #[error("reading the input tensor from the device failed: {message}")]
    DataRead {
        /// The message of burn's data error.
        message: String,
    },
}

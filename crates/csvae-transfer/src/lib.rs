//! Weight transfer between the analog CVAE and its spiking twin (ANN <-> SNN).
//!
//! Analog to spiking ([`convert`]): fold batch norm into each convolution ([`fold`]), measure
//! each ReLU layer's activation scale on calibration images ([`calibrate`]) or take explicit
//! scales, and balance the firing thresholds ([`BalancingForm`]). The [`ConversionRecord`]
//! keeps every scale and folding constant.
//!
//! Spiking to analog ([`transfer_back`]): divide the scales out and unfold batch norm with the
//! recorded constants. Without changes in between, the round trip returns the original weights
//! up to float rounding.
//!
//! Only this crate depends on both networks: `csvae-analog` and `csvae-spiking` never depend on
//! each other. The two share layer names, so the transfer maps name to name.

pub mod calibrate;
mod convert;
mod error;
pub mod fold;
mod host;
mod record;
mod weights;

pub use calibrate::{ActivationScales, CalibrationConfig, RELU_LAYERS, ScaleStatistic, calibrate};
pub use convert::{BIAS_TOLERANCE, Conversion, convert, thresholds_of, transfer_back};
pub use error::{Result, TransferError};
pub use host::{HostTensor, check_finite};
pub use record::{
    BalancingForm, ConversionRecord, LayerKind, LayerRecord, LayerRole, RECORD_VERSION,
};
pub use weights::{load_spiking_weights, save_spiking_weights};

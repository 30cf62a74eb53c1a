//! Spike encoders that turn images into spike trains for spiking networks on burn.
//!
//! Every encoder takes an input of shape `[batch, channels, height, width]` with values in
//! `[0, 1]` and produces one tensor of the same shape per time step, so memory does not grow
//! with the number of time steps. Spike tensors contain 0.0 (no spike) or 1.0 (spike).
//!
//! | encoder | value at step `t` for a pixel `x` |
//! | --- | --- |
//! | [`Encoder::Bernoulli`] (default) | spike with probability `p = x * max_rate`, independently at every step |
//! | [`Encoder::Poisson`] | spike with probability `p = min(1, x * max_frequency_hz * dt_s)`, independently at every step |
//! | [`Encoder::ConstantCurrent`] | the analog value `x` itself at every step (no spikes) |
//! | [`Encoder::Latency`] | one spike at `t = round((1 - x) * (T - 1))`, none for `x = 0` |
//!
//! Random numbers come from a seeded [`rand::rngs::StdRng`] on the host, and the spikes are
//! then moved to the device, so one seed gives the same spikes on every burn backend.
//!
//! When a spike train is materialised as one tensor ([`SpikeEncoder::spike_train`]), it is
//! time-major: `[time_steps, batch, channels, height, width]`.
//!
//! ```
//! # #[cfg(feature = "flex")] {
//! use burn::tensor::{Device, Tensor, TensorData};
//! use csvae_encoding::{Encoder, SpikeEncoder};
//!
//! let device = Device::flex();
//! let image = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 0.5, 1.0, 1.0], [1, 1, 2, 2]), &device);
//! let mut encoder = SpikeEncoder::new(Encoder::Latency, image, 5, 7).expect("valid input");
//! let first = encoder.next_step().expect("5 steps remain");
//! // Pixels at 1.0 fire at t = round(0 * 4) = 0.
//! assert_eq!(first.into_data().try_into_vec_as::<f32>().expect("f32 data"), vec![0.0, 0.0, 1.0, 1.0]);
//! # }
//! ```

mod encoder;
mod error;

pub use encoder::{Encoder, SpikeEncoder};
pub use error::EncodingError;

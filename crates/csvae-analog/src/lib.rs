//! The analog convolutional VAE ("VAE18"): model, loss, training, evaluation metrics and
//! checkpoints.
//!
//! The network encodes a `[batch, 1, 28, 28]` image into a Gaussian posterior over a latent
//! code, samples z = mu + exp(logvar / 2) * eps during training (z = mu in evaluation), and
//! decodes z back into an image through transposed convolutions and a sigmoid. See
//! [`CvaeConfig`] for the layer table.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use csvae_analog::{CvaeConfig, TrainConfig, train};
//! use csvae_data::Dataset;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = Device::flex();
//! device.seed(42);
//! let data = Dataset::embedded_mnist()?;
//! let model = CvaeConfig::vae18().init(&device.clone().autodiff())?;
//! let (model, epochs) = train(model, &data.train, Some(&data.test), &TrainConfig::default(), &device, |_| {})?;
//! println!("test BCE per image: {:?}", epochs.last().and_then(|e| e.test).map(|t| t.bce));
//! # Ok(()) }
//! ```

mod checkpoint;
mod config;
mod error;
pub mod loss;
pub mod metrics;
mod model;
mod pytorch;
mod train;

pub use checkpoint::{load_checkpoint, load_json, save_checkpoint, save_json};
pub use config::{BOTTLENECK_SIZE, CvaeConfig, IMAGE_SIZE};
pub use error::{AnalogError, Result};
pub use model::{Cvae, CvaeOutput, LayerActivations, Posterior, standard_normal};
pub use pytorch::{StateDictFormat, export_safetensors, import_state_dict};
pub use train::{EpochRecord, EvalMetrics, TrainConfig, TrainEvent, derive_seed, evaluate, train};

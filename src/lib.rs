//! csvae: convolutional spiking variational autoencoders.
//!
//! This facade re-exports the member crates and adds what applications need around them:
//! run-time backend selection ([`Backend`]) and PNG image grids.
//!
//! | crate | role |
//! | --- | --- |
//! | [`data`] | IDX reader, the embedded MNIST sample, batching |
//! | [`analog`] | the analog CVAE: model, loss, training, metrics, checkpoints |
//! | [`encoding`] | spike encoders |
//! | [`spiking`] | IF neurons, spiking layers, the CSVAE and its statistics |
//! | [`transfer`] | batch-norm folding, threshold balancing, ANN <-> SNN transfer |
//!
//! [`pipeline::Pipeline`] runs every stage with one configuration. The stages also compose by
//! hand. This example trains a narrow CVAE briefly on the embedded digits, converts it, runs the
//! CSVAE on Bernoulli spikes, lets it sleep and transfers the weights back:
//!
//! ```
//! use burn::tensor::Device;
//! use csvae::analog::{CvaeConfig, TrainConfig, train};
//! use csvae::data::Dataset;
//! use csvae::spiking::SimulationConfig;
//! use csvae::spiking::sleep::{SleepConfig, SleepInputs, sleep};
//! use csvae::transfer::{BalancingForm, CalibrationConfig, calibrate, convert, transfer_back};
//!
//! # fn main() -> Result<(), csvae::CsvaeError> {
//! let device = Device::flex();
//! let data = Dataset::embedded_mnist()?;
//!
//! // 1. Train the analog CVAE (one short epoch here; five on VAE18 in the pipeline).
//! let model = CvaeConfig::small([8, 8, 16, 16], 8).init(&device)?;
//! let training = TrainConfig { epochs: 1, batch_size: 64, ..TrainConfig::default() };
//! let (model, _) = train(model, &data.train.take(256), None, &training, &device, |_| {})?;
//!
//! // 2. Fold batch norm and balance thresholds on calibration images.
//! let calibration = CalibrationConfig { images: 64, ..CalibrationConfig::default() };
//! let scales = calibrate(&model, &data.train, &calibration, &device)?;
//! let conversion = convert(&model, &scales, BalancingForm::ScaledWeights, None, &device)?;
//!
//! // 3 and 4. Run the CSVAE on 4 test digits, Bernoulli-encoded over 16 steps.
//! let images = data.test.batch(&[0, 1, 2, 3], &device)?;
//! let simulation = SimulationConfig { time_steps: 16, ..SimulationConfig::default() };
//! let output = conversion.network.run(images, &simulation)?;
//! assert_eq!(output.reconstruction.dims(), [4, 1, 28, 28]);
//!
//! // The sleep phase: STDP on the spiking weights, 3 training digits of 8 steps each.
//! let sleep_set = data.train.take(3);
//! let inputs = SleepInputs::new(sleep_set.batch_values(&[0, 1, 2])?, [3, 1, 28, 28])?;
//! let config = SleepConfig { inputs: 3, steps_per_input: 8, ..SleepConfig::converted_network() };
//! let outcome = sleep(&conversion.network, &inputs, &config, &device, &mut |_| {})?;
//! assert_eq!(outcome.report.inputs_presented, 3);
//!
//! // 5. Map the spiking weights back into a CVAE with the original architecture.
//! let slept = transfer_back(outcome.network.layers(), &conversion.record, &model)?;
//! assert_eq!(slept.latent_dim(), 8);
//! # Ok(())
//! # }
//! ```

pub mod backend;
pub mod controls;
mod error;
pub mod evaluation;
pub mod image_grid;
pub mod pipeline;
pub mod plot;
pub mod sweep;

pub use backend::Backend;
pub use csvae_analog as analog;
pub use csvae_data as data;
pub use csvae_encoding as encoding;
pub use csvae_spiking as spiking;
pub use csvae_transfer as transfer;
pub use error::CsvaeError;

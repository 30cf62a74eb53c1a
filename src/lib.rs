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

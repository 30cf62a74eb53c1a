//! csvae: convolutional spiking variational autoencoders.
//!
//! This facade re-exports the member crates and adds what applications need around them:
//! run-time backend selection ([`Backend`]) and PNG image grids.
//!
//! | crate | role |
//! | --- | --- |
//! | [`data`] | IDX reader, the embedded MNIST sample, batching |
//! | [`analog`] | the analog CVAE: model, loss, training, metrics, checkpoints |

pub mod backend;
mod error;
pub mod image_grid;

pub use backend::Backend;
pub use csvae_analog as analog;
pub use csvae_data as data;
pub use error::CsvaeError;

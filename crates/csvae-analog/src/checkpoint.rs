//! Checkpoints in burn's native format (burnpack) and JSON side files, written atomically.

use std::path::Path;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::CvaeConfig;
use crate::error::{AnalogError, Result};
use crate::model::Cvae;

/// Saves the network's parameters and batch-norm statistics to `path` (burnpack format).
///
/// The file is written to a temporary name and renamed, so a crash never leaves a half-written
/// checkpoint.
///
/// # Errors
/// [`AnalogError::Checkpoint`] when encoding fails, [`AnalogError::Io`] when writing fails.
pub fn save_checkpoint(model: &Cvae, path: &Path) -> Result<()> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| AnalogError::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    csvae_data::fs::write_atomic(path, &bytes).map_err(|source| AnalogError::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

/// Loads a checkpoint written by [`save_checkpoint`] into a network built from `config` on
/// `device`, in evaluation mode.
///
/// # Errors
/// [`AnalogError::Io`] for a missing or unreadable file, [`AnalogError::Checkpoint`] for a
/// corrupt file or one whose tensors do not fit `config` (the message names the tensor).
pub fn load_checkpoint(config: &CvaeConfig, path: &Path, device: &Device) -> Result<Cvae> {
    let bytes = std::fs::read(path).map_err(|source| AnalogError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    let checkpoint_error = |message: String| AnalogError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| checkpoint_error(e.to_string()))?;
    let model = config.init(device)?;
    let model = model
        .try_load_record(record)
        .map_err(|e| checkpoint_error(summarize_load_error(&e.to_string(), config)))?;
    Ok(model.valid())
}

/// Shortens burn's list of per-tensor shape mismatches, one entry per tensor, to a count, the
/// first entry and what to do.
fn summarize_load_error(message: &str, config: &CvaeConfig) -> String {
    let mismatches = message.matches("shape mismatch").count();
    if mismatches == 0 {
        return message.to_string();
    }
    let first = message
        .split('"')
        .find(|part| part.contains("shape mismatch"))
        .unwrap_or("");
    format!(
        "{mismatches} tensors have other shapes than the requested architecture (channels {:?}, \
         latent {}), first {first}; load the checkpoint with the model configuration it was \
         trained with, which its run folder's config.json records",
        config.channels, config.latent_dim
    )
}

/// Writes `value` as pretty JSON to `path`, atomically.
///
/// # Errors
/// [`AnalogError::Json`] or [`AnalogError::Io`].
pub fn save_json<T: Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| AnalogError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    csvae_data::fs::write_atomic(path, text.as_bytes()).map_err(|source| AnalogError::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

/// Reads a JSON file written by [`save_json`].
///
/// # Errors
/// [`AnalogError::Io`] or [`AnalogError::Json`].
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| AnalogError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| AnalogError::Json {
        path: path.to_path_buf(),
        source,
    })
}

//! The spiking-weights (safetensors) loader on arbitrary file contents.
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file(data, "safetensors");
    let _ = csvae_transfer::load_spiking_weights(&path, &Device::flex());
});

//! The PyTorch / safetensors state_dict importer on arbitrary file contents.
#![no_main]

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file(data, "pt");
    let _ = csvae_analog::import_state_dict(&path, None, &Device::flex());
});

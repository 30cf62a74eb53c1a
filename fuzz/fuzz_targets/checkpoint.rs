//! The burnpack checkpoint loader on arbitrary file contents.
#![no_main]

use burn::tensor::Device;
use csvae_analog::CvaeConfig;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file(data, "bpk");
    let config = CvaeConfig::small([2, 2, 2, 2], 2);
    let _ = csvae_analog::load_checkpoint(&config, &path, &Device::flex());
});

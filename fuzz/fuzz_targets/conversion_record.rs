//! The JSON conversion-record loader and its validation on arbitrary file contents.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::scratch_file(data, "json");
    if let Ok(record) = csvae_transfer::ConversionRecord::load(&path) {
        // A record that loads must also yield thresholds without panicking.
        let _ = csvae_transfer::thresholds_of(&record);
    }
});

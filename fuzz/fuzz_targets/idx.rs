//! The IDX parser on raw bytes, and the file reader, which also takes the gzip path.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&rank, bytes)) = data.split_first() else {
        return;
    };
    // MNIST uses ranks 1 and 3; a few more keep the header arithmetic exercised.
    let rank = usize::from(rank % 6);
    let _ = csvae_data::parse_idx(bytes, rank, Path::new("fuzz.idx"));

    let path = common::scratch_file(bytes, "idx.gz");
    let _ = csvae_data::read_idx_file(&path, rank);
});

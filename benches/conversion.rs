//! Criterion bench of the ANN-to-SNN conversion of VAE18: calibration (the activation
//! percentiles over the calibration images) plus batch-norm folding and threshold balancing.
//!
//! ```text
//! cargo bench --bench conversion
//! ```

use std::time::Duration;

use burn::module::Module;
use criterion::{Criterion, criterion_group, criterion_main};
use csvae::Backend;
use csvae::analog::CvaeConfig;
use csvae::data::Dataset;
use csvae::transfer::{BalancingForm, CalibrationConfig, calibrate, convert};

/// Backend the bench runs on.
const BACKEND: Backend = Backend::Flex;
/// Training images the calibration runs through the CVAE.
const CALIBRATION_IMAGES: usize = 100;

fn conversion(criterion: &mut Criterion) {
    let device = BACKEND.device().expect("the default build includes flex");
    device.seed(0);
    let data = Dataset::embedded_mnist().expect("embedded MNIST sample");
    // An untrained VAE18: the conversion cost does not depend on the weight values.
    let model = CvaeConfig::vae18().init(&device).expect("vae18").valid();
    let calibration = CalibrationConfig {
        images: CALIBRATION_IMAGES,
        ..CalibrationConfig::default()
    };

    let mut group = criterion.benchmark_group("conversion");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    let id = format!("calibrate_convert/vae18/images{CALIBRATION_IMAGES}/{BACKEND}");
    group.bench_function(id, |bencher| {
        bencher.iter(|| {
            let scales =
                calibrate(&model, &data.train, &calibration, &device).expect("calibration");
            convert(
                &model,
                &scales,
                BalancingForm::default(),
                Some(calibration),
                &device,
            )
            .expect("conversion")
        });
    });
    group.finish();
}

criterion_group!(benches, conversion);
criterion_main!(benches);

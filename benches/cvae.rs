//! Criterion benches of the analog CVAE (VAE18): the forward pass and one training step.
//!
//! ```text
//! cargo bench --bench cvae
//! ```

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use criterion::{Criterion, criterion_group, criterion_main};
use csvae::Backend;
use csvae::analog::{CvaeConfig, loss::vae_loss};
use csvae::data::Dataset;

/// Images per batch in both benches.
const BATCH: usize = 64;
/// Backend the benches run on.
const BACKEND: Backend = Backend::Flex;

fn cvae_benches(c: &mut Criterion) {
    let device = BACKEND.device().expect("the default build includes flex");
    device.seed(0);
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let indices: Vec<usize> = (0..BATCH).collect();
    let config = CvaeConfig::vae18();

    let model = config.init(&device).expect("vae18").valid();
    let input = data.test.batch(&indices, &device).expect("batch");
    c.bench_function(&format!("cvae_forward/vae18/batch{BATCH}/{BACKEND}"), |b| {
        b.iter(|| {
            let output = model.forward(input.clone(), None).expect("forward");
            // Reading back forces the lazy computation to finish inside the timed region.
            output.logits.into_data()
        })
    });

    let autodiff = device.clone().autodiff();
    let mut trainable = config.init(&device).expect("vae18").train();
    let mut optimizer = AdamConfig::new().init();
    let train_input = data.train.batch(&indices, &autodiff).expect("batch");
    let mut group = c.benchmark_group("cvae_train_step");
    group.sample_size(10);
    group.bench_function(format!("vae18/batch{BATCH}/{BACKEND}"), |b| {
        b.iter(|| {
            let posterior = trainable.encode(train_input.clone()).expect("encode");
            let z = posterior.sample(1);
            let logits = trainable.decode_logits(z).expect("decode");
            let parts = vae_loss(logits, train_input.clone(), &posterior, 1.0);
            let grads = GradientsParams::from_grads(parts.loss.backward(), &trainable);
            trainable = optimizer.step(1e-3, trainable.clone(), grads);
            parts.loss.into_scalar::<f32>()
        })
    });
    group.finish();
}

criterion_group!(benches, cvae_benches);
criterion_main!(benches);

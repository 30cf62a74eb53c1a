//! One CSVAE time step (one encoder step and one decoder step) at batch 64 with VAE18 widths,
//! on the dense path and the flex CPU backend.
//!
//! Run with `cargo bench -p csvae-spiking --features flex --bench csvae_step`. The setup prints
//! the firing rate of every layer for the random weights, because the step time of the dense
//! path does not depend on them but an event-driven path's would.

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use csvae_spiking::csvae_encoding::{Encoder, SpikeEncoder};
use csvae_spiking::{Csvae, CsvaeArchitecture, CsvaeLayers, ExecutionPath, SimulationConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BATCH: usize = 64;
/// Weight gain at which every layer of the random VAE18 fires (rates are printed at setup).
const GAIN: f32 = 3.0;
/// Steps of the simulations the benchmark advances; never reached, so no phase ends.
const BENCH_TIME_STEPS: usize = 1_000_000;
/// Steps of the run that measures the firing rates.
const RATE_TIME_STEPS: usize = 16;

fn random_images(device: &Device) -> Tensor<4> {
    let mut rng = StdRng::seed_from_u64(7);
    let values: Vec<f32> = (0..BATCH * 28 * 28)
        .map(|_| rng.random_range(0.0..=1.0))
        .collect();
    Tensor::from_data(TensorData::new(values, [BATCH, 1, 28, 28]), device)
}

fn print_firing_rates(csvae: &Csvae, images: Tensor<4>) {
    let config = SimulationConfig {
        time_steps: RATE_TIME_STEPS,
        ..SimulationConfig::default()
    };
    let statistics = csvae.run(images, &config).expect("rate run").statistics;
    println!("firing rates (spikes per neuron per step), T = {RATE_TIME_STEPS}, batch {BATCH}:");
    for layer in &statistics.layers {
        println!(
            "  {:8} rate {:.4}  SOP {:>12}  analog MAC {:>12}",
            layer.layer, layer.firing_rate, layer.synaptic_operations, layer.analog_macs
        );
    }
    let total_macs = statistics.total_analog_macs() as f64;
    println!(
        "  SOP / MAC over {RATE_TIME_STEPS} steps: {:.3}",
        statistics.total_synaptic_operations() as f64 / total_macs
    );
}

fn csvae_step(criterion: &mut Criterion) {
    let device = Device::flex();
    let architecture = CsvaeArchitecture::vae18();
    let layers = CsvaeLayers::random(&architecture, GAIN, 1, &device).expect("valid sizes");
    let csvae = Csvae::new(layers, architecture.image_size).expect("consistent layers");
    let images = random_images(&device);
    print_firing_rates(&csvae, images.clone());

    // The automatic choice would take the event-driven path on flex; this bench measures the
    // dense one (benches/spiking.rs compares both).
    let config = SimulationConfig {
        time_steps: BENCH_TIME_STEPS,
        execution_path: ExecutionPath::Dense,
        ..SimulationConfig::default()
    };
    let encoder =
        SpikeEncoder::new(Encoder::default(), images, BENCH_TIME_STEPS, 0).expect("valid images");
    let mut encoder_run = csvae.encoder_simulation(encoder, &config).expect("encoder");
    let z = csvae
        .encode(random_images(&device), &SimulationConfig::default())
        .expect("z")
        .z;
    let mut decoder_run = csvae.decoder_simulation(z, &config).expect("decoder");

    let mut group = criterion.benchmark_group("csvae_step");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(format!("dense/flex/vae18/batch{BATCH}"), |bencher| {
        bencher.iter(|| {
            black_box(encoder_run.step().expect("encoder step"));
            black_box(decoder_run.step().expect("decoder step"));
            device.sync().expect("device sync");
        });
    });
    group.finish();
}

criterion_group!(benches, csvae_step);
criterion_main!(benches);

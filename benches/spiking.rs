//! Criterion benches of the spiking network (VAE18 widths) on the dense and event-driven paths.
//!
//! ```text
//! cargo bench --bench spiking
//! ```
//!
//! - `spiking_step`: one CSVAE step at batch 64, every spike-driven layer (conv0..conv3,
//!   deconv1..deconv3) fed random input spikes at a set firing rate, synaptic current plus IF
//!   update. Random inputs fix the rate, which the network's own activity would not.
//! - `csvae_run`: a whole run (encoder then decoder, `T` steps each) of a VAE18 converted from
//!   an untrained CVAE with 100 calibration images, on embedded MNIST test digits. The setup
//!   prints its firing rates.
//! - `cvae_forward`: the analog CVAE forward pass on the same digits, for comparison.
//!
//! Each bench reports images per second through its throughput, so the time per image is the
//! inverse.

use std::hint::black_box;
use std::time::Duration;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use csvae::Backend;
use csvae::analog::CvaeConfig;
use csvae::data::Dataset;
use csvae::spiking::event::{EventLayer, EventNeurons, SpikeEvents};
use csvae::spiking::{
    Csvae, CsvaeArchitecture, CsvaeLayers, ExecutionPath, IfParams, InitialMembrane,
    SimulationConfig, SpikingConv2d, SpikingConvTranspose2d,
};
use csvae::transfer::{BalancingForm, CalibrationConfig, calibrate, convert};

/// Backend of every bench.
const BACKEND: Backend = Backend::Flex;
/// Images per batch of the step bench and of the larger whole-run bench.
const BATCH: usize = 64;
/// Input firing rates (spikes per neuron per step) of the step bench.
const INPUT_RATES: [f64; 4] = [0.01, 0.05, 0.10, 0.25];
/// Time steps of each phase in the whole-run bench.
const TIME_STEPS: usize = 32;
/// Batch sizes of the whole-run bench.
const RUN_BATCHES: [usize; 2] = [1, BATCH];
/// Calibration images of the converted network.
const CALIBRATION_IMAGES: usize = 100;
/// Seed of the random weights and spikes.
const SEED: u64 = 7;

/// SplitMix64, so that the bench needs no random-number crate.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_spikes(rng: &mut SplitMix64, dims: [usize; 4], rate: f64, device: &Device) -> Tensor<4> {
    let length = dims.iter().product();
    let values: Vec<f32> = (0..length)
        .map(|_| if rng.next_f64() < rate { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// A spike-driven layer of the step bench.
#[derive(Clone, Copy)]
enum StepLayer<'a> {
    Conv(&'a SpikingConv2d),
    ConvTranspose(&'a SpikingConvTranspose2d),
}

impl StepLayer<'_> {
    fn current(self, input: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Conv(layer) => layer.current(input),
            Self::ConvTranspose(layer) => layer.current(input),
        }
    }

    fn event_layer(self, input_size: [usize; 2]) -> EventLayer {
        match self {
            Self::Conv(layer) => EventLayer::conv2d(layer, input_size),
            Self::ConvTranspose(layer) => EventLayer::conv_transpose2d(layer, input_size),
        }
        .expect("VAE18 geometry")
    }
}

/// Lists the spike-driven layers of one CSVAE step with their input shapes `[c, h, w]`.
fn step_layers(layers: &CsvaeLayers) -> Vec<(StepLayer<'_>, [usize; 3])> {
    let [c0, c1, c2, c3] = [64, 64, 128, 256];
    vec![
        (StepLayer::Conv(&layers.conv0), [1, 28, 28]),
        (StepLayer::Conv(&layers.conv1), [c0, 28, 28]),
        (StepLayer::Conv(&layers.conv2), [c1, 16, 16]),
        (StepLayer::Conv(&layers.conv3), [c2, 8, 8]),
        (StepLayer::ConvTranspose(&layers.deconv1), [c3, 4, 4]),
        (StepLayer::ConvTranspose(&layers.deconv2), [c2, 8, 8]),
        (StepLayer::ConvTranspose(&layers.deconv3), [c1, 16, 16]),
    ]
}

fn spiking_step(criterion: &mut Criterion) {
    let device = BACKEND.device().expect("the default build includes flex");
    let architecture = CsvaeArchitecture::vae18();
    let layers = CsvaeLayers::random(&architecture, 1.0, SEED, &device).expect("valid sizes");
    let params = IfParams::default();
    let mut rng = SplitMix64(SEED);

    let mut group = criterion.benchmark_group("spiking_step");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    for rate in INPUT_RATES {
        let percent = (rate * 100.0).round();
        let mut dense = Vec::new();
        let mut event = Vec::new();
        for (layer, [c, h, w]) in step_layers(&layers) {
            let input = random_spikes(&mut rng, [BATCH, c, h, w], rate, &device);
            let event_layer = layer.event_layer([h, w]);
            let [oc, oh, ow] = event_layer.output_shape();
            let output_dims = [BATCH, oc, oh, ow];
            let state = params.init_state(output_dims, InitialMembrane::Zero, &device);
            let events = SpikeEvents::from_tensor(input.clone()).expect("spikes");
            dense.push((layer, input, state));
            event.push((
                event_layer,
                events,
                EventNeurons::new(params, output_dims, InitialMembrane::Zero),
                SpikeEvents::new(output_dims),
            ));
        }

        let id = format!("dense/{BACKEND}/vae18/batch{BATCH}");
        group.bench_function(BenchmarkId::new(id, format!("rate{percent}%")), |bencher| {
            bencher.iter(|| {
                for (layer, input, state) in &mut dense {
                    let spikes = params.step(state, layer.current(input.clone()));
                    black_box(spikes);
                }
                device.sync().expect("device sync");
            });
        });
        let id = format!("event/{BACKEND}/vae18/batch{BATCH}");
        group.bench_function(BenchmarkId::new(id, format!("rate{percent}%")), |bencher| {
            bencher.iter(|| {
                for (layer, input, neurons, output) in &mut event {
                    neurons.step(layer, input, output);
                    black_box(output.count());
                }
            });
        });
    }
    group.finish();
}

/// Converts an untrained VAE18 with the first calibration images of the embedded sample.
fn converted_vae18(data: &Dataset, device: &Device) -> Csvae {
    device.seed(SEED);
    let model = CvaeConfig::vae18().init(device).expect("vae18").valid();
    let calibration = CalibrationConfig {
        images: CALIBRATION_IMAGES,
        ..CalibrationConfig::default()
    };
    let scales = calibrate(&model, &data.train, &calibration, device).expect("calibration");
    convert(
        &model,
        &scales,
        BalancingForm::default(),
        Some(calibration),
        device,
    )
    .expect("conversion")
    .network
}

fn print_firing_rates(csvae: &Csvae, images: Tensor<4>) {
    let config = SimulationConfig {
        time_steps: TIME_STEPS,
        ..SimulationConfig::default()
    };
    let statistics = csvae.run(images, &config).expect("rate run").statistics;
    println!("converted VAE18, T = {TIME_STEPS}, batch {BATCH}: firing rate per layer");
    for layer in &statistics.layers {
        println!(
            "  {:8} rate {:.4}  input spikes {:>10}  SOP {:>13}  analog MAC {:>13}",
            layer.layer,
            layer.firing_rate,
            layer.input_spike_count,
            layer.synaptic_operations,
            layer.analog_macs
        );
    }
}

fn csvae_run(criterion: &mut Criterion) {
    let device = BACKEND.device().expect("the default build includes flex");
    let data = Dataset::embedded_mnist().expect("embedded MNIST sample");
    let csvae = converted_vae18(&data, &device);
    let indices: Vec<usize> = (0..BATCH).collect();
    print_firing_rates(&csvae, data.test.batch(&indices, &device).expect("batch"));

    let mut group = criterion.benchmark_group("csvae_run");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for batch in RUN_BATCHES {
        let indices: Vec<usize> = (0..batch).collect();
        let images = data.test.batch(&indices, &device).expect("batch");
        group.throughput(Throughput::Elements(batch as u64));
        for (name, execution_path) in [
            ("dense", ExecutionPath::Dense),
            ("event", ExecutionPath::EventDriven),
        ] {
            let config = SimulationConfig {
                time_steps: TIME_STEPS,
                execution_path,
                ..SimulationConfig::default()
            };
            let id = format!("{name}/{BACKEND}/vae18/T{TIME_STEPS}");
            group.bench_function(BenchmarkId::new(id, format!("batch{batch}")), |bencher| {
                bencher.iter(|| {
                    let output = csvae.run(images.clone(), &config).expect("run");
                    // Reading back makes the device finish inside the timed region.
                    output.reconstruction.into_data()
                });
            });
        }
    }
    group.finish();
}

fn cvae_forward(criterion: &mut Criterion) {
    let device = BACKEND.device().expect("the default build includes flex");
    device.seed(SEED);
    let data = Dataset::embedded_mnist().expect("embedded MNIST sample");
    let model = CvaeConfig::vae18().init(&device).expect("vae18").valid();

    let mut group = criterion.benchmark_group("cvae_forward");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for batch in RUN_BATCHES {
        let indices: Vec<usize> = (0..batch).collect();
        let images = data.test.batch(&indices, &device).expect("batch");
        group.throughput(Throughput::Elements(batch as u64));
        let id = format!("{BACKEND}/vae18");
        group.bench_function(BenchmarkId::new(id, format!("batch{batch}")), |bencher| {
            bencher.iter(|| {
                let output = model.forward(images.clone(), None).expect("forward");
                output.logits.into_data()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, spiking_step, csvae_run, cvae_forward);
criterion_main!(benches);

//! The event-driven path against the dense path: layer currents, neuron updates and whole CSVAE
//! runs on the flex backend.
//!
//! Tolerances: the two paths sum the same terms in different orders, so currents agree to
//! `1e-5 * max(1, |current|)`. Spikes could flip only where a membrane potential lands within
//! that rounding of the threshold. The seeded inputs here hit no such case, so spike counts and
//! statistics are compared exactly.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_data::Dataset;
use csvae_spiking::csvae_encoding::Encoder;
use csvae_spiking::event::{EventLayer, EventNeurons, SpikeEvents};
use csvae_spiking::{
    Csvae, CsvaeArchitecture, CsvaeLayers, CsvaeOutput, ExecutionPath, IfParams, InitialMembrane,
    OutputReadout, ReadoutWarmUp, ResetMode, SimulationConfig, SpikingConv2d,
    SpikingConvTranspose2d, SpikingLinear,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Relative tolerance of currents, potentials and readouts.
const TOLERANCE: f32 = 1e-5;
const BATCH: usize = 3;
/// Firing probability of the random input spikes.
const INPUT_RATE: f64 = 0.2;

/// Kernel, stride and padding of the VAE18 layers, and an input size for each.
const GEOMETRIES: [(usize, usize, usize, usize); 3] = [
    // conv0 / deconv4: k5 s1 p2.
    (5, 1, 2, 9),
    // conv1 / deconv3: k4 s2 p3 (16 -> 28 in the decoder).
    (4, 2, 3, 10),
    // conv2, conv3 / deconv1, deconv2: k4 s2 p1.
    (4, 2, 1, 8),
];

fn device() -> Device {
    Device::flex()
}

fn uniform<const D: usize>(rng: &mut StdRng, dims: [usize; D]) -> Tensor<D> {
    let length = dims.iter().product();
    let values: Vec<f32> = (0..length)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    Tensor::from_data(TensorData::new(values, dims), &device())
}

fn random_spikes(rng: &mut StdRng, dims: [usize; 4], rate: f64) -> Tensor<4> {
    let length = dims.iter().product();
    let values: Vec<f32> = (0..length)
        .map(|_| if rng.random_bool(rate) { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, dims), &device())
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 tensor data")
}

/// Asserts `|actual - expected| <= TOLERANCE * max(1, |expected|)` element by element.
fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (index, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let bound = TOLERANCE * e.abs().max(1.0);
        assert!(
            (a - e).abs() <= bound,
            "{what}[{index}]: event-driven {a}, dense {e}, bound {bound}"
        );
    }
}

#[test]
fn conv2d_current_matches_dense() {
    let mut rng = StdRng::seed_from_u64(1);
    for (kernel, stride, padding, size) in GEOMETRIES {
        let (in_channels, out_channels) = (3, 5);
        let weight = uniform(&mut rng, [out_channels, in_channels, kernel, kernel]);
        let bias = uniform(&mut rng, [out_channels]);
        let layer = SpikingConv2d::new("conv", weight, bias, [stride; 2], [padding; 2])
            .expect("valid layer");
        let spikes = random_spikes(&mut rng, [BATCH, in_channels, size, size], INPUT_RATE);

        let event = EventLayer::conv2d(&layer, [size, size]).expect("event layer");
        let events = SpikeEvents::from_tensor(spikes.clone()).expect("events");
        let actual = event.current(&events, &device());
        let expected = layer.current(spikes);
        assert_eq!(
            actual.dims(),
            expected.dims(),
            "k{kernel} s{stride} p{padding}"
        );
        assert_close(
            &host(actual),
            &host(expected),
            &format!("conv2d k{kernel} s{stride} p{padding}"),
        );
    }
}

#[test]
fn conv_transpose2d_current_matches_dense() {
    let mut rng = StdRng::seed_from_u64(2);
    for (kernel, stride, padding, size) in GEOMETRIES {
        let (in_channels, out_channels) = (4, 3);
        let weight = uniform(&mut rng, [in_channels, out_channels, kernel, kernel]);
        let bias = uniform(&mut rng, [out_channels]);
        let layer = SpikingConvTranspose2d::new("deconv", weight, bias, [stride; 2], [padding; 2])
            .expect("valid layer");
        let spikes = random_spikes(&mut rng, [BATCH, in_channels, size, size], INPUT_RATE);

        let event = EventLayer::conv_transpose2d(&layer, [size, size]).expect("event layer");
        let events = SpikeEvents::from_tensor(spikes.clone()).expect("events");
        let actual = event.current(&events, &device());
        let expected = layer.current(spikes);
        assert_eq!(
            actual.dims(),
            expected.dims(),
            "k{kernel} s{stride} p{padding}"
        );
        assert_close(
            &host(actual),
            &host(expected),
            &format!("conv_transpose2d k{kernel} s{stride} p{padding}"),
        );
    }
}

#[test]
fn linear_current_matches_dense() {
    let mut rng = StdRng::seed_from_u64(3);
    let (in_features, out_features) = (40, 7);
    let weight = uniform(&mut rng, [in_features, out_features]);
    let bias = uniform(&mut rng, [out_features]);
    let layer = SpikingLinear::new("fc", weight, bias).expect("valid layer");
    let spikes = random_spikes(&mut rng, [BATCH, in_features, 1, 1], INPUT_RATE);

    let event = EventLayer::linear(&layer).expect("event layer");
    let events = SpikeEvents::from_tensor(spikes.clone()).expect("events");
    let actual = event.current(&events, &device());
    let expected = layer.current(spikes.reshape([BATCH, in_features]));
    assert_eq!(actual.dims(), [BATCH, out_features, 1, 1]);
    assert_close(&host(actual), &host(expected), "linear");
}

#[test]
fn event_fan_out_matches_layer() {
    let mut rng = StdRng::seed_from_u64(4);
    for (kernel, stride, padding, size) in GEOMETRIES {
        let conv = SpikingConv2d::new(
            "conv",
            uniform(&mut rng, [3, 2, kernel, kernel]),
            uniform(&mut rng, [3]),
            [stride; 2],
            [padding; 2],
        )
        .expect("valid layer");
        let event = EventLayer::conv2d(&conv, [size, size]).expect("event layer");
        let fan_out = conv.fan_out([size, size]).expect("fan-out");
        for (position, &expected) in fan_out.per_position().iter().enumerate() {
            assert_eq!(
                event.fan_out(position),
                expected,
                "conv position {position}"
            );
        }

        let deconv = SpikingConvTranspose2d::new(
            "deconv",
            uniform(&mut rng, [2, 3, kernel, kernel]),
            uniform(&mut rng, [3]),
            [stride; 2],
            [padding; 2],
        )
        .expect("valid layer");
        let event = EventLayer::conv_transpose2d(&deconv, [size, size]).expect("event layer");
        let fan_out = deconv.fan_out([size, size]).expect("fan-out");
        for (position, &expected) in fan_out.per_position().iter().enumerate() {
            assert_eq!(
                event.fan_out(position),
                expected,
                "deconv position {position}"
            );
        }
    }
}

#[test]
fn spike_events_round_trip() {
    let mut rng = StdRng::seed_from_u64(5);
    let spikes = random_spikes(&mut rng, [BATCH, 3, 5, 4], 0.3);
    let events = SpikeEvents::from_tensor(spikes.clone()).expect("events");
    let expected = host(spikes);
    let ones = expected.iter().filter(|&&value| value == 1.0).count();
    assert_eq!(events.count(), ones);
    assert_eq!(host(events.to_tensor(&device())), expected);
}

#[test]
#[should_panic(expected = "neither 0 nor 1")]
fn spike_events_reject_analog_values() {
    let values = Tensor::from_data(TensorData::new(vec![0.0, 0.5], [1, 1, 1, 2]), &device());
    let _ = SpikeEvents::from_tensor(values);
}

/// Runs a convolution and its IF neurons for several steps on both paths and compares the
/// spikes of every step and the final potentials.
#[test]
fn neuron_steps_match_dense() {
    let mut rng = StdRng::seed_from_u64(6);
    let (kernel, stride, padding, size) = GEOMETRIES[1];
    let (in_channels, out_channels) = (4, 6);
    let layer = SpikingConv2d::new(
        "conv",
        uniform(&mut rng, [out_channels, in_channels, kernel, kernel]),
        uniform(&mut rng, [out_channels]).mul_scalar(0.1),
        [stride; 2],
        [padding; 2],
    )
    .expect("valid layer");
    let event_layer = EventLayer::conv2d(&layer, [size, size]).expect("event layer");
    let [c, h, w] = event_layer.output_shape();
    let shape = [BATCH, c, h, w];

    for reset in [ResetMode::Subtract, ResetMode::Zero] {
        for initial in [InitialMembrane::Zero, InitialMembrane::HalfThreshold] {
            let params = IfParams {
                v_threshold: 1.5,
                reset,
            };
            let mut dense_state = params.init_state(shape, initial, &device());
            let mut neurons = EventNeurons::new(params, shape, initial);
            let mut input = SpikeEvents::new([BATCH, in_channels, size, size]);
            let mut output = SpikeEvents::new(shape);
            let mut total_spikes = 0;

            for step in 0..6 {
                let spikes = random_spikes(&mut rng, [BATCH, in_channels, size, size], 0.3);
                input.fill_from_tensor(spikes.clone()).expect("events");
                neurons.step(&event_layer, &input, &mut output);
                let dense = params.step(&mut dense_state, layer.current(spikes));

                let case = format!("{reset:?} {initial:?} step {step}");
                assert_eq!(
                    host(output.to_tensor(&device())),
                    host(dense),
                    "spikes differ: {case}"
                );
                total_spikes += output.count();
            }
            assert_close(
                &host(neurons.potential(&device())),
                &host(dense_state.v.clone()),
                &format!("potential {reset:?} {initial:?}"),
            );
            assert!(total_spikes > 0, "no spike in {reset:?} {initial:?}");
        }
    }
}

const SMALL: CsvaeArchitecture = CsvaeArchitecture {
    input_channels: 1,
    channels: [4, 4, 8, 8],
    latent_size: 8,
    image_size: [28, 28],
};
/// Weight gain at which every layer of the random networks fires.
const GAIN: f32 = 3.0;

fn random_csvae(architecture: &CsvaeArchitecture, seed: u64) -> Csvae {
    let layers = CsvaeLayers::random(architecture, GAIN, seed, &device()).expect("valid sizes");
    Csvae::new(layers, architecture.image_size).expect("consistent layers")
}

fn binary_images(seed: u64, batch: usize) -> Tensor<4> {
    let mut rng = StdRng::seed_from_u64(seed);
    random_spikes(&mut rng, [batch, 1, 28, 28], 0.3)
}

fn run_both(csvae: &Csvae, images: Tensor<4>, config: SimulationConfig) -> [CsvaeOutput; 2] {
    [ExecutionPath::Dense, ExecutionPath::EventDriven].map(|execution_path| {
        let config = SimulationConfig {
            execution_path,
            ..config
        };
        csvae.run(images.clone(), &config).expect("run")
    })
}

/// Compares two runs: statistics exactly, readouts to the tolerance.
fn assert_runs_agree(dense: CsvaeOutput, event: CsvaeOutput, case: &str) {
    assert_eq!(
        event.statistics, dense.statistics,
        "statistics differ: {case}"
    );
    assert!(
        dense.statistics.total_spike_count() > 0,
        "no spike at all: {case}"
    );
    assert_close(&host(event.mu), &host(dense.mu), &format!("mu {case}"));
    assert_close(
        &host(event.logvar),
        &host(dense.logvar),
        &format!("logvar {case}"),
    );
    assert_close(
        &host(event.reconstruction),
        &host(dense.reconstruction),
        &format!("reconstruction {case}"),
    );
}

#[test]
fn csvae_paths_agree_on_binary_images() {
    let csvae = random_csvae(&SMALL, 11);
    let config = SimulationConfig {
        time_steps: 12,
        ..SimulationConfig::default()
    };
    let [dense, event] = run_both(&csvae, binary_images(12, BATCH), config);
    assert_runs_agree(dense, event, "default config");
}

#[test]
fn csvae_paths_agree_across_settings() {
    let csvae = random_csvae(&SMALL, 13);
    let cases = [
        (
            "constant current, zero reset",
            SimulationConfig {
                input_encoder: Encoder::ConstantCurrent,
                reset: ResetMode::Zero,
                ..SimulationConfig::default()
            },
        ),
        (
            "latency input, half-threshold start, warm-up",
            SimulationConfig {
                input_encoder: Encoder::Latency,
                initial_membrane: InitialMembrane::HalfThreshold,
                warm_up: ReadoutWarmUp::Fraction { fraction: 0.5 },
                ..SimulationConfig::default()
            },
        ),
        (
            "spike-count readout",
            SimulationConfig {
                output_readout: OutputReadout::SpikeCount,
                ..SimulationConfig::default()
            },
        ),
    ];
    for (case, config) in cases {
        let config = SimulationConfig {
            time_steps: 10,
            ..config
        };
        let mut rng = StdRng::seed_from_u64(14);
        let values: Vec<f32> = (0..BATCH * 28 * 28)
            .map(|_| rng.random_range(0.0..=1.0))
            .collect();
        let images = Tensor::from_data(TensorData::new(values, [BATCH, 1, 28, 28]), &device());
        let [dense, event] = run_both(&csvae, images, config);
        assert_runs_agree(dense, event, case);
    }
}

#[test]
fn csvae_paths_agree_on_mnist() {
    let architecture = CsvaeArchitecture {
        channels: [16, 16, 32, 32],
        latent_size: 16,
        ..CsvaeArchitecture::vae18()
    };
    let csvae = random_csvae(&architecture, 15);
    let data = Dataset::embedded_mnist().expect("embedded MNIST sample");
    let indices: Vec<usize> = (0..4).collect();
    let images = data.test.batch(&indices, &device()).expect("batch");
    let config = SimulationConfig {
        time_steps: 16,
        ..SimulationConfig::default()
    };
    let [dense, event] = run_both(&csvae, images, config);
    assert_runs_agree(dense, event, "MNIST digits");
}

#[test]
fn auto_path_resolves_to_event_on_flex() {
    assert_eq!(
        ExecutionPath::Auto.resolve(&device()),
        ExecutionPath::EventDriven
    );
    assert_eq!(
        ExecutionPath::Dense.resolve(&device()),
        ExecutionPath::Dense
    );
    assert_eq!(
        SimulationConfig::default().execution_path,
        ExecutionPath::Auto
    );
}

#[test]
fn config_without_path_deserialises() {
    let mut json = serde_json::to_value(SimulationConfig::default()).expect("serialise");
    json.as_object_mut()
        .expect("a JSON object")
        .remove("execution_path");
    let config: SimulationConfig = serde_json::from_value(json).expect("deserialise");
    assert_eq!(config.execution_path, ExecutionPath::Auto);

    let event = SimulationConfig {
        execution_path: ExecutionPath::EventDriven,
        ..SimulationConfig::default()
    };
    let text = serde_json::to_string(&event).expect("serialise");
    assert!(
        text.contains("\"execution_path\":\"event_driven\""),
        "{text}"
    );
}

//! End-to-end runs of a small CSVAE with random weights on the flex backend.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_spiking::csvae_encoding::Encoder;
use csvae_spiking::{
    Csvae, CsvaeArchitecture, CsvaeLayers, InputKind, LatentSampling, OutputReadout, ReadoutScales,
    ReadoutWarmUp, SimulationConfig, SpikingConvTranspose2d, SpikingError, SpikingLinear,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SMALL: CsvaeArchitecture = CsvaeArchitecture {
    input_channels: 1,
    channels: [4, 4, 8, 8],
    latent_size: 8,
    image_size: [28, 28],
};
const BATCH: usize = 2;
const TIME_STEPS: usize = 8;
/// Weight gain that makes every layer of the small network fire at a few percent or more.
const GAIN: f32 = 3.0;

fn small_csvae(seed: u64) -> Csvae {
    let layers = CsvaeLayers::random(&SMALL, GAIN, seed, &Device::flex()).expect("valid sizes");
    Csvae::new(layers, SMALL.image_size).expect("consistent layers")
}

fn images(seed: u64) -> Tensor<4> {
    let mut rng = StdRng::seed_from_u64(seed);
    let values: Vec<f32> = (0..BATCH * 28 * 28)
        .map(|_| rng.random_range(0.0..=1.0))
        .collect();
    Tensor::from_data(TensorData::new(values, [BATCH, 1, 28, 28]), &Device::flex())
}

fn config() -> SimulationConfig {
    SimulationConfig {
        time_steps: TIME_STEPS,
        ..SimulationConfig::default()
    }
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 tensor data")
}

#[test]
fn run_shapes_and_range() {
    let csvae = small_csvae(1);
    let output = csvae.run(images(2), &config()).expect("run");

    assert_eq!(output.reconstruction.dims(), [BATCH, 1, 28, 28]);
    assert_eq!(output.mu.dims(), [BATCH, 8]);
    assert_eq!(output.logvar.dims(), [BATCH, 8]);
    assert_eq!(output.z.dims(), [BATCH, 8]);
    let pixels = host(output.reconstruction);
    assert!(
        pixels.iter().all(|&p| p > 0.0 && p < 1.0),
        "pixels in (0, 1)"
    );
    // z = mu by default.
    assert_eq!(host(output.z), host(output.mu));

    let names: Vec<&str> = output
        .statistics
        .layers
        .iter()
        .map(|l| l.layer.as_str())
        .collect();
    let expected = [
        "conv0", "conv1", "conv2", "conv3", "fc21", "fc22", "fc3", "deconv1", "deconv2", "deconv3",
        "deconv4",
    ];
    assert_eq!(names, expected);
    assert_eq!(output.statistics.batch_size, BATCH);
    assert_eq!(output.statistics.time_steps, TIME_STEPS);
}

#[test]
fn statistics_chain_consistently() {
    let csvae = small_csvae(1);
    let statistics = csvae.run(images(2), &config()).expect("run").statistics;
    let layer = |name: &str| statistics.layer(name).expect("layer present");

    // The spikes of each IF layer are the input spikes of the next synaptic layer.
    for (source, target) in [
        ("conv0", "conv1"),
        ("conv1", "conv2"),
        ("conv2", "conv3"),
        ("conv3", "fc21"),
        ("fc3", "deconv1"),
        ("deconv1", "deconv2"),
        ("deconv2", "deconv3"),
        ("deconv3", "deconv4"),
    ] {
        assert_eq!(
            layer(source).spike_count,
            layer(target).input_spike_count,
            "{source} -> {target}"
        );
    }
    for name in [
        "conv0", "conv1", "conv2", "conv3", "fc3", "deconv1", "deconv2", "deconv3",
    ] {
        let rate = layer(name).firing_rate;
        assert!(rate > 0.0, "{name} never fires");
        assert!(rate <= 1.0, "{name} fires at {rate}");
    }

    // conv0 neurons: 4 * 28 * 28; rate = spikes / (neurons * batch * T).
    let conv0 = layer("conv0");
    assert_eq!(conv0.neurons, 4 * 28 * 28);
    let rate = conv0.spike_count as f64 / (conv0.neurons * BATCH * TIME_STEPS) as f64;
    assert!((conv0.firing_rate - rate).abs() < 1e-12);

    // Every conv3 spike reaches the 8 latent outputs of fc21.
    assert_eq!(
        layer("fc21").synaptic_operations,
        layer("conv3").spike_count * 8
    );
    // fc21 as an analog layer: 128 * 8 MACs per image.
    assert_eq!(layer("fc21").analog_macs, (128 * 8 * BATCH) as u64);
    // fc3 is driven by z: 8 * 128 MACs per image, computed once.
    let fc3 = layer("fc3");
    assert_eq!(fc3.input, InputKind::Analog);
    assert_eq!(fc3.spiking_macs, (8 * 128 * BATCH) as u64);
    assert_eq!(fc3.synaptic_operations, 0);
    // The Bernoulli input is spikes, so conv0 does no MACs.
    assert_eq!(conv0.input, InputKind::Spikes);
    assert_eq!(conv0.spiking_macs, 0);
    assert!(conv0.synaptic_operations > 0);
}

#[test]
fn same_seed_identical_outputs() {
    let config = SimulationConfig {
        latent_sampling: LatentSampling::Sample { seed: 5 },
        ..config()
    };
    let first = small_csvae(1).run(images(2), &config).expect("run");
    let second = small_csvae(1).run(images(2), &config).expect("run");
    assert_eq!(host(first.reconstruction), host(second.reconstruction));
    assert_eq!(host(first.mu.clone()), host(second.mu));
    assert_eq!(host(first.z.clone()), host(second.z));
    assert_eq!(first.statistics, second.statistics);
    // Sampling moves z away from mu.
    assert_ne!(host(first.z), host(first.mu));

    let other_input_seed = SimulationConfig {
        input_seed: 1,
        ..config
    };
    let third = small_csvae(1)
        .run(images(2), &other_input_seed)
        .expect("run");
    assert_ne!(first.statistics, third.statistics);
}

#[test]
fn constant_current_counts_macs() {
    let config = SimulationConfig {
        input_encoder: Encoder::ConstantCurrent,
        ..config()
    };
    let statistics = small_csvae(1)
        .run(images(2), &config)
        .expect("run")
        .statistics;
    let conv0 = statistics.layer("conv0").expect("conv0");
    assert_eq!(conv0.input, InputKind::Analog);
    assert_eq!(conv0.synaptic_operations, 0);
    assert_eq!(conv0.input_spike_count, 0);
    assert_eq!(conv0.spiking_macs, conv0.analog_macs);
    // conv0, k5 s1 p2 on 28x28 with 4 output channels: per axis, the fan-out is 3, 4, then 5
    // for 24 interior rows, then 4, 3, so it sums to 3 + 4 + 24 * 5 + 4 + 3 = 134 per axis.
    assert_eq!(conv0.analog_macs, (134 * 134 * 4 * BATCH) as u64);
}

#[test]
fn readouts_apply_bias_and_scale() {
    // With zero weights, every current is its bias: mu = 2 * 0.5 and the image is
    // sigmoid(3 * 0.25), whatever the spikes do.
    let device = Device::flex();
    let mut layers = CsvaeLayers::random(&SMALL, 0.0, 0, &device).expect("valid sizes");
    layers.fc21 = SpikingLinear::new(
        "fc21",
        Tensor::zeros([128, 8], &device),
        Tensor::full([8], 0.5, &device),
    )
    .expect("valid fc21");
    layers.deconv4 = SpikingConvTranspose2d::new(
        "deconv4",
        Tensor::zeros([4, 1, 5, 5], &device),
        Tensor::full([1], 0.25, &device),
        [1, 1],
        [2, 2],
    )
    .expect("valid deconv4");
    let scales = ReadoutScales {
        fc21: 2.0,
        fc22: 1.0,
        deconv4: 3.0,
    };
    let csvae = Csvae::new(layers, [28, 28])
        .expect("consistent layers")
        .with_readout_scales(scales)
        .expect("finite scales");

    let output = csvae.run(images(2), &config()).expect("run");
    assert!(host(output.mu).iter().all(|&mu| (mu - 1.0).abs() < 1e-6));
    assert!(host(output.logvar).iter().all(|&logvar| logvar == 0.0));
    let expected = 1.0 / (1.0 + (-0.75f32).exp());
    assert!(
        host(output.reconstruction)
            .iter()
            .all(|&p| (p - expected).abs() < 1e-6)
    );
}

#[test]
fn warm_up_and_spike_count_readout() {
    let config = SimulationConfig {
        warm_up: ReadoutWarmUp::Fraction { fraction: 0.5 },
        output_readout: OutputReadout::SpikeCount,
        ..config()
    };
    let output = small_csvae(1).run(images(2), &config).expect("run");
    let pixels = host(output.reconstruction);
    // Spike counts over a window of 4 steps: multiples of 1/4 in [0, 1].
    assert!(
        pixels
            .iter()
            .all(|&p| (0.0..=1.0).contains(&p) && (p * 4.0).fract() == 0.0)
    );
    let deconv4 = output.statistics.layer("deconv4").expect("deconv4");
    assert_eq!(deconv4.neurons, 28 * 28);
}

#[test]
fn encoder_and_decoder_alone() {
    let csvae = small_csvae(1);
    let encoded = csvae.encode(images(2), &config()).expect("encode");
    assert_eq!(encoded.statistics.layers.len(), 6);
    let decoded = csvae.decode(encoded.z.clone(), &config()).expect("decode");
    assert_eq!(decoded.reconstruction.dims(), [BATCH, 1, 28, 28]);
    assert_eq!(decoded.statistics.layers.len(), 5);

    // The full run is the encoder followed by the decoder on its z.
    let full = csvae.run(images(2), &config()).expect("run");
    assert_eq!(host(full.reconstruction), host(decoded.reconstruction));
}

#[test]
fn invalid_inputs_rejected() {
    let csvae = small_csvae(1);
    let zero_steps = SimulationConfig {
        time_steps: 0,
        ..config()
    };
    assert_eq!(
        csvae.run(images(2), &zero_steps).expect_err("T = 0"),
        SpikingError::ZeroTimeSteps
    );

    let wrong_size = Tensor::zeros([1, 1, 27, 28], &Device::flex());
    let error = csvae.run(wrong_size, &config()).expect_err("27x28 image");
    assert_eq!(
        error,
        SpikingError::InputShape {
            input: "images".to_string(),
            expected: vec![1, 1, 28, 28],
            actual: vec![1, 1, 27, 28],
        }
    );

    let z = Tensor::zeros([3, 5], &Device::flex());
    let error = csvae.decode(z, &config()).expect_err("latent 5");
    assert!(matches!(error, SpikingError::InputShape { .. }));

    let too_bright = Tensor::full([1, 1, 28, 28], 1.5, &Device::flex());
    let error = csvae.run(too_bright, &config()).expect_err("pixel 1.5");
    assert!(matches!(error, SpikingError::Encoding(_)));

    let long_warm_up = SimulationConfig {
        warm_up: ReadoutWarmUp::Steps { steps: TIME_STEPS },
        ..config()
    };
    let error = csvae
        .run(images(2), &long_warm_up)
        .expect_err("no step left");
    assert!(matches!(error, SpikingError::WarmUpTooLong { .. }));
}

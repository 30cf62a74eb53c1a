//! Tests of the STDP sleep phase: hand-computed updates, mirrored ties, determinism,
//! validation and a small network sleeping on MNIST digits.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_data::Dataset;
use csvae_spiking::sleep::{
    CompetitionConfig, DecoderPlasticity, EarlyStop, LearningRates, RateSchedule, RunawayGuard,
    SharedWeightUpdate, SleepThresholds, StdpRule, WeightDependence, WeightRange, Winners,
    conv_transpose2d_stdp, conv2d_stdp, linear_stdp, select_winners,
};
use csvae_spiking::{
    Csvae, CsvaeArchitecture, CsvaeLayers, SleepConfig, SleepInputs, SpikingConv2d,
    SpikingConvTranspose2d, SpikingError, SpikingLinear, sleep,
};

const TOLERANCE: f32 = 1e-6;

fn device() -> Device {
    Device::flex()
}

fn values<const D: usize>(tensor: &Tensor<D>) -> Vec<f32> {
    tensor
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 tensor")
}

fn scalar(tensor: Tensor<1>) -> f32 {
    values(&tensor)[0]
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= TOLERANCE,
            "{what}[{index}]: got {a}, expected {e}"
        );
    }
}

fn rule(dependence: WeightDependence, range: WeightRange) -> StdpRule {
    StdpRule {
        rates: LearningRates {
            a_plus: 0.1,
            a_minus: 0.05,
        },
        weight_dependence: dependence,
        weight_range: range,
        shared_weight_update: SharedWeightUpdate::Sum,
        balance_depression: false,
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Linear layer, 3 inputs -> 2 outputs, weight [in, out] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]].
/// Inputs 0 and 2 fired recently; only output 0 learns. Column 1 must not change.
#[test]
fn linear_update_each_dependence() {
    let device = device();
    let weight = Tensor::<2>::from_data([[0.1f32, 0.2], [0.3, 0.4], [0.5, 0.6]], &device);
    let pre = Tensor::<2>::from_data([[1.0f32, 0.0, 1.0]], &device);
    let post = Tensor::<2>::from_data([[1.0f32, 0.0]], &device);
    let range = WeightRange { min: 0.1, max: 0.6 };

    // Additive: w00 += 0.1, w10 -= 0.05, w20 += 0.1.
    let additive = [0.1, 0.0, -0.05, 0.0, 0.1, 0.0];
    // Soft bound, w_n = (w - 0.1) / 0.5: w00 -> 0 so f = 0; w10 -> 0.4, f = 0.24,
    // -0.05 * 0.24 = -0.012; w20 -> 0.8, f = 0.16, 0.1 * 0.16 = 0.016.
    let soft_bound = [0.0, 0.0, -0.012, 0.0, 0.016, 0.0];
    // Sigmoid: 0.1 * sigmoid(0.1), -0.05 * sigmoid(0.3), 0.1 * sigmoid(0.5).
    let sigmoid_factor = [
        0.1 * sigmoid(0.1),
        0.0,
        -0.05 * sigmoid(0.3),
        0.0,
        0.1 * sigmoid(0.5),
        0.0,
    ];
    for (dependence, expected) in [
        (WeightDependence::Additive, additive),
        (WeightDependence::SoftBound, soft_bound),
        (WeightDependence::Sigmoid, sigmoid_factor),
    ] {
        let update = linear_stdp(&weight, pre.clone(), post.clone(), &rule(dependence, range));
        assert_close(
            &values(&update.delta),
            &expected,
            &format!("{dependence:?}"),
        );
        assert_eq!(scalar(update.potentiation_events), 2.0, "{dependence:?}");
        assert_eq!(scalar(update.depression_events), 1.0, "{dependence:?}");
    }
}

/// The same layer with balanced depression: P = 2 and D = 1, so a_minus becomes
/// 0.1 * 2 / 1 = 0.2 and the changes sum to zero.
#[test]
fn linear_update_balanced_depression() {
    let device = device();
    let weight = Tensor::<2>::from_data([[0.1f32, 0.2], [0.3, 0.4], [0.5, 0.6]], &device);
    let pre = Tensor::<2>::from_data([[1.0f32, 0.0, 1.0]], &device);
    let post = Tensor::<2>::from_data([[1.0f32, 0.0]], &device);
    let mut balanced = rule(
        WeightDependence::Additive,
        WeightRange { min: 0.1, max: 0.6 },
    );
    balanced.balance_depression = true;

    let update = linear_stdp(&weight, pre, post, &balanced);
    let delta = values(&update.delta);
    assert_close(&delta, &[0.1, 0.0, -0.2, 0.0, 0.1, 0.0], "balanced");
    assert!(delta.iter().sum::<f32>().abs() <= TOLERANCE, "{delta:?}");

    // Without any depression event the ratio divides by 1, and only potentiation remains.
    let all_causal = Tensor::<2>::from_data([[1.0f32, 1.0, 1.0]], &device);
    let post = Tensor::<2>::from_data([[1.0f32, 0.0]], &device);
    let update = linear_stdp(&weight, all_causal, post, &balanced);
    assert_close(
        &values(&update.delta),
        &[0.1, 0.0, 0.1, 0.0, 0.1, 0.0],
        "no depression",
    );
}

/// Two images in one batch, mean over the batch.
#[test]
fn linear_update_batch_mean() {
    let device = device();
    let weight = Tensor::<2>::zeros([3, 2], &device);
    let pre = Tensor::<2>::from_data([[1.0f32, 0.0, 1.0], [0.0, 1.0, 1.0]], &device);
    let post = Tensor::<2>::from_data([[1.0f32, 0.0], [1.0, 1.0]], &device);
    let mut mean_rule = rule(
        WeightDependence::Additive,
        WeightRange { min: 0.0, max: 1.0 },
    );
    mean_rule.shared_weight_update = SharedWeightUpdate::Mean;
    // P[j][i] = sum_b pre[b][j] post[b][i]: column 0 = (1, 1, 2), column 1 = (0, 1, 1).
    // Pairs = post spikes per column: 2 and 1, so D: column 0 = (1, 1, 0), column 1 = (1, 0, 0).
    // 0.1 P - 0.05 D: column 0 = (0.05, 0.05, 0.2), column 1 = (-0.05, 0.1, 0.1); halved.
    let update = linear_stdp(&weight, pre, post, &mean_rule);
    assert_close(
        &values(&update.delta),
        &[0.025, -0.025, 0.025, 0.05, 0.1, 0.05],
        "mean delta",
    );
}

/// Conv2d, 2 input channels -> 1 output map, kernel 2x2, stride 1, no padding, 3x3 input.
/// Channel 0 fired on the diagonal, channel 1 is silent; the post map fired at (0, 0) and (1, 1).
#[test]
fn conv2d_update_sums_positions() {
    let device = device();
    let weight = Tensor::<4>::zeros([1, 2, 2, 2], &device);
    let pre = Tensor::<4>::from_data(
        [[
            [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ]],
        &device,
    );
    let post = Tensor::<4>::from_data([[[[1.0f32, 0.0], [0.0, 1.0]]]], &device);
    let range = WeightRange { min: 0.0, max: 1.0 };
    let update = conv2d_stdp(
        &weight,
        pre,
        post,
        [1, 1],
        [0, 0],
        &rule(WeightDependence::Additive, range),
    );
    // Both windows read [[1, 0], [0, 1]] from channel 0: P = [[2, 0], [0, 2]], D = [[0, 2], [2, 0]],
    // so dW = 0.1 P - 0.05 D = [[0.2, -0.1], [-0.1, 0.2]]. Channel 1: P = 0, D = 2 everywhere,
    // dW = -0.1.
    assert_close(
        &values(&update.delta),
        &[0.2, -0.1, -0.1, 0.2, -0.1, -0.1, -0.1, -0.1],
        "conv delta",
    );
    assert_eq!(scalar(update.potentiation_events), 4.0);
    assert_eq!(scalar(update.depression_events), 12.0);
}

/// With padding 1 the output at (0, 0) reads only one in-bounds input, (0, 0), through tap
/// (1, 1); the three taps in the padding are not synapses and must not change.
#[test]
fn conv2d_update_skips_padding() {
    let device = device();
    let weight = Tensor::<4>::zeros([1, 1, 2, 2], &device);
    let pre = Tensor::<4>::from_data(
        [[[[1.0f32, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]],
        &device,
    );
    // Output 4x4 = (3 + 2 - 2) / 1 + 1; only (0, 0) fires.
    let mut post = vec![0.0f32; 16];
    post[0] = 1.0;
    let post = Tensor::<4>::from_data(TensorData::new(post, [1, 1, 4, 4]), &device);
    let update = conv2d_stdp(
        &weight,
        pre,
        post,
        [1, 1],
        [1, 1],
        &rule(
            WeightDependence::Additive,
            WeightRange { min: 0.0, max: 1.0 },
        ),
    );
    assert_close(
        &values(&update.delta),
        &[0.0, 0.0, 0.0, 0.1],
        "padded delta",
    );
    assert_eq!(scalar(update.depression_events), 0.0);
}

/// ConvTranspose2d, 1 -> 1 channel, kernel 2x2, stride 1, 2x2 input -> 3x3 output. Tap (ky, kx)
/// joins input (y, x) to output (y + ky, x + kx). Output (1, 1) fires; of its four inputs only
/// (0, 0), through tap (1, 1), fired.
#[test]
fn conv_transpose2d_update_matches_hand() {
    let device = device();
    let weight = Tensor::<4>::zeros([1, 1, 2, 2], &device);
    let pre = Tensor::<4>::from_data([[[[1.0f32, 0.0], [0.0, 0.0]]]], &device);
    let mut post = vec![0.0f32; 9];
    post[4] = 1.0;
    let post = Tensor::<4>::from_data(TensorData::new(post, [1, 1, 3, 3]), &device);
    let update = conv_transpose2d_stdp(
        &weight,
        pre,
        post,
        [1, 1],
        [0, 0],
        &rule(
            WeightDependence::Additive,
            WeightRange { min: 0.0, max: 1.0 },
        ),
    );
    assert_close(
        &values(&update.delta),
        &[-0.05, -0.05, -0.05, 0.1],
        "transposed delta",
    );
}

/// Conv2d 1 -> 2 maps, kernel 1x1, on a 1x3 input where positions 0 and 2 fired.
/// Map 0 fired at x = 0 (v 2.0) and x = 2 (v 1.5); map 1 at x = 1 (v 3.0).
#[test]
fn k_winners_limit_learning() {
    let device = device();
    let potentials = [2.0, 0.0, 1.5, 0.0, 3.0, 0.0];
    let spikes = [true, false, true, false, true, false];
    let weight = Tensor::<4>::zeros([2, 1, 1, 1], &device);
    let range = WeightRange { min: 0.0, max: 1.0 };
    let cases = [
        // Radius 1: map 1 at x = 1 wins and blocks x = 0 and x = 2, so only map 1 learns,
        // with a silent input at x = 1: dW[1] = -0.05.
        (Winners { k: 2, radius: 1 }, vec![4], [0.0, -0.05]),
        // Radius 0: map 1 at x = 1 wins, then map 0 at x = 0 (v 2.0 beats 1.5); map 0 is then
        // taken. Input x = 0 fired: dW[0] = +0.1.
        (Winners { k: 2, radius: 0 }, vec![4, 0], [0.1, -0.05]),
        // k = 1: only the highest potential.
        (Winners { k: 1, radius: 0 }, vec![4], [0.0, -0.05]),
    ];
    for (winners, expected_winners, expected_delta) in cases {
        let chosen = select_winners(&potentials, &spikes, [2, 1, 3], winners);
        assert_eq!(chosen, expected_winners, "{winners:?}");
        let mut learners = vec![0.0f32; 6];
        for index in chosen {
            learners[index] = 1.0;
        }
        let pre = Tensor::<4>::from_data([[[[1.0f32, 0.0, 1.0]]]], &device);
        let post = Tensor::<4>::from_data(TensorData::new(learners, [1, 2, 1, 3]), &device);
        let update = conv2d_stdp(
            &weight,
            pre,
            post,
            [1, 1],
            [0, 0],
            &rule(WeightDependence::Additive, range),
        );
        assert_close(
            &values(&update.delta),
            &expected_delta,
            &format!("{winners:?}"),
        );
    }
}

const SMALL: CsvaeArchitecture = CsvaeArchitecture {
    input_channels: 1,
    channels: [4, 4, 8, 8],
    latent_size: 8,
    image_size: [28, 28],
};

/// Returns a small random CSVAE whose biases are non-zero, so that a test can see them stay.
fn small_network(seed: u64) -> Csvae {
    let device = device();
    let mut layers = CsvaeLayers::random(&SMALL, 2.0, seed, &device).expect("valid sizes");
    let bias = |length: usize| {
        let values: Vec<f32> = (0..length).map(|i| 0.01 * (i as f32 - 1.0)).collect();
        Tensor::<1>::from_data(TensorData::new(values, [length]), &device)
    };
    let conv = |layer: &SpikingConv2d| {
        SpikingConv2d::new(
            layer.name(),
            layer.weight().clone(),
            bias(layer.out_channels()),
            layer.stride(),
            layer.padding(),
        )
        .expect("valid layer")
    };
    let deconv = |layer: &SpikingConvTranspose2d| {
        SpikingConvTranspose2d::new(
            layer.name(),
            layer.weight().clone(),
            bias(layer.out_channels()),
            layer.stride(),
            layer.padding(),
        )
        .expect("valid layer")
    };
    let dense = |layer: &SpikingLinear| {
        SpikingLinear::new(
            layer.name(),
            layer.weight().clone(),
            bias(layer.out_features()),
        )
        .expect("valid layer")
    };
    layers.conv0 = conv(&layers.conv0);
    layers.conv1 = conv(&layers.conv1);
    layers.conv2 = conv(&layers.conv2);
    layers.conv3 = conv(&layers.conv3);
    layers.fc21 = dense(&layers.fc21);
    layers.fc22 = dense(&layers.fc22);
    layers.fc3 = dense(&layers.fc3);
    layers.deconv1 = deconv(&layers.deconv1);
    layers.deconv2 = deconv(&layers.deconv2);
    layers.deconv3 = deconv(&layers.deconv3);
    layers.deconv4 = deconv(&layers.deconv4);
    Csvae::new(layers, [28, 28]).expect("consistent layers")
}

fn digits(count: usize) -> SleepInputs {
    let dataset = Dataset::embedded_mnist().expect("embedded MNIST");
    let indices: Vec<usize> = (0..count).collect();
    let values = dataset.train.batch_values(&indices).expect("valid indices");
    SleepInputs::new(values, [count, 1, 28, 28]).expect("images in [0, 1]")
}

/// Returns a short sleep that makes every layer of the small network fire.
fn short_config() -> SleepConfig {
    SleepConfig {
        inputs: 3,
        steps_per_input: 8,
        thresholds: SleepThresholds::uniform(0.5),
        stdp: csvae_spiking::sleep::StdpConfig {
            a_plus: 0.004,
            a_minus: 0.003,
            window: 2,
            weight_dependence: WeightDependence::Additive,
            shared_weight_update: SharedWeightUpdate::Sum,
            schedule: RateSchedule::Constant,
            layer_rates: csvae_spiking::sleep::LayerRates::default(),
            balance_depression: false,
        },
        competition: None,
        guard: RunawayGuard::off(),
        ..SleepConfig::vae_paper()
    }
}

fn run(network: &Csvae, inputs: &SleepInputs, config: &SleepConfig) -> csvae_spiking::SleepOutcome {
    sleep(network, inputs, config, &device(), &mut |_| {}).expect("sleep runs")
}

/// Returns every weight of a network, by layer name, in network order.
fn weights(network: &Csvae) -> Vec<(&'static str, Vec<f32>)> {
    let layers = network.layers();
    vec![
        ("conv0", values(layers.conv0.weight())),
        ("conv1", values(layers.conv1.weight())),
        ("conv2", values(layers.conv2.weight())),
        ("conv3", values(layers.conv3.weight())),
        ("fc21", values(layers.fc21.weight())),
        ("fc22", values(layers.fc22.weight())),
        ("fc3", values(layers.fc3.weight())),
        ("deconv1", values(layers.deconv1.weight())),
        ("deconv2", values(layers.deconv2.weight())),
        ("deconv3", values(layers.deconv3.weight())),
        ("deconv4", values(layers.deconv4.weight())),
    ]
}

fn biases(network: &Csvae) -> Vec<Vec<f32>> {
    let layers = network.layers();
    vec![
        values(layers.conv0.bias()),
        values(layers.conv1.bias()),
        values(layers.conv2.bias()),
        values(layers.conv3.bias()),
        values(layers.fc21.bias()),
        values(layers.fc22.bias()),
        values(layers.fc3.bias()),
        values(layers.deconv1.bias()),
        values(layers.deconv2.bias()),
        values(layers.deconv3.bias()),
        values(layers.deconv4.bias()),
    ]
}

fn difference(after: &[f32], before: &[f32]) -> Vec<f32> {
    after.iter().zip(before).map(|(a, b)| a - b).collect()
}

#[test]
fn mirrored_pairs_stay_tied() {
    let network = small_network(1);
    let inputs = digits(3);
    for competition in [None, Some(CompetitionConfig::vae_paper())] {
        let config = SleepConfig {
            competition,
            decoder: DecoderPlasticity::Mirrored,
            ..short_config()
        };
        let outcome = run(&network, &inputs, &config);
        // Both sides of a pair accumulate the same changes in the same order, so their change
        // norms agree exactly, however small each step's update is next to the weights.
        for (encoder, decoder) in [
            ("conv0", "deconv4"),
            ("conv1", "deconv3"),
            ("conv2", "deconv2"),
            ("conv3", "deconv1"),
        ] {
            let encoder_norm = outcome.report.layer(encoder).expect("listed").change_norm;
            let decoder_norm = outcome.report.layer(decoder).expect("listed").change_norm;
            assert_eq!(encoder_norm, decoder_norm, "{encoder} -> {decoder}");
        }
        let slept = outcome.network;
        let before: Vec<_> = weights(&network).into_iter().map(|(_, w)| w).collect();
        let after: Vec<_> = weights(&slept).into_iter().map(|(_, w)| w).collect();
        // Indices into `weights`: conv0..conv3 = 0..3, fc21 = 4, fc3 = 6, deconv1..4 = 7..10.
        for (encoder, decoder) in [(0, 10), (1, 9), (2, 8), (3, 7)] {
            let encoder_change = difference(&after[encoder], &before[encoder]);
            let decoder_change = difference(&after[decoder], &before[decoder]);
            assert!(
                encoder_change.iter().any(|&d| d != 0.0),
                "layer {encoder} did not change"
            );
            assert_close(
                &decoder_change,
                &encoder_change,
                &format!("mirror {encoder} -> {decoder}, {competition:?}"),
            );
        }
        // fc21 is [flat, latent] and fc3 [latent, flat]: compare fc21's change transposed.
        let [flat, latent] = network.layers().fc21.weight().dims();
        let fc21_change = difference(&after[4], &before[4]);
        let fc3_change = difference(&after[6], &before[6]);
        let transposed: Vec<f32> = (0..latent)
            .flat_map(|l| (0..flat).map(move |f| (l, f)))
            .map(|(l, f)| fc21_change[f * latent + l])
            .collect();
        assert_close(&fc3_change, &transposed, "mirror fc21 -> fc3");
    }
}

#[test]
fn zero_rates_keep_weights_identical() {
    let network = small_network(2);
    let inputs = digits(2);
    for decoder in [DecoderPlasticity::Mirrored, DecoderPlasticity::Independent] {
        let mut config = SleepConfig {
            decoder,
            competition: Some(CompetitionConfig::vae_paper()),
            ..short_config()
        };
        config.stdp.a_plus = 0.0;
        config.stdp.a_minus = 0.0;
        let outcome = run(&network, &inputs, &config);
        assert_eq!(weights(&outcome.network), weights(&network), "{decoder:?}");
        assert_eq!(biases(&outcome.network), biases(&network), "{decoder:?}");
        for layer in &outcome.report.layers {
            assert_eq!(layer.relative_change, 0.0, "{}", layer.layer);
        }
    }
}

#[test]
fn zero_layer_rate_freezes_layer() {
    let network = small_network(2);
    let inputs = digits(2);
    let mut config = short_config();
    config.stdp.layer_rates.conv1 = 0.0;
    config.stdp.layer_rates.fc21 = 0.0;
    let outcome = run(&network, &inputs, &config);
    let before = weights(&network);
    let after = weights(&outcome.network);

    // Indices into `weights`: conv1 = 1 and its mirror deconv3 = 9, fc21 = 4 and fc3 = 6.
    for index in [1, 9, 4, 6] {
        assert_eq!(after[index], before[index], "{} changed", before[index].0);
    }
    for index in [0, 2, 3, 10] {
        assert_ne!(
            after[index], before[index],
            "{} did not change",
            before[index].0
        );
    }
    for name in ["conv1", "deconv3", "fc21", "fc3"] {
        let layer = outcome.report.layer(name).expect("layer listed");
        assert!(!layer.plastic, "{name} reported as plastic");
    }
    // A frozen layer still fires and drives the layers above it.
    let conv1 = outcome.report.layer("conv1").expect("conv1 listed");
    assert!(conv1.spikes.unwrap_or(0) > 0, "conv1 silent");
}

#[test]
fn layer_rate_scales_first_step() {
    // Over one step the weights cannot influence the spikes yet, so the additive update of
    // conv0 is linear in its rate: a multiplier of 2 (exact in binary) doubles it exactly.
    let network = small_network(4);
    let inputs = digits(1);
    let base = SleepConfig {
        inputs: 1,
        steps_per_input: 1,
        ..short_config()
    };
    let mut doubled = base;
    doubled.stdp.layer_rates.conv0 = 2.0;

    let before = weights(&network);
    let single = difference(
        &weights(&run(&network, &inputs, &base).network)[0].1,
        &before[0].1,
    );
    let double = difference(
        &weights(&run(&network, &inputs, &doubled).network)[0].1,
        &before[0].1,
    );
    assert!(single.iter().any(|&d| d != 0.0), "conv0 did not change");
    let expected: Vec<f32> = single.iter().map(|d| 2.0 * d).collect();
    assert_close(&double, &expected, "conv0 change at multiplier 2");
}

#[test]
fn balanced_depression_removes_drift() {
    // With a_minus = 0.75 a_plus and most pre-synaptic neurons silent, depression dominates and
    // the summed change of a layer is strongly negative. Balanced depression makes every step's
    // additive changes sum to zero, so only float rounding is left of the net change.
    let network = small_network(7);
    let inputs = digits(3);
    let plain = short_config();
    let mut balanced = plain;
    balanced.stdp.balance_depression = true;

    let before = weights(&network);
    let drift = |config: &SleepConfig, layer: usize| {
        let after = weights(&run(&network, &inputs, config).network);
        let change = difference(&after[layer].1, &before[layer].1);
        let net: f32 = change.iter().sum();
        let total: f32 = change.iter().map(|d| d.abs()).sum();
        assert!(total > 0.0, "layer {layer} did not change");
        net / total
    };
    for (layer, name) in [(0, "conv0"), (1, "conv1"), (2, "conv2"), (3, "conv3")] {
        let plain_drift = drift(&plain, layer);
        let balanced_drift = drift(&balanced, layer);
        assert!(plain_drift < -0.5, "{name}: plain drift {plain_drift}");
        assert!(
            balanced_drift.abs() < 1e-3,
            "{name}: balanced drift {balanced_drift}"
        );
    }
}

#[test]
fn same_seed_same_result() {
    let network = small_network(3);
    let inputs = digits(2);
    let config = SleepConfig {
        competition: Some(CompetitionConfig::vae_paper()),
        ..short_config()
    };
    let first = run(&network, &inputs, &config);
    let second = run(&network, &inputs, &config);
    assert_eq!(first.report, second.report);
    assert_eq!(weights(&first.network), weights(&second.network));

    let other_seed = SleepConfig { seed: 1, ..config };
    let third = run(&network, &inputs, &other_seed);
    assert_ne!(weights(&first.network), weights(&third.network));
}

#[test]
fn presets_validate() {
    assert_eq!(SleepConfig::vae_paper().validate(), Ok(()));
    assert_eq!(SleepConfig::tadros_mnist().validate(), Ok(()));
    assert_eq!(SleepConfig::converted_network().validate(), Ok(()));
    assert_eq!(SleepConfig::tadros_mnist().total_steps(), 15_000);
    // Tadros et al.: 239.5 Hz at dt = 1 ms.
    let rates = SleepConfig::tadros_mnist().stdp.rates_at(10_000);
    assert_eq!(rates.a_plus, 0.032);
    assert_eq!(rates.a_minus, 0.0033);
}

#[test]
fn vae_paper_schedule_doubles() {
    let stdp = SleepConfig::vae_paper().stdp;
    // 0.004 * 2^k for k = floor(n / 500), capped at 0.15; a_minus = 0.75 a_plus.
    for (inputs, a_plus) in [
        (0, 0.004),
        (499, 0.004),
        (500, 0.008),
        (2499, 0.064),
        (2500, 0.128),
        (3000, 0.15),
    ] {
        let rates = stdp.rates_at(inputs);
        assert!(
            (rates.a_plus - a_plus).abs() < 1e-7,
            "a_plus after {inputs}: {}",
            rates.a_plus
        );
        assert!(
            (rates.a_minus - 0.75 * a_plus).abs() < 1e-7,
            "a_minus after {inputs}: {}",
            rates.a_minus
        );
    }
}

#[test]
fn invalid_configs_are_typed_errors() {
    let base = SleepConfig::vae_paper();
    let mut negative = base;
    negative.stdp.a_minus = -0.1;
    assert_eq!(
        negative.validate(),
        Err(SpikingError::InvalidLearningRate {
            name: "a_minus".to_string(),
            value: -0.1
        })
    );

    let mut nan = base;
    nan.stdp.a_plus = f32::NAN;
    assert!(matches!(
        nan.validate(),
        Err(SpikingError::InvalidLearningRate { ref name, .. }) if name == "a_plus"
    ));

    let zero_steps = SleepConfig {
        steps_per_input: 0,
        ..base
    };
    assert_eq!(
        zero_steps.validate(),
        Err(SpikingError::ZeroSleepLength {
            field: "steps_per_input".to_string()
        })
    );
    let zero_inputs = SleepConfig { inputs: 0, ..base };
    assert_eq!(
        zero_inputs.validate(),
        Err(SpikingError::ZeroSleepLength {
            field: "inputs".to_string()
        })
    );

    let mut zero_window = base;
    zero_window.stdp.window = 0;
    assert_eq!(zero_window.validate(), Err(SpikingError::ZeroStdpWindow));

    let mut zero_k = base;
    let mut competition = CompetitionConfig::vae_paper();
    competition.conv2.k = 0;
    zero_k.competition = Some(competition);
    assert_eq!(
        zero_k.validate(),
        Err(SpikingError::ZeroWinners {
            layer: "conv2".to_string()
        })
    );

    let mut nan_threshold = base;
    nan_threshold.thresholds.fc21 = f32::NAN;
    assert!(matches!(
        nan_threshold.validate(),
        Err(SpikingError::InvalidThreshold { ref layer, .. }) if layer == "fc21"
    ));

    let mut nan_guard = base;
    nan_guard.guard.max_relative_change = Some(f32::NAN);
    assert!(matches!(
        nan_guard.validate(),
        Err(SpikingError::InvalidSleepParameter { ref parameter, .. })
            if parameter == "guard.max_relative_change"
    ));

    let mut negative_layer = base;
    negative_layer.stdp.layer_rates.conv2 = -1.0;
    assert_eq!(
        negative_layer.validate(),
        Err(SpikingError::InvalidLearningRate {
            name: "layer_rates.conv2".to_string(),
            value: -1.0
        })
    );
    // Decoder rates take effect only with the independent decoder.
    let mut ignored_rate = base;
    ignored_rate.stdp.layer_rates.deconv2 = 0.0;
    assert!(matches!(
        ignored_rate.validate(),
        Err(SpikingError::InvalidSleepParameter { ref parameter, .. })
            if parameter == "stdp.layer_rates.deconv2"
    ));
    ignored_rate.decoder = DecoderPlasticity::Frozen;
    assert!(ignored_rate.validate().is_err());
    ignored_rate.decoder = DecoderPlasticity::Independent;
    assert_eq!(ignored_rate.validate(), Ok(()));

    let mut rates = csvae_spiking::sleep::LayerRates::default();
    assert_eq!(
        rates.set("fc22", 0.5),
        Err(SpikingError::UnknownSleepLayer {
            layer: "fc22".to_string()
        })
    );
    rates.set("deconv2", 0.5).expect("known layer");
    assert_eq!(rates.get("deconv2"), Some(0.5));

    let latency = SleepConfig {
        input_encoder: csvae_spiking::csvae_encoding::Encoder::Latency,
        ..base
    };
    assert_eq!(
        latency.validate(),
        Err(SpikingError::UnsupportedSleepEncoder {
            encoder: "latency".to_string()
        })
    );
}

#[test]
fn inputs_reject_bad_values() {
    assert_eq!(
        SleepInputs::new(vec![0.5, 1.5], [1, 1, 1, 2]),
        Err(SpikingError::InvalidSleepInput {
            index: 1,
            value: 1.5
        })
    );
    assert!(matches!(
        SleepInputs::new(vec![0.5; 3], [1, 1, 1, 2]),
        Err(SpikingError::InputShape { .. })
    ));
    let network = small_network(0);
    let wrong_size = SleepInputs::new(vec![0.5; 16], [1, 1, 4, 4]).expect("valid values");
    let error = sleep(
        &network,
        &wrong_size,
        &short_config(),
        &device(),
        &mut |_| {},
    )
    .expect_err("4x4 images do not fit a 28x28 network");
    assert!(matches!(error, SpikingError::InputShape { .. }), "{error}");
}

#[test]
fn small_network_sleep_report() {
    let network = small_network(4);
    let inputs = digits(3);
    let config = short_config();
    let mut calls = 0;
    let outcome = sleep(&network, &inputs, &config, &device(), &mut |progress| {
        calls += 1;
        assert_eq!(progress.inputs_presented, calls);
        assert_eq!(progress.layers.len(), 10);
    })
    .expect("sleep runs");
    let report = &outcome.report;

    assert_eq!(calls, 3);
    assert_eq!(report.inputs_presented, 3);
    assert_eq!(report.inputs_applied, 3);
    assert_eq!(report.steps_run, 24);
    assert_eq!(report.early_stop, None);
    assert!(report.input_firing_rate > 0.0);
    assert!(report.input_firing_rate < 1.0);

    let names: Vec<&str> = report
        .layers
        .iter()
        .map(|layer| layer.layer.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "conv0", "conv1", "conv2", "conv3", "fc21", "fc3", "deconv1", "deconv2", "deconv3",
            "deconv4"
        ]
    );
    for layer in &report.layers {
        assert!(layer.plastic, "{}", layer.layer);
        assert!(
            layer.relative_change > 0.0,
            "{} did not change",
            layer.layer
        );
        let expected = layer.change_norm / layer.weight_norm;
        assert!(
            (layer.relative_change - expected).abs() <= 1e-12,
            "{}: relative change",
            layer.layer
        );
    }
    for layer in &report.layers[..5] {
        let rate = layer.firing_rate.expect("encoder layers run");
        assert!(rate > 0.0, "{}: rate {rate}", layer.layer);
        assert!(rate < 1.0, "{}: rate {rate}", layer.layer);
        assert!(layer.spikes.expect("encoder layers run") > 0);
        assert!(layer.potentiation_events > 0, "{}", layer.layer);
        assert!(layer.depression_events > 0, "{}", layer.layer);
        assert_eq!(layer.mirror_of, None);
    }
    for layer in &report.layers[5..] {
        assert_eq!(layer.firing_rate, None, "{} does not run", layer.layer);
        assert!(layer.mirror_of.is_some(), "{}", layer.layer);
    }

    // The reported change of conv1 is the change between the two networks.
    let before = weights(&network);
    let after = weights(&outcome.network);
    let change: f64 = difference(&after[1].1, &before[1].1)
        .iter()
        .map(|&d| f64::from(d) * f64::from(d))
        .sum::<f64>()
        .sqrt();
    let conv1 = report.layer("conv1").expect("conv1 listed");
    assert!((conv1.change_norm - change).abs() <= 1e-6 * change.max(1.0));

    // fc22 and every bias stay as they were.
    assert_eq!(after[5], before[5], "fc22 changed");
    assert_eq!(biases(&outcome.network), biases(&network));
    assert_eq!(outcome.network.thresholds(), network.thresholds());

    let json = serde_json::to_string(report).expect("serialise report");
    let back: csvae_spiking::SleepReport = serde_json::from_str(&json).expect("parse report");
    assert_eq!(&back, report);
}

#[test]
fn frozen_decoder_stays() {
    let network = small_network(5);
    let config = SleepConfig {
        decoder: DecoderPlasticity::Frozen,
        ..short_config()
    };
    let outcome = run(&network, &digits(2), &config);
    let before = weights(&network);
    let after = weights(&outcome.network);
    for index in 5..11 {
        assert_eq!(after[index], before[index], "{} changed", before[index].0);
    }
    assert_ne!(after[0], before[0], "conv0 did not change");
    assert_eq!(outcome.report.layers.len(), 5);
}

#[test]
fn independent_decoder_learns_from_own_spikes() {
    let network = small_network(6);
    let config = SleepConfig {
        decoder: DecoderPlasticity::Independent,
        ..short_config()
    };
    let outcome = run(&network, &digits(3), &config);
    for name in ["fc3", "deconv1", "deconv2", "deconv3", "deconv4"] {
        let layer = outcome.report.layer(name).expect("decoder layer listed");
        assert_eq!(layer.mirror_of, None, "{name}");
        assert!(layer.firing_rate.is_some(), "{name} did not run");
    }
    // Not tied: deconv4's change differs from conv0's.
    let before = weights(&network);
    let after = weights(&outcome.network);
    assert_ne!(
        difference(&after[10].1, &before[10].1),
        difference(&after[0].1, &before[0].1)
    );
}

#[test]
fn guard_stops_runaway() {
    let network = small_network(7);
    let mut config = SleepConfig {
        inputs: 5,
        ..short_config()
    };
    config.stdp.a_plus = 0.5;
    config.stdp.a_minus = 0.5;
    config.guard = RunawayGuard {
        max_relative_change: Some(0.05),
        ..RunawayGuard::off()
    };
    let outcome = run(&network, &digits(5), &config);
    let report = &outcome.report;
    assert!(
        matches!(report.early_stop, Some(EarlyStop::RelativeChange { .. })),
        "{:?}",
        report.early_stop
    );
    assert_eq!(report.inputs_applied + 1, report.inputs_presented);
    // The returned network keeps only the inputs that passed the limit.
    for layer in &report.layers {
        assert!(
            layer.relative_change <= 0.05,
            "{}: {}",
            layer.layer,
            layer.relative_change
        );
    }
}

#[test]
fn masked_mean_input_runs() {
    let network = small_network(8);
    let config = SleepConfig {
        inputs: 2,
        steps_per_input: 10,
        guard: RunawayGuard::off(),
        thresholds: SleepThresholds::uniform(0.25),
        ..SleepConfig::tadros_mnist()
    };
    let outcome = run(&network, &digits(20), &config);
    let report = &outcome.report;
    assert_eq!(report.steps_run, 20);
    // The 10x10 window covers 100 of 784 pixels, so at most 100 / 784 of the inputs can fire.
    assert!(report.input_firing_rate > 0.0);
    assert!(report.input_firing_rate <= 100.0 / 784.0);
}

#[test]
fn config_serde_round_trip() {
    for config in [
        SleepConfig::vae_paper(),
        SleepConfig::tadros_mnist(),
        SleepConfig::converted_network(),
    ] {
        let json = serde_json::to_string(&config).expect("serialise");
        let back: SleepConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, config);
    }

    // A configuration saved before per-layer rates existed still loads, with every multiplier
    // at 1.
    let mut old: serde_json::Value =
        serde_json::to_value(SleepConfig::vae_paper()).expect("serialise");
    old["stdp"]
        .as_object_mut()
        .expect("stdp is an object")
        .remove("layer_rates");
    let loaded: SleepConfig = serde_json::from_value(old).expect("parse without layer_rates");
    assert_eq!(loaded, SleepConfig::vae_paper());
}

/// Times a VAE18-width sleep: `cargo test -p csvae-spiking --features flex --test sleep --
/// --ignored --nocapture vae18_sleep_timing`.
#[test]
#[ignore = "takes minutes; run by hand to measure"]
fn vae18_sleep_timing() {
    let device = device();
    let layers =
        CsvaeLayers::random(&CsvaeArchitecture::vae18(), 2.0, 0, &device).expect("valid sizes");
    let network = Csvae::new(layers, [28, 28]).expect("consistent layers");
    let inputs = digits(100);
    for competition in [None, Some(CompetitionConfig::vae_paper())] {
        let config = SleepConfig {
            inputs: 100,
            steps_per_input: 20,
            competition,
            ..short_config()
        };
        let start = std::time::Instant::now();
        let outcome = run(&network, &inputs, &config);
        println!(
            "VAE18, 100 inputs x 20 steps, competition {}: {:.1} s, conv0 rate {:?}",
            competition.is_some(),
            start.elapsed().as_secs_f64(),
            outcome.report.layers[0].firing_rate
        );
    }
}

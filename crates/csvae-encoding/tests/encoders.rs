//! Statistical and determinism checks of the encoders on the flex backend.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_encoding::{Encoder, EncodingError, SpikeEncoder};

const TIME_STEPS: usize = 64;

fn image(values: Vec<f32>, dims: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, dims), &Device::flex())
}

/// Returns a 2x1x8x8 image whose pixels all have the value `x`.
fn uniform_image(x: f32) -> Tensor<4> {
    image(vec![x; 128], [2, 1, 8, 8])
}

fn train_values(encoder: &mut SpikeEncoder) -> Vec<f32> {
    encoder
        .spike_train()
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 tensor data")
}

/// Checks that the spike count of `encoder` is within 5 binomial standard deviations of n * p.
///
/// The count is a sum of n independent Bernoulli(p) draws, so its standard deviation is
/// sqrt(n * p * (1 - p)). A fair sampler leaves a 5-sigma band with probability below 1e-6,
/// and the seed is fixed, so the check cannot flake.
fn assert_count_near(mut encoder: SpikeEncoder, p: f64) {
    let values = train_values(&mut encoder);
    let n = values.len() as f64;
    let count = values.iter().filter(|&&v| v == 1.0).count() as f64;
    let zeros = values.iter().filter(|&&v| v == 0.0).count() as f64;
    assert_eq!(count + zeros, n, "spike trains contain only 0 and 1");

    let expected = n * p;
    let tolerance = 5.0 * (n * p * (1.0 - p)).sqrt();
    assert!(
        (count - expected).abs() <= tolerance,
        "count {count}, expected {expected} +- {tolerance}"
    );
}

#[test]
fn bernoulli_rate_matches_probability() {
    // p = x * max_rate = 0.6 * 0.5 = 0.3 over 2 * 64 pixels * 64 steps = 8192 draws.
    let encoder = SpikeEncoder::new(
        Encoder::Bernoulli { max_rate: 0.5 },
        uniform_image(0.6),
        TIME_STEPS,
        11,
    )
    .expect("valid input");
    assert_count_near(encoder, 0.3);
}

#[test]
fn poisson_rate_matches_probability() {
    // p = x * f_max * dt = 0.5 * 200 Hz * 1 ms = 0.1.
    let poisson = Encoder::Poisson {
        max_frequency_hz: 200.0,
        dt_s: 0.001,
    };
    let encoder =
        SpikeEncoder::new(poisson, uniform_image(0.5), TIME_STEPS, 12).expect("valid input");
    assert_count_near(encoder, 0.1);
}

#[test]
fn poisson_probability_saturates_at_one() {
    // x * f_max * dt = 1 * 2000 Hz * 1 ms = 2 is clipped to 1, so every step fires.
    let poisson = Encoder::Poisson {
        max_frequency_hz: 2000.0,
        dt_s: 0.001,
    };
    let mut encoder = SpikeEncoder::new(poisson, uniform_image(1.0), 8, 3).expect("valid input");
    let values = train_values(&mut encoder);
    assert!(values.iter().all(|&v| v == 1.0));
}

#[test]
fn latency_spike_times_exact() {
    // T = 9, so a pixel x fires at round((1 - x) * 8).
    let pixels = vec![1.0, 0.75, 0.5, 0.25, 0.0, 0.0625];
    let expected_steps = [Some(0), Some(2), Some(4), Some(6), None, Some(8)];
    let mut encoder =
        SpikeEncoder::new(Encoder::Latency, image(pixels, [1, 1, 2, 3]), 9, 0).expect("valid");
    let train = encoder.spike_train();
    assert_eq!(train.dims(), [9, 1, 1, 2, 3]);

    let values = train
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 tensor data");
    for (pixel, expected_step) in expected_steps.iter().enumerate() {
        let spike_steps: Vec<usize> = (0..9).filter(|&t| values[t * 6 + pixel] == 1.0).collect();
        let expected: Vec<usize> = expected_step.iter().copied().collect();
        assert_eq!(spike_steps, expected, "pixel {pixel}");
    }
}

#[test]
fn same_seed_same_spikes() {
    let first = SpikeEncoder::new(Encoder::default(), uniform_image(0.5), 16, 42).expect("valid");
    let second = SpikeEncoder::new(Encoder::default(), uniform_image(0.5), 16, 42).expect("valid");
    let mut first = first;
    let mut second = second;
    assert_eq!(train_values(&mut first), train_values(&mut second));
}

#[test]
fn reset_repeats_spikes() {
    let mut encoder =
        SpikeEncoder::new(Encoder::default(), uniform_image(0.5), 16, 42).expect("valid");
    let streamed: Vec<f32> = encoder
        .by_ref()
        .flat_map(|step| {
            step.into_data()
                .try_into_vec_as::<f32>()
                .expect("f32 tensor data")
        })
        .collect();
    encoder.reset();
    assert_eq!(streamed, train_values(&mut encoder));
}

#[test]
fn different_seeds_different_spikes() {
    let mut first =
        SpikeEncoder::new(Encoder::default(), uniform_image(0.5), 16, 1).expect("valid");
    let mut second =
        SpikeEncoder::new(Encoder::default(), uniform_image(0.5), 16, 2).expect("valid");
    assert_ne!(train_values(&mut first), train_values(&mut second));
}

#[test]
fn invalid_parameters_rejected() {
    let error = SpikeEncoder::new(
        Encoder::Bernoulli { max_rate: -0.1 },
        uniform_image(0.5),
        4,
        0,
    )
    .expect_err("negative max_rate");
    assert_eq!(error, EncodingError::InvalidMaxRate { max_rate: -0.1 });

    let poisson = Encoder::Poisson {
        max_frequency_hz: f32::INFINITY,
        dt_s: 0.001,
    };
    let error = SpikeEncoder::new(poisson, uniform_image(0.5), 4, 0).expect_err("infinite f_max");
    assert!(matches!(error, EncodingError::InvalidMaxFrequency { .. }));
}

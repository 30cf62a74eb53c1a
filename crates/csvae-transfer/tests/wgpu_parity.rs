//! The wgpu backend against flex: a CVAE forward pass and a dense CSVAE run must agree.
//!
//! Built only with `--features wgpu`; `scripts/check_wgpu.sh` installs a software Vulkan driver
//! and runs it. GPU kernels sum in a different order than flex, so the checks allow a small
//! absolute difference instead of equality.
#![cfg(feature = "wgpu")]

use std::time::Instant;

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use csvae_analog::{CvaeConfig, load_checkpoint, save_checkpoint};
use csvae_encoding::Encoder;
use csvae_spiking::SimulationConfig;
use csvae_transfer::{ActivationScales, BalancingForm, convert};

/// Largest accepted absolute difference between the two backends, for values of order 1.
const TOLERANCE: f32 = 1e-4;

fn config() -> CvaeConfig {
    CvaeConfig::small([8, 8, 16, 16], 8)
}

/// Four images in [0, 1] from a fixed formula, so both backends see the same bytes.
fn images(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..4 * 28 * 28)
        .map(|i| {
            let (b, p) = (i / 784, i % 784);
            let (y, x) = ((p / 28) as f32, (p % 28) as f32);
            0.5 + 0.5 * ((x * 0.37 + y * 0.21 + b as f32).sin() * (y * 0.11 - x * 0.05).cos())
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [4, 1, 28, 28]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn wgpu_matches_flex() {
    let flex = Device::flex();
    let wgpu = Device::wgpu(DeviceKind::DefaultDevice);

    // One set of weights for both backends, moved through a checkpoint file.
    flex.seed(5);
    let model = config().init(&flex).expect("init");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cvae.bpk");
    save_checkpoint(&model, &path).expect("save");
    let flex_model = load_checkpoint(&config(), &path, &flex).expect("load on flex");
    let started = Instant::now();
    let wgpu_model = load_checkpoint(&config(), &path, &wgpu).expect("load on wgpu");

    let on_flex = flex_model
        .forward(images(&flex), None)
        .expect("flex forward");
    let on_wgpu = wgpu_model
        .forward(images(&wgpu), None)
        .expect("wgpu forward");
    let pairs = [
        (
            "mu",
            values(on_flex.posterior.mu.clone()),
            values(on_wgpu.posterior.mu.clone()),
        ),
        (
            "logvar",
            values(on_flex.posterior.logvar.clone()),
            values(on_wgpu.posterior.logvar.clone()),
        ),
        ("image", values(on_flex.images()), values(on_wgpu.images())),
    ];
    for (name, a, b) in &pairs {
        let diff = max_abs_difference(a, b);
        println!("CVAE {name}: max abs difference {diff:e}");
        assert!(diff <= TOLERANCE, "CVAE {name}: {diff} > {TOLERANCE}");
    }
    println!(
        "CVAE on wgpu: {:.1} s including the first-call shader compilation",
        started.elapsed().as_secs_f64()
    );

    // The spiking twin with fixed scales and constant-current input: no random spikes.
    let scales =
        ActivationScales::explicit([1.0, 1.2, 1.5, 2.0, 1.0, 1.5, 1.2, 1.0]).expect("scales");
    let simulation = SimulationConfig {
        time_steps: 16,
        input_encoder: Encoder::ConstantCurrent,
        input_seed: 3,
        ..SimulationConfig::default()
    };
    let flex_net = convert(
        &flex_model,
        &scales,
        BalancingForm::ScaledWeights,
        None,
        &flex,
    )
    .expect("convert");
    let started = Instant::now();
    let wgpu_net = convert(
        &wgpu_model,
        &scales,
        BalancingForm::ScaledWeights,
        None,
        &wgpu,
    )
    .expect("convert");
    let on_flex = flex_net
        .network
        .run(images(&flex), &simulation)
        .expect("flex run");
    let on_wgpu = wgpu_net
        .network
        .run(images(&wgpu), &simulation)
        .expect("wgpu run");
    let pairs = [
        ("mu", values(on_flex.mu), values(on_wgpu.mu)),
        ("logvar", values(on_flex.logvar), values(on_wgpu.logvar)),
        (
            "image",
            values(on_flex.reconstruction),
            values(on_wgpu.reconstruction),
        ),
    ];
    // A threshold crossing that flips by rounding moves a mean over T steps by 1 / T of one
    // weight, so the spiking comparison allows more than the analog one.
    let spiking_tolerance = 1e-2;
    for (name, a, b) in &pairs {
        let diff = max_abs_difference(a, b);
        println!("CSVAE {name}: max abs difference {diff:e}");
        assert!(
            diff <= spiking_tolerance,
            "CSVAE {name}: {diff} > {spiking_tolerance}"
        );
    }
    println!("CSVAE on wgpu: {:.1} s", started.elapsed().as_secs_f64());
}

//! The CVAE on real digits: layer shapes, training, checkpoints.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use csvae_analog::{
    AnalogError, CvaeConfig, TrainConfig, TrainEvent, evaluate, load_checkpoint, save_checkpoint,
    train,
};
use csvae_data::Dataset;

fn test_device() -> Device {
    Device::flex()
}

fn small_config() -> CvaeConfig {
    CvaeConfig::small([8, 8, 16, 16], 8)
}

/// PyTorch's output size of ConvTranspose2d without output padding or dilation.
fn conv_transpose_out(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (input - 1) * stride + kernel - 2 * padding
}

/// PyTorch's output size of Conv2d without dilation.
fn conv_out(input: usize, kernel: usize, stride: usize, padding: usize) -> usize {
    (input + 2 * padding - kernel) / stride + 1
}

#[test]
fn every_layer_has_documented_shape() {
    let device = test_device();
    device.seed(1);
    let config = small_config();
    let model = config.init(&device).expect("valid config");
    let x = Tensor::<4>::ones([2, 1, 28, 28], &device).mul_scalar(0.5);

    // Encoder: 28 -> 28 (k5 s1 p2) -> 16 (k4 s2 p3) -> 8 -> 4 (k4 s2 p1).
    assert_eq!(conv_out(28, 5, 1, 2), 28);
    assert_eq!(conv_out(28, 4, 2, 3), 16);
    assert_eq!(conv_out(16, 4, 2, 1), 8);
    assert_eq!(conv_out(8, 4, 2, 1), 4);
    let h0 = model.conv0.forward(x.clone());
    assert_eq!(h0.dims(), [2, 8, 28, 28]);
    let h1 = model.conv1.forward(h0);
    assert_eq!(h1.dims(), [2, 8, 16, 16]);
    let h2 = model.conv2.forward(h1);
    assert_eq!(h2.dims(), [2, 16, 8, 8]);
    let h3 = model.conv3.forward(h2);
    assert_eq!(h3.dims(), [2, 16, 4, 4]);

    let posterior = model.encode(x).expect("encode");
    assert_eq!(posterior.mu.dims(), [2, 8]);
    assert_eq!(posterior.logvar.dims(), [2, 8]);
    assert_eq!(
        model.fc3.forward(posterior.mu.clone()).dims(),
        [2, 16 * 4 * 4]
    );

    // Decoder, checked against PyTorch's ConvTranspose2d formula (in - 1) * s - 2p + k.
    let d0 = Tensor::<4>::ones([2, 16, 4, 4], &device);
    let d1 = model.deconv1.forward(d0);
    assert_eq!(d1.dims()[2], conv_transpose_out(4, 4, 2, 1));
    assert_eq!(d1.dims(), [2, 16, 8, 8]);
    let d2 = model.deconv2.forward(d1);
    assert_eq!(d2.dims()[2], conv_transpose_out(8, 4, 2, 1));
    assert_eq!(d2.dims(), [2, 8, 16, 16]);
    let d3 = model.deconv3.forward(d2);
    assert_eq!(d3.dims()[2], conv_transpose_out(16, 4, 2, 3));
    assert_eq!(d3.dims(), [2, 8, 28, 28]);
    let d4 = model.deconv4.forward(d3);
    assert_eq!(d4.dims()[2], conv_transpose_out(28, 5, 1, 2));
    assert_eq!(d4.dims(), [2, 1, 28, 28]);

    let images = model.decode(posterior.mu).expect("decode");
    let values = images.into_data().try_into_vec::<f32>().expect("f32");
    assert!(values.iter().all(|&v| v > 0.0), "an image value is <= 0");
    assert!(values.iter().all(|&v| v < 1.0), "an image value is >= 1");
}

#[test]
fn vae18_weight_shapes_match_pytorch() {
    let device = test_device();
    let model = CvaeConfig::vae18().init(&device).expect("vae18");
    assert_eq!(model.conv0.weight.dims(), [64, 1, 5, 5]);
    assert_eq!(model.conv1.weight.dims(), [64, 64, 4, 4]);
    assert_eq!(model.conv2.weight.dims(), [128, 64, 4, 4]);
    assert_eq!(model.conv3.weight.dims(), [256, 128, 4, 4]);
    // burn stores Linear as [in, out]; PyTorch's fc21.weight is [128, 4096].
    assert_eq!(model.fc21.weight.dims(), [4096, 128]);
    assert_eq!(model.fc3.weight.dims(), [128, 4096]);
    // ConvTranspose2d as [in, out, kh, kw], as in PyTorch.
    assert_eq!(model.deconv1.weight.dims(), [256, 128, 4, 4]);
    assert_eq!(model.deconv3.weight.dims(), [64, 64, 4, 4]);
    assert_eq!(model.deconv4.weight.dims(), [64, 1, 5, 5]);
    assert!(model.conv0.bias.is_none());
    assert!(model.deconv4.bias.is_none());
}

#[test]
fn wrong_input_shape_is_an_error() {
    let device = test_device();
    let model = small_config().init(&device).expect("valid config");
    let err = model
        .encode(Tensor::<4>::zeros([1, 1, 32, 32], &device))
        .unwrap_err();
    assert!(matches!(err, AnalogError::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("[1, 1, 32, 32]"), "{err}");
    let err = model
        .decode(Tensor::<2>::zeros([1, 3], &device))
        .unwrap_err();
    assert!(matches!(err, AnalogError::ShapeMismatch { .. }), "{err}");
}

#[test]
fn invalid_configs_are_rejected() {
    let device = test_device();
    let err = CvaeConfig::small([8, 0, 8, 8], 4)
        .init(&device)
        .unwrap_err();
    assert!(matches!(err, AnalogError::InvalidConfig { ref field, .. } if field == "channels"));
    let bad = TrainConfig {
        learning_rate: f64::NAN,
        ..TrainConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = TrainConfig {
        epochs: 0,
        ..TrainConfig::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(AnalogError::InvalidConfig { .. })
    ));
}

#[test]
fn training_lowers_loss_on_real_digits() {
    let device = test_device();
    device.seed(7);
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let train_set = data.train.take(512);
    let test_set = data.test.take(200);
    let model = small_config()
        .init(&device.clone().autodiff())
        .expect("init");
    let before = evaluate(&model.valid(), &test_set, 200, &device).expect("evaluate");

    let config = TrainConfig {
        epochs: 2,
        batch_size: 64,
        learning_rate: 3e-3,
        ..TrainConfig::default()
    };
    let mut step_losses = Vec::new();
    let (model, epochs) = train(
        model,
        &train_set,
        Some(&test_set),
        &config,
        &device,
        |event| {
            if let TrainEvent::Step { loss, .. } = event {
                step_losses.push(loss);
            }
        },
    )
    .expect("training runs");

    assert_eq!(step_losses.len(), 2 * 8);
    let first = step_losses[0];
    let last = *step_losses.last().expect("steps");
    assert!(last < 0.7 * first, "loss fell from {first} to {last}");
    let after = epochs[1].test.expect("test metrics");
    assert!(
        after.bce < before.bce,
        "test BCE {} -> {}",
        before.bce,
        after.bce
    );
    assert!(
        after.mse < before.mse,
        "test MSE {} -> {}",
        before.mse,
        after.mse
    );
    assert!(after.psnr > before.psnr);

    // The returned model is in evaluation mode and reproduces the last test metrics.
    let again = evaluate(&model, &test_set, 50, &device).expect("evaluate");
    assert!((again.bce - after.bce).abs() < 1e-3 * after.bce);
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    let device = test_device();
    device.seed(3);
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let config = small_config();
    let model = config.init(&device.clone().autodiff()).expect("init");
    // A few steps so that batch-norm statistics differ from their initial values.
    let train_config = TrainConfig {
        epochs: 1,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let (model, _) = train(
        model,
        &data.train.take(64),
        None,
        &train_config,
        &device,
        |_| {},
    )
    .expect("training runs");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cvae.bpk");
    save_checkpoint(&model, &path).expect("save");
    let loaded = load_checkpoint(&config, &path, &device).expect("load");

    let input = data.test.batch(&[0, 1, 2], &device).expect("batch");
    let a = model.forward(input.clone(), None).expect("forward").logits;
    let b = loaded.forward(input, None).expect("forward").logits;
    let a = a.into_data().try_into_vec::<f32>().expect("f32");
    let b = b.into_data().try_into_vec::<f32>().expect("f32");
    assert_eq!(a, b, "bit-identical outputs after reload");
}

#[test]
fn bad_checkpoints_are_typed_errors() {
    let device = test_device();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_config();

    let missing = dir.path().join("absent.bpk");
    let err = load_checkpoint(&config, &missing, &device).unwrap_err();
    assert!(
        matches!(err, AnalogError::Io { action: "read", .. }),
        "{err}"
    );

    let garbage = dir.path().join("garbage.bpk");
    std::fs::write(&garbage, b"not a checkpoint at all").expect("write");
    let err = load_checkpoint(&config, &garbage, &device).unwrap_err();
    assert!(matches!(err, AnalogError::Checkpoint { .. }), "{err}");

    // A valid checkpoint of another width does not fit.
    let path = dir.path().join("other.bpk");
    let other = CvaeConfig::small([4, 4, 8, 8], 8)
        .init(&device)
        .expect("init");
    save_checkpoint(&other, &path).expect("save");
    let err = load_checkpoint(&config, &path, &device).unwrap_err();
    assert!(matches!(err, AnalogError::Checkpoint { .. }), "{err}");
    // The message counts the mismatches, shows one and names the fix, in a few lines.
    let message = err.to_string();
    assert!(message.contains("tensors have other shapes"), "{message}");
    assert!(message.contains("config.json"), "{message}");
    assert!(
        message.len() < 600,
        "{} characters: {message}",
        message.len()
    );

    // A truncated checkpoint.
    let bytes = std::fs::read(&path).expect("read");
    let truncated = dir.path().join("truncated.bpk");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let err =
        load_checkpoint(&CvaeConfig::small([4, 4, 8, 8], 8), &truncated, &device).unwrap_err();
    assert!(matches!(err, AnalogError::Checkpoint { .. }), "{err}");
}

//! Conversion and transfer back on a small CVAE trained on real digits.

use burn::module::Module;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor};
use csvae_analog::{Cvae, CvaeConfig, TrainConfig, train};
use csvae_data::Dataset;
use csvae_encoding::Encoder;
use csvae_spiking::SimulationConfig;
use csvae_transfer::{
    ActivationScales, BalancingForm, CalibrationConfig, ConversionRecord, HostTensor,
    TransferError, calibrate, convert, fold::BatchNormConstants, fold::fold_batch_norm,
    load_spiking_weights, save_spiking_weights, transfer_back,
};

fn test_device() -> Device {
    Device::flex()
}

fn config() -> CvaeConfig {
    CvaeConfig::small([8, 8, 16, 16], 8)
}

/// Trains a small CVAE for two epochs on 512 embedded digits.
fn trained_model(device: &Device) -> (Cvae, Dataset) {
    device.seed(11);
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let model = config().init(device).expect("init");
    let train_config = TrainConfig {
        epochs: 2,
        batch_size: 64,
        learning_rate: 3e-3,
        ..TrainConfig::default()
    };
    let (model, _) = train(
        model,
        &data.train.take(512),
        None,
        &train_config,
        device,
        |_| {},
    )
    .expect("training runs");
    (model, data)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32")
}

fn max_relative_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-3))
        .fold(0.0, f32::max)
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn folding_keeps_analog_outputs() {
    let device = test_device();
    let (model, data) = trained_model(&device);
    let input = data
        .test
        .batch(&(0..8).collect::<Vec<_>>(), &device)
        .expect("batch");

    // conv1 (output channel on axis 0) after conv0's activations.
    let h0 = model.layer_activations(input).expect("activations").layers[0]
        .1
        .clone();
    let reference = model.conv1_bn.forward(model.conv1.forward(h0.clone()));
    let weight = HostTensor::from_tensor(model.conv1.weight.val(), "conv1").expect("weight");
    let bn = BatchNormConstants::from_module(&model.conv1_bn, "conv1").expect("bn");
    let (w, b) = fold_batch_norm(&weight, None, &bn, 0, "conv1").expect("fold");
    let folded = conv2d(
        h0,
        w.to_tensor::<4>(&device, "conv1").expect("tensor"),
        Some(Tensor::from_data(
            burn::tensor::TensorData::new(b, [8]),
            &device,
        )),
        ConvOptions::new([2, 2], [3, 3], [1, 1], 1),
    );
    // Folding reorders float products, so allow 1e-4 relative error.
    assert!(max_relative_difference(&values(reference), &values(folded)) < 1e-4);

    // deconv2 (output channel on axis 1), fed with a positive feature map.
    let x = Tensor::<4>::random(
        [2, 16, 8, 8],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &device,
    );
    let reference = model.deconv2_bn.forward(model.deconv2.forward(x.clone()));
    let weight = HostTensor::from_tensor(model.deconv2.weight.val(), "deconv2").expect("weight");
    let bn = BatchNormConstants::from_module(&model.deconv2_bn, "deconv2").expect("bn");
    let (w, b) = fold_batch_norm(&weight, None, &bn, 1, "deconv2").expect("fold");
    let folded = conv_transpose2d(
        x,
        w.to_tensor::<4>(&device, "deconv2").expect("tensor"),
        Some(Tensor::from_data(
            burn::tensor::TensorData::new(b, [8]),
            &device,
        )),
        ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
    );
    assert!(max_relative_difference(&values(reference), &values(folded)) < 1e-4);
}

#[test]
fn round_trip_returns_original_weights() {
    let device = test_device();
    let (model, data) = trained_model(&device);
    let calibration = CalibrationConfig {
        images: 128,
        ..CalibrationConfig::default()
    };
    let scales = calibrate(&model, &data.train, &calibration, &device).expect("calibrate");
    for form in [BalancingForm::ScaledWeights, BalancingForm::LayerThresholds] {
        let conversion =
            convert(&model, &scales, form, Some(calibration), &device).expect("convert");
        let back =
            transfer_back(conversion.network.layers(), &conversion.record, &model).expect("back");
        let pairs = [
            (model.conv0.weight.val(), back.conv0.weight.val()),
            (model.conv3.weight.val(), back.conv3.weight.val()),
            (model.deconv1.weight.val(), back.deconv1.weight.val()),
            (model.deconv4.weight.val(), back.deconv4.weight.val()),
        ];
        for (original, returned) in pairs {
            assert!(
                max_relative_difference(&values(original), &values(returned)) < 1e-5,
                "{form:?}"
            );
        }
        for (original, returned) in [
            (model.fc21.weight.val(), back.fc21.weight.val()),
            (model.fc3.weight.val(), back.fc3.weight.val()),
        ] {
            assert!(max_relative_difference(&values(original), &values(returned)) < 1e-5);
        }
        let bias = |m: &Cvae| values(m.fc3.bias.as_ref().expect("fc3 has a bias").val());
        assert!(max_relative_difference(&bias(&model), &bias(&back)) < 1e-5);

        // Same weights, so the same reconstructions.
        let input = data.test.batch(&[0, 1, 2, 3], &device).expect("batch");
        let a = values(
            model
                .forward(input.clone(), None)
                .expect("forward")
                .images(),
        );
        let b = values(back.forward(input, None).expect("forward").images());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
    }
}

#[test]
fn balancing_forms_give_identical_spikes() {
    let device = test_device();
    let (model, data) = trained_model(&device);
    let scales = calibrate(
        &model,
        &data.train,
        &CalibrationConfig {
            images: 128,
            ..Default::default()
        },
        &device,
    )
    .expect("calibrate");
    let scaled =
        convert(&model, &scales, BalancingForm::ScaledWeights, None, &device).expect("convert");
    let thresholds = convert(
        &model,
        &scales,
        BalancingForm::LayerThresholds,
        None,
        &device,
    )
    .expect("convert");
    assert!(thresholds.record.layer("conv1").expect("conv1").v_threshold != 1.0);

    let config = SimulationConfig {
        time_steps: 16,
        input_encoder: Encoder::Bernoulli { max_rate: 1.0 },
        input_seed: 5,
        ..SimulationConfig::default()
    };
    let input = data
        .test
        .batch(&(0..8).collect::<Vec<_>>(), &device)
        .expect("batch");
    let a = scaled.network.run(input.clone(), &config).expect("run");
    let b = thresholds.network.run(input, &config).expect("run");
    for (x, y) in a.statistics.layers.iter().zip(&b.statistics.layers) {
        // Float rounding can flip a spike where the potential meets the threshold exactly, so
        // allow one spike in ten thousand to differ.
        let tolerance = (x.spike_count as f64 * 1e-4).ceil() as u64;
        assert!(
            x.spike_count.abs_diff(y.spike_count) <= tolerance,
            "{}: {} vs {}",
            x.layer,
            x.spike_count,
            y.spike_count
        );
    }
    let (ra, rb) = (values(a.reconstruction), values(b.reconstruction));
    assert!(
        mse(&ra, &rb) < 1e-6,
        "reconstructions differ: {}",
        mse(&ra, &rb)
    );
}

#[test]
fn spiking_error_falls_as_time_steps_grow() {
    let device = test_device();
    let (model, data) = trained_model(&device);
    let scales = calibrate(
        &model,
        &data.train,
        &CalibrationConfig {
            images: 256,
            ..Default::default()
        },
        &device,
    )
    .expect("calibrate");
    let conversion =
        convert(&model, &scales, BalancingForm::ScaledWeights, None, &device).expect("convert");
    let indices: Vec<usize> = (0..32).collect();
    let input = data.test.batch(&indices, &device).expect("batch");
    let analog = values(
        model
            .forward(input.clone(), None)
            .expect("forward")
            .images(),
    );

    let errors: Vec<f64> = [8, 32, 128]
        .into_iter()
        .map(|time_steps| {
            let config = SimulationConfig {
                time_steps,
                input_encoder: Encoder::ConstantCurrent,
                ..SimulationConfig::default()
            };
            let output = conversion.network.run(input.clone(), &config).expect("run");
            mse(&analog, &values(output.reconstruction))
        })
        .collect();
    assert!(errors[0] > errors[1], "T 8 -> 32: {errors:?}");
    assert!(errors[1] > errors[2], "T 32 -> 128: {errors:?}");
}

#[test]
fn weights_file_and_record_round_trip() {
    let device = test_device();
    device.seed(2);
    let model = config().init(&device).expect("init").valid();
    let scales =
        ActivationScales::explicit([1.5, 2.0, 2.5, 3.0, 1.2, 2.2, 1.8, 1.1]).expect("scales");
    let conversion =
        convert(&model, &scales, BalancingForm::ScaledWeights, None, &device).expect("convert");
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = dir.path().join("csvae.safetensors");
    let record_path = dir.path().join("conversion.json");
    save_spiking_weights(conversion.network.layers(), &weights).expect("save weights");
    conversion.record.save(&record_path).expect("save record");

    let layers = load_spiking_weights(&weights, &device).expect("load weights");
    let record = ConversionRecord::load(&record_path).expect("load record");
    assert_eq!(record, conversion.record);
    let back = transfer_back(&layers, &record, &model).expect("back");
    assert!(
        max_relative_difference(
            &values(model.conv2.weight.val()),
            &values(back.conv2.weight.val())
        ) < 1e-5
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let device = test_device();
    let model = config().init(&device).expect("init").valid();
    let scales = ActivationScales::explicit([1.0; 8]).expect("scales");
    let conversion =
        convert(&model, &scales, BalancingForm::ScaledWeights, None, &device).expect("convert");
    let dir = tempfile::tempdir().expect("tempdir");

    // A record missing a layer.
    let mut record = conversion.record.clone();
    record.layers.retain(|layer| layer.name != "deconv2");
    let err = record.layer("deconv2").unwrap_err();
    assert!(
        matches!(err, TransferError::MissingLayer { ref layer, .. } if layer == "deconv2"),
        "{err}"
    );

    // A zero scale in the record.
    let mut record = conversion.record.clone();
    record.layers[2].lambda_out = 0.0;
    let err = transfer_back(conversion.network.layers(), &record, &model).unwrap_err();
    assert!(matches!(err, TransferError::InvalidScale { .. }), "{err}");
    assert!(err.to_string().contains("conv2"), "{err}");

    // A template of another width: the shapes differ.
    let other = CvaeConfig::small([8, 8, 16, 32], 8)
        .init(&device)
        .expect("init")
        .valid();
    let err = transfer_back(conversion.network.layers(), &conversion.record, &other).unwrap_err();
    assert!(matches!(err, TransferError::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("conv3"), "{err}");

    // A non-finite batch-norm constant in a record file.
    let mut record = conversion.record.clone();
    record.layers[0]
        .batch_norm
        .as_mut()
        .expect("conv0 has batch norm")
        .running_var[0] = f32::NAN;
    let path = dir.path().join("nan.json");
    std::fs::write(
        &path,
        serde_json::to_string(&record)
            .expect("json")
            .replace("NaN", "null"),
    )
    .expect("write");
    assert!(ConversionRecord::load(&path).is_err());

    // A truncated weights file.
    let weights = dir.path().join("w.safetensors");
    save_spiking_weights(conversion.network.layers(), &weights).expect("save");
    let bytes = std::fs::read(&weights).expect("read");
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).expect("write");
    let err = load_spiking_weights(&weights, &device).unwrap_err();
    assert!(matches!(err, TransferError::Format { .. }), "{err}");

    // A missing record file.
    let err = ConversionRecord::load(&dir.path().join("absent.json")).unwrap_err();
    assert!(
        matches!(err, TransferError::Io { action: "read", .. }),
        "{err}"
    );

    // An invalid explicit scale.
    assert!(ActivationScales::explicit([1.0, -2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]).is_err());
}

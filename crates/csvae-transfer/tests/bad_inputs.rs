//! Bad inputs through the public API: each is a typed error, never a panic, and a failed
//! write leaves no file behind.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use csvae_analog::{Cvae, CvaeConfig};
use csvae_encoding::Encoder;
use csvae_spiking::{SimulationConfig, SpikingError};
use csvae_transfer::{
    ActivationScales, BalancingForm, Conversion, ConversionRecord, TransferError, convert,
    load_spiking_weights, save_spiking_weights,
};

fn small_model(device: &Device) -> Cvae {
    device.seed(3);
    CvaeConfig::small([2, 2, 4, 4], 4)
        .init(device)
        .expect("init")
        .valid()
}

fn converted(device: &Device) -> (Cvae, Conversion) {
    let model = small_model(device);
    let scales = ActivationScales::explicit([1.0; 8]).expect("scales");
    let conversion =
        convert(&model, &scales, BalancingForm::ScaledWeights, None, device).expect("convert");
    (model, conversion)
}

fn images(value: f32, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(vec![value; 28 * 28], [1, 1, 28, 28]),
        device,
    )
}

#[test]
fn nan_or_zero_scale_is_rejected() {
    for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
        let mut scales = [1.0; 8];
        scales[3] = bad;
        let err = ActivationScales::explicit(scales).expect_err("bad input accepted");
        assert!(
            matches!(err, TransferError::InvalidScale { ref layer, .. } if layer == "conv3"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn nan_weight_blocks_conversion() {
    let device = Device::flex();
    let mut model = small_model(&device);
    let mut values = model
        .conv1
        .weight
        .val()
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    values[5] = f32::NAN;
    let shape: [usize; 4] = model.conv1.weight.dims();
    model.conv1.weight =
        Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), &device));
    let scales = ActivationScales::explicit([1.0; 8]).expect("scales");
    let err = convert(&model, &scales, BalancingForm::ScaledWeights, None, &device)
        .expect_err("bad input accepted");
    assert!(
        matches!(err, TransferError::NonFinite { ref layer, index: 5, .. } if layer == "conv1"),
        "{err}"
    );
}

#[test]
fn zero_time_steps_is_rejected() {
    let device = Device::flex();
    let (_, conversion) = converted(&device);
    let config = SimulationConfig {
        time_steps: 0,
        ..SimulationConfig::default()
    };
    let err = conversion
        .network
        .run(images(0.5, &device), &config)
        .expect_err("bad input accepted");
    assert_eq!(err, SpikingError::ZeroTimeSteps);
    assert!(err.to_string().contains("at least one time step"), "{err}");
}

#[test]
fn probability_outside_unit_interval_is_rejected() {
    let device = Device::flex();
    let (_, conversion) = converted(&device);
    for max_rate in [1.5, -0.1, f32::NAN] {
        let config = SimulationConfig {
            time_steps: 4,
            input_encoder: Encoder::Bernoulli { max_rate },
            ..SimulationConfig::default()
        };
        let err = conversion
            .network
            .run(images(0.5, &device), &config)
            .expect_err("bad input accepted");
        assert!(
            matches!(err, SpikingError::Encoding(_)),
            "{max_rate}: {err}"
        );
        assert!(err.to_string().contains("max_rate"), "{max_rate}: {err}");
    }
}

#[test]
fn pixels_outside_unit_interval_are_rejected() {
    let device = Device::flex();
    let (_, conversion) = converted(&device);
    let config = SimulationConfig {
        time_steps: 4,
        ..SimulationConfig::default()
    };
    for pixel in [1.5, -0.5, f32::NAN] {
        let err = conversion
            .network
            .run(images(pixel, &device), &config)
            .expect_err("bad input accepted");
        assert!(matches!(err, SpikingError::Encoding(_)), "{pixel}: {err}");
    }
}

#[test]
fn nan_in_weights_file_is_named() {
    let device = Device::flex();
    let (_, conversion) = converted(&device);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.safetensors");
    save_spiking_weights(conversion.network.layers(), &path).expect("save");

    // Overwrite the first value of fc3.bias with NaN, leaving the file well-formed.
    let bytes = std::fs::read(&path).expect("read");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("valid file");
    let view = file.tensor("fc3.bias").expect("fc3.bias");
    let offset = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
    let mut edited = bytes.clone();
    edited[offset..offset + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, &edited).expect("write");

    let err = load_spiking_weights(&path, &device).expect_err("bad input accepted");
    assert!(
        matches!(err, TransferError::NonFinite { ref layer, index: 0, .. } if layer == "fc3.bias"),
        "{err}"
    );
}

#[test]
fn weights_file_of_wrong_kind_is_rejected() {
    let device = Device::flex();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w.safetensors");
    let cases: [(&str, &[u8]); 3] = [
        ("empty", b""),
        ("text", b"conv0.weight = [1, 2, 3]"),
        (
            "header length past the end",
            &[255, 255, 255, 255, 0, 0, 0, 0, b'{'],
        ),
    ];
    for (name, bytes) in cases {
        std::fs::write(&path, bytes).expect("write");
        let err = load_spiking_weights(&path, &device).expect_err("bad input accepted");
        assert!(matches!(err, TransferError::Format { .. }), "{name}: {err}");
    }
    let err = load_spiking_weights(&dir.path().join("absent.safetensors"), &device)
        .expect_err("bad input accepted");
    assert!(
        matches!(err, TransferError::Io { action: "read", .. }),
        "{err}"
    );
}

#[test]
fn record_with_wrong_version_is_rejected() {
    let device = Device::flex();
    let (_, conversion) = converted(&device);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("record.json");
    let mut record = conversion.record.clone();
    record.version += 1;
    std::fs::write(&path, serde_json::to_string(&record).expect("json")).expect("write");
    let err = ConversionRecord::load(&path).expect_err("bad input accepted");
    assert!(matches!(err, TransferError::InvalidConfig { .. }), "{err}");
    assert!(
        err.to_string().contains("convert the network again"),
        "{err}"
    );

    std::fs::write(&path, b"{\"version\": 1").expect("write");
    let err = ConversionRecord::load(&path).expect_err("bad input accepted");
    assert!(matches!(err, TransferError::Format { .. }), "{err}");
}

#[test]
fn failed_writes_leave_no_file() {
    let device = Device::flex();
    let (_, conversion) = converted(&device);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("absent");

    let weights = missing.join("w.safetensors");
    let err = save_spiking_weights(conversion.network.layers(), &weights)
        .expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            TransferError::Io {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
    let record = missing.join("record.json");
    let err = conversion
        .record
        .save(&record)
        .expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            TransferError::Io {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

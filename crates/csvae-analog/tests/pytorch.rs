//! Import of PyTorch `state_dict` files against outputs computed by PyTorch itself.
//!
//! The files in tests/data come from scripts/make_pytorch_reference.py (VAE18 with channels
//! [4, 4, 8, 8], latent size 8, non-trivial batch-norm statistics).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use csvae_analog::{AnalogError, CvaeConfig, export_safetensors, import_state_dict};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::Deserialize;

/// Largest accepted difference from PyTorch's float32 outputs.
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    channels: [usize; 4],
    latent_dim: usize,
    input_shape: [usize; 4],
    input: Vec<f32>,
    mu: Vec<f32>,
    logvar: Vec<f32>,
    reconstruction: Vec<f32>,
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(data("vae18_small_outputs.json")).expect("reference JSON");
    serde_json::from_str(&text).expect("valid reference JSON")
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 values")
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Runs the imported network on the reference inputs and returns the largest difference.
fn compare_with_pytorch(path: &Path) -> f32 {
    let device = Device::flex();
    let reference = reference();
    let (model, config) = import_state_dict(path, None, &device).expect("import");
    assert_eq!(
        config,
        CvaeConfig::small(reference.channels, reference.latent_dim)
    );

    let input = Tensor::<4>::from_data(
        TensorData::new(reference.input.clone(), reference.input_shape),
        &device,
    );
    let posterior = model.encode(input).expect("encode");
    let image = model.decode(posterior.mu.clone()).expect("decode");
    let checks = [
        ("mu", values(posterior.mu), &reference.mu),
        ("logvar", values(posterior.logvar), &reference.logvar),
        ("reconstruction", values(image), &reference.reconstruction),
    ];
    let mut worst = 0.0_f32;
    for (name, ours, theirs) in checks {
        let diff = max_abs_difference(&ours, theirs);
        println!("{}: {name} max abs difference {diff:e}", path.display());
        assert!(diff <= TOLERANCE, "{name}: {diff} > {TOLERANCE}");
        worst = worst.max(diff);
    }
    worst
}

#[test]
fn torch_save_file_matches_pytorch() {
    compare_with_pytorch(&data("vae18_small.pt"));
}

#[test]
fn safetensors_file_matches_pytorch() {
    compare_with_pytorch(&data("vae18_small.safetensors"));
}

#[test]
fn export_round_trips_pytorch_file() {
    let device = Device::flex();
    let (model, config) =
        import_state_dict(&data("vae18_small.pt"), None, &device).expect("import");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("exported.safetensors");
    export_safetensors(&model, &path).expect("export");

    // Every tensor of the original file comes back with the same shape and values.
    let original = read_tensors(&data("vae18_small.safetensors"));
    let exported = read_tensors(&path);
    let mut original_keys: Vec<_> = original.keys().collect();
    let mut exported_keys: Vec<_> = exported.keys().collect();
    original_keys.sort();
    exported_keys.sort();
    assert_eq!(original_keys, exported_keys);
    for (key, (shape, dtype, bytes)) in &original {
        let (other_shape, other_dtype, other_bytes) = &exported[key];
        assert_eq!(shape, other_shape, "{key}");
        assert_eq!(dtype, other_dtype, "{key}");
        let skip = key.ends_with("num_batches_tracked") || key.starts_with("fc3_bn.");
        if !skip {
            assert_eq!(bytes, other_bytes, "{key}");
        }
    }
    let (_, again) = import_state_dict(&path, Some(&config), &device).expect("re-import");
    assert_eq!(again, config);
    assert_eq!(
        compare_with_pytorch(&path),
        compare_with_pytorch(&data("vae18_small.pt"))
    );
}

type Tensors = HashMap<String, (Vec<usize>, Dtype, Vec<u8>)>;

fn read_tensors(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).expect("read");
    let file = SafeTensors::deserialize(&bytes).expect("safetensors");
    file.tensors()
        .into_iter()
        .map(|(k, v)| (k, (v.shape().to_vec(), v.dtype(), v.data().to_vec())))
        .collect()
}

/// Writes the reference tensors to a new safetensors file after `edit` changed them.
fn edited(dir: &Path, edit: impl FnOnce(&mut Tensors)) -> PathBuf {
    let mut tensors = read_tensors(&data("vae18_small.safetensors"));
    edit(&mut tensors);
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, (shape, dtype, bytes))| {
            (
                k.clone(),
                TensorView::new(*dtype, shape.clone(), bytes).expect("view"),
            )
        })
        .collect();
    let path = dir.join("edited.safetensors");
    std::fs::write(
        &path,
        safetensors::serialize(views, None).expect("serialize"),
    )
    .expect("write");
    path
}

#[test]
fn missing_tensor_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = edited(dir.path(), |t| {
        t.remove("deconv2_bn.running_var");
    });
    let err = import_state_dict(&path, None, &Device::flex()).expect_err("bad input accepted");
    assert!(
        matches!(&err, AnalogError::MissingTensor { key, .. } if key == "deconv2_bn.running_var"),
        "{err}"
    );
    assert!(err.to_string().contains("deconv2_bn.running_var"), "{err}");
}

#[test]
fn unexpected_tensor_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = edited(dir.path(), |t| {
        let value = t["fc21.bias"].clone();
        t.insert("module.fc21.bias".into(), value);
    });
    let err = import_state_dict(&path, None, &Device::flex()).expect_err("bad input accepted");
    assert!(
        matches!(&err, AnalogError::UnexpectedTensor { key, .. } if key == "module.fc21.bias"),
        "{err}"
    );
    assert!(err.to_string().contains("module."), "{err}");
}

#[test]
fn wrong_shape_names_both_shapes() {
    let dir = tempfile::tempdir().expect("temp dir");
    // conv2 with 4 instead of 8 output channels no longer fits conv3's input.
    let path = edited(dir.path(), |t| {
        let entry = t.get_mut("conv2.weight").expect("conv2");
        entry.0 = vec![4, 4, 4, 4];
        entry.2.truncate(4 * 4 * 4 * 4 * 4);
    });
    let err = import_state_dict(&path, None, &Device::flex()).expect_err("bad input accepted");
    assert!(
        matches!(&err, AnalogError::TensorShape { key, found, .. } if key == "conv2_bn.weight" || (key == "conv3.weight" && found == &vec![8, 8, 4, 4])),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("expected ["), "{text}");
}

#[test]
fn config_mismatch_names_tensor() {
    let path = data("vae18_small.pt");
    let wrong = CvaeConfig::small([4, 4, 8, 16], 8);
    let err =
        import_state_dict(&path, Some(&wrong), &Device::flex()).expect_err("bad input accepted");
    match &err {
        AnalogError::TensorShape {
            key,
            found,
            expected,
            ..
        } => {
            assert_eq!(key, "conv3.weight");
            assert_eq!(found, &vec![8, 8, 4, 4]);
            assert_eq!(expected, "[16, 8, 4, 4]");
        }
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn wrong_dtype_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = edited(dir.path(), |t| {
        let entry = t.get_mut("fc3.bias").expect("fc3.bias");
        entry.1 = Dtype::F16;
        entry.2.truncate(entry.2.len() / 2);
    });
    let err = import_state_dict(&path, None, &Device::flex()).expect_err("bad input accepted");
    assert!(
        matches!(&err, AnalogError::TensorDtype { key, found, .. } if key == "fc3.bias" && found == "f16"),
        "{err}"
    );
}

#[test]
fn nan_weight_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = edited(dir.path(), |t| {
        let entry = t.get_mut("deconv3.weight").expect("deconv3");
        entry.2[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let err = import_state_dict(&path, None, &Device::flex()).expect_err("bad input accepted");
    assert!(
        matches!(&err, AnalogError::NonFiniteTensor { key, index: 2, .. } if key == "deconv3.weight"),
        "{err}"
    );
}

#[test]
fn corrupt_files_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let device = Device::flex();
    let pt = std::fs::read(data("vae18_small.pt")).expect("read");
    let st = std::fs::read(data("vae18_small.safetensors")).expect("read");
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("text", b"not a checkpoint".to_vec()),
        ("truncated zip", pt[..pt.len() / 2].to_vec()),
        ("truncated safetensors", st[..st.len() / 2].to_vec()),
        ("bad header JSON", {
            let mut b = st.clone();
            b[9] = b'{';
            b
        }),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join("bad.pt");
        std::fs::write(&path, bytes).expect("write");
        let err = import_state_dict(&path, None, &device).expect_err("bad input accepted");
        assert!(
            matches!(err, AnalogError::StateDictFormat { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn missing_file_is_io_error() {
    let err = import_state_dict(Path::new("/nonexistent/vae.pt"), None, &Device::flex())
        .expect_err("bad input accepted");
    assert!(
        matches!(err, AnalogError::Io { action: "read", .. }),
        "{err}"
    );
}

#[test]
fn export_to_missing_folder_fails_cleanly() {
    let device = Device::flex();
    let (model, _) = import_state_dict(&data("vae18_small.pt"), None, &device).expect("import");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent").join("out.safetensors");
    let err = export_safetensors(&model, &path).expect_err("bad input accepted");
    assert!(
        matches!(
            err,
            AnalogError::Io {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
    assert!(!path.exists());
}

//! Import of a PyTorch VAE18 `state_dict` and export in the same layout.
//!
//! The reader accepts a file written by `torch.save(model.state_dict(), path)` (the zip format
//! of PyTorch 1.6 and later, and the older legacy format), read with the `pytorch-reader` crate
//! without PyTorch, and a safetensors file with the same keys. The key set is checked exactly:
//! every tensor the network needs must be present with the PyTorch layout and `float32` values,
//! and no other key may appear, except the `num_batches_tracked` counters and the unused
//! `fc3_bn.*` tensors of the original model.
//!
//! Layouts: PyTorch and burn store Conv2d weights as `[out, in, kh, kw]` and ConvTranspose2d
//! weights as `[in, out, kh, kw]`; PyTorch stores Linear weights as `[out, in]` and burn as
//! `[in, out]`, so those are transposed on the way in and out.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Module, Param, RunningState};
use burn::nn::{BatchNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::config::{BOTTLENECK_SIZE, CvaeConfig};
use crate::error::{AnalogError, Result};
use crate::model::Cvae;

/// The two file formats a `state_dict` can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateDictFormat {
    /// A `torch.save` file (`.pt`, `.pth`).
    Pytorch,
    /// A safetensors file.
    Safetensors,
}

impl StateDictFormat {
    /// Detects the format from the first bytes of a file. A safetensors file starts with an
    /// 8-byte header length followed by `{`, so anything else goes to the PyTorch reader.
    pub fn detect(bytes: &[u8]) -> Self {
        if bytes.len() > 8 && bytes[8] == b'{' {
            Self::Safetensors
        } else {
            Self::Pytorch
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Pytorch => "PyTorch",
            Self::Safetensors => "safetensors",
        }
    }
}

/// One tensor of a `state_dict` on the host. `values` is filled for `float32` tensors only.
#[derive(Debug, Clone)]
struct RawTensor {
    dtype: String,
    shape: Vec<usize>,
    values: Option<Vec<f32>>,
}

/// Whether the network needs a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Loaded into the network, so it must be present.
    Required,
    /// Checked when present, then ignored (`fc3_bn.*`).
    Ignored,
}

/// Batch-norm layers of the network in key order.
const BATCH_NORMS: [&str; 7] = [
    "conv0_bn",
    "conv1_bn",
    "conv2_bn",
    "conv3_bn",
    "deconv1_bn",
    "deconv2_bn",
    "deconv3_bn",
];

/// Lists the `float32` tensors of a `state_dict` for `config`, with their PyTorch shapes.
fn expected_tensors(config: &CvaeConfig) -> Vec<(String, Vec<usize>, Need)> {
    let [c0, c1, c2, c3] = config.channels;
    let c_in = config.input_channels;
    let latent = config.latent_dim;
    let flat = config.flat_dim();
    let mut table = vec![
        (
            "conv0.weight".to_string(),
            vec![c0, c_in, 5, 5],
            Need::Required,
        ),
        (
            "conv1.weight".to_string(),
            vec![c1, c0, 4, 4],
            Need::Required,
        ),
        (
            "conv2.weight".to_string(),
            vec![c2, c1, 4, 4],
            Need::Required,
        ),
        (
            "conv3.weight".to_string(),
            vec![c3, c2, 4, 4],
            Need::Required,
        ),
        (
            "fc21.weight".to_string(),
            vec![latent, flat],
            Need::Required,
        ),
        ("fc21.bias".to_string(), vec![latent], Need::Required),
        (
            "fc22.weight".to_string(),
            vec![latent, flat],
            Need::Required,
        ),
        ("fc22.bias".to_string(), vec![latent], Need::Required),
        ("fc3.weight".to_string(), vec![flat, latent], Need::Required),
        ("fc3.bias".to_string(), vec![flat], Need::Required),
        (
            "deconv1.weight".to_string(),
            vec![c3, c2, 4, 4],
            Need::Required,
        ),
        (
            "deconv2.weight".to_string(),
            vec![c2, c1, 4, 4],
            Need::Required,
        ),
        (
            "deconv3.weight".to_string(),
            vec![c1, c0, 4, 4],
            Need::Required,
        ),
        (
            "deconv4.weight".to_string(),
            vec![c0, c_in, 5, 5],
            Need::Required,
        ),
    ];
    let widths = [c0, c1, c2, c3, c2, c1, c0];
    for (layer, width) in BATCH_NORMS.iter().zip(widths) {
        for field in ["weight", "bias", "running_mean", "running_var"] {
            table.push((format!("{layer}.{field}"), vec![width], Need::Required));
        }
    }
    for field in ["weight", "bias", "running_mean", "running_var"] {
        table.push((format!("fc3_bn.{field}"), vec![flat], Need::Ignored));
    }
    table
}

/// Returns whether `key` is the counter PyTorch keeps in every batch norm. Its value does not
/// affect evaluation.
fn is_batch_counter(key: &str) -> bool {
    key.strip_suffix(".num_batches_tracked")
        .is_some_and(|layer| layer == "fc3_bn" || BATCH_NORMS.contains(&layer))
}

fn format_error(path: &Path, format: StateDictFormat, message: String) -> AnalogError {
    AnalogError::StateDictFormat {
        path: path.to_path_buf(),
        format: format.name(),
        message,
    }
}

fn read_safetensors(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, RawTensor>> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| format_error(path, StateDictFormat::Safetensors, e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (key, view) in file.tensors() {
        let values = (view.dtype() == Dtype::F32).then(|| {
            view.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        });
        let raw = RawTensor {
            dtype: format!("{:?}", view.dtype()).to_lowercase(),
            shape: view.shape().to_vec(),
            values,
        };
        tensors.insert(key, raw);
    }
    Ok(tensors)
}

fn read_pytorch(path: &Path) -> Result<BTreeMap<String, RawTensor>> {
    let error = |message: String| format_error(path, StateDictFormat::Pytorch, message);
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|e| error(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (key, tensor) in reader.into_tensors() {
        let is_f32 = tensor.dtype() == pytorch_reader::DType::F32;
        let dtype = format!("{:?}", tensor.dtype()).to_lowercase();
        let shape = tensor.shape().to_vec();
        // Counters and other non-float tensors are never loaded, so their bytes stay unread.
        let values = if is_f32 {
            let bytes = tensor.read().map_err(|e| error(e.to_string()))?;
            Some(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        } else {
            None
        };
        tensors.insert(
            key,
            RawTensor {
                dtype,
                shape,
                values,
            },
        );
    }
    Ok(tensors)
}

/// Reads every tensor of a `state_dict` file, in either format.
fn read_state_dict(path: &Path) -> Result<BTreeMap<String, RawTensor>> {
    let bytes = std::fs::read(path).map_err(|source| AnalogError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    match StateDictFormat::detect(&bytes) {
        StateDictFormat::Safetensors => read_safetensors(path, &bytes),
        StateDictFormat::Pytorch => read_pytorch(path),
    }
}

/// Reads the widths from the shapes of the conv weights and the latent size from fc21.
fn infer_config(path: &Path, tensors: &BTreeMap<String, RawTensor>) -> Result<CvaeConfig> {
    let shape_of = |key: &str, rank: usize, expected: &str| -> Result<Vec<usize>> {
        let tensor = tensors.get(key).ok_or_else(|| AnalogError::MissingTensor {
            path: path.to_path_buf(),
            key: key.to_string(),
        })?;
        if tensor.shape.len() != rank {
            return Err(AnalogError::TensorShape {
                path: path.to_path_buf(),
                key: key.to_string(),
                found: tensor.shape.clone(),
                expected: expected.to_string(),
            });
        }
        Ok(tensor.shape.clone())
    };
    let conv0 = shape_of("conv0.weight", 4, "[c0, c_in, 5, 5]")?;
    let conv1 = shape_of("conv1.weight", 4, "[c1, c0, 4, 4]")?;
    let conv2 = shape_of("conv2.weight", 4, "[c2, c1, 4, 4]")?;
    let conv3 = shape_of("conv3.weight", 4, "[c3, c2, 4, 4]")?;
    let fc21 = shape_of("fc21.weight", 2, "[latent, 16 * c3]")?;
    let mut config = CvaeConfig::small([conv0[0], conv1[0], conv2[0], conv3[0]], fc21[0]);
    config.input_channels = conv0[1];
    Ok(config)
}

/// Checks the key set, shapes, element types and values against `config`.
fn check_tensors(
    path: &Path,
    tensors: &BTreeMap<String, RawTensor>,
    config: &CvaeConfig,
) -> Result<()> {
    let table = expected_tensors(config);
    for key in tensors.keys() {
        let known = table.iter().any(|(name, _, _)| name == key) || is_batch_counter(key);
        if !known {
            return Err(AnalogError::UnexpectedTensor {
                path: path.to_path_buf(),
                key: key.clone(),
            });
        }
    }
    for (key, shape, need) in &table {
        let Some(tensor) = tensors.get(key) else {
            if *need == Need::Required {
                return Err(AnalogError::MissingTensor {
                    path: path.to_path_buf(),
                    key: key.clone(),
                });
            }
            continue;
        };
        if &tensor.shape != shape {
            return Err(AnalogError::TensorShape {
                path: path.to_path_buf(),
                key: key.clone(),
                found: tensor.shape.clone(),
                expected: format!("{shape:?}"),
            });
        }
        let Some(values) = &tensor.values else {
            return Err(AnalogError::TensorDtype {
                path: path.to_path_buf(),
                key: key.clone(),
                found: tensor.dtype.clone(),
                expected: "f32",
            });
        };
        if *need == Need::Required
            && let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite())
        {
            return Err(AnalogError::NonFiniteTensor {
                path: path.to_path_buf(),
                key: key.clone(),
                index,
                value,
            });
        }
    }
    Ok(())
}

/// Loads a PyTorch VAE18 `state_dict` into a new network on `device`, in evaluation mode.
///
/// The format (PyTorch `torch.save` or safetensors) is detected from the file's content. With
/// `config` set, every tensor must fit it; with `None`, the widths, input channels and latent
/// size are read from the shapes of `conv0.weight` .. `conv3.weight` and `fc21.weight`, and the
/// batch-norm constants keep their defaults (epsilon 1e-5, PyTorch's default, which the file
/// does not record). Returns the network and the configuration it was built with.
///
/// # Errors
/// [`AnalogError::Io`] for a missing or unreadable file, [`AnalogError::StateDictFormat`] for a
/// corrupt one, [`AnalogError::MissingTensor`], [`AnalogError::UnexpectedTensor`],
/// [`AnalogError::TensorShape`] and [`AnalogError::TensorDtype`] naming the key, and
/// [`AnalogError::NonFiniteTensor`] for a NaN or infinite value.
pub fn import_state_dict(
    path: &Path,
    config: Option<&CvaeConfig>,
    device: &Device,
) -> Result<(Cvae, CvaeConfig)> {
    let tensors = read_state_dict(path)?;
    let config = match config {
        Some(config) => config.clone(),
        None => infer_config(path, &tensors)?,
    };
    config.validate()?;
    // Every tensor is checked before the network is built, so a file can only make this
    // allocate as much as it holds.
    check_tensors(path, &tensors, &config)?;

    let mut take = |key: &str| -> Vec<f32> {
        tensors
            .get(key)
            .and_then(|t| t.values.clone())
            .unwrap_or_default()
    };
    let model = config.init(device)?;
    let model = assign(model, &config, &mut take, device);
    Ok((model.valid(), config))
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn shape4(t: &Tensor<4>) -> [usize; 4] {
    t.dims()
}

/// Converts a PyTorch `[out, in]` matrix to burn's `[in, out]`, or back.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

fn assign_linear(
    linear: &mut Linear,
    name: &str,
    take: &mut impl FnMut(&str) -> Vec<f32>,
    device: &Device,
) {
    let [d_in, d_out] = linear.weight.dims();
    let weight = transpose(&take(&format!("{name}.weight")), d_out, d_in);
    linear.weight = Param::from_tensor(tensor(weight, [d_in, d_out], device));
    linear.bias = Some(Param::from_tensor(tensor(
        take(&format!("{name}.bias")),
        [d_out],
        device,
    )));
}

fn assign_batch_norm(
    bn: &mut BatchNorm,
    name: &str,
    take: &mut impl FnMut(&str) -> Vec<f32>,
    device: &Device,
) {
    let [n] = bn.gamma.dims();
    bn.gamma = Param::from_tensor(tensor(take(&format!("{name}.weight")), [n], device));
    bn.beta = Param::from_tensor(tensor(take(&format!("{name}.bias")), [n], device));
    bn.running_mean = RunningState::new(tensor(take(&format!("{name}.running_mean")), [n], device));
    bn.running_var = RunningState::new(tensor(take(&format!("{name}.running_var")), [n], device));
}

/// Replaces every parameter of `model` with the checked tensors.
fn assign(
    mut m: Cvae,
    config: &CvaeConfig,
    take: &mut impl FnMut(&str) -> Vec<f32>,
    device: &Device,
) -> Cvae {
    macro_rules! weight4 {
        ($layer:ident) => {
            let shape = shape4(&m.$layer.weight.val());
            let values = take(concat!(stringify!($layer), ".weight"));
            m.$layer.weight = Param::from_tensor(tensor(values, shape, device));
        };
    }
    weight4!(conv0);
    weight4!(conv1);
    weight4!(conv2);
    weight4!(conv3);
    weight4!(deconv1);
    weight4!(deconv2);
    weight4!(deconv3);
    weight4!(deconv4);
    assign_batch_norm(&mut m.conv0_bn, "conv0_bn", take, device);
    assign_batch_norm(&mut m.conv1_bn, "conv1_bn", take, device);
    assign_batch_norm(&mut m.conv2_bn, "conv2_bn", take, device);
    assign_batch_norm(&mut m.conv3_bn, "conv3_bn", take, device);
    assign_batch_norm(&mut m.deconv1_bn, "deconv1_bn", take, device);
    assign_batch_norm(&mut m.deconv2_bn, "deconv2_bn", take, device);
    assign_batch_norm(&mut m.deconv3_bn, "deconv3_bn", take, device);
    assign_linear(&mut m.fc21, "fc21", take, device);
    assign_linear(&mut m.fc22, "fc22", take, device);
    assign_linear(&mut m.fc3, "fc3", take, device);
    debug_assert_eq!(m.bottleneck_channels, config.channels[3]);
    m
}

/// A host copy of one tensor for export: little-endian bytes and a shape.
struct Export {
    key: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn host_values<const D: usize>(path: &Path, t: Tensor<D>, key: &str) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| {
            let message = format!("cannot copy `{key}` to the host: {e:?}");
            format_error(path, StateDictFormat::Safetensors, message)
        })
}

fn f32_export(key: String, shape: Vec<usize>, values: &[f32]) -> Export {
    Export {
        key,
        dtype: Dtype::F32,
        shape,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn export_batch_norm(path: &Path, out: &mut Vec<Export>, name: &str, bn: &BatchNorm) -> Result<()> {
    let n = bn.gamma.dims()[0];
    let fields = [
        ("weight", bn.gamma.val()),
        ("bias", bn.beta.val()),
        ("running_mean", bn.running_mean.value()),
        ("running_var", bn.running_var.value()),
    ];
    for (field, value) in fields {
        let key = format!("{name}.{field}");
        let values = host_values(path, value, &key)?;
        out.push(f32_export(key, vec![n], &values));
    }
    out.push(counter(name));
    Ok(())
}

/// Returns a zero `num_batches_tracked` counter (int64 scalar), which PyTorch's strict loading requires.
fn counter(name: &str) -> Export {
    Export {
        key: format!("{name}.num_batches_tracked"),
        dtype: Dtype::I64,
        shape: vec![],
        bytes: 0_i64.to_le_bytes().to_vec(),
    }
}

fn export_linear(path: &Path, out: &mut Vec<Export>, name: &str, linear: &Linear) -> Result<()> {
    let [d_in, d_out] = linear.weight.dims();
    let key = format!("{name}.weight");
    let weight = host_values(path, linear.weight.val(), &key)?;
    out.push(f32_export(
        key,
        vec![d_out, d_in],
        &transpose(&weight, d_in, d_out),
    ));
    let key = format!("{name}.bias");
    let bias = match &linear.bias {
        Some(bias) => host_values(path, bias.val(), &key)?,
        None => vec![0.0; d_out],
    };
    out.push(f32_export(key, vec![d_out], &bias));
    Ok(())
}

/// Saves `model` as a safetensors `state_dict` with PyTorch's key names and layouts, atomically.
///
/// The file loads into the PyTorch VAE18 module with `load_state_dict(strict=True)` because it
/// also contains zero `num_batches_tracked` counters and an identity `fc3_bn` (weight 1, bias 0, mean 0,
/// variance 1), which the original model declares but never uses.
///
/// # Errors
/// [`AnalogError::StateDictFormat`] when encoding fails, [`AnalogError::Io`] when writing fails.
pub fn export_safetensors(model: &Cvae, path: &Path) -> Result<()> {
    let mut out = Vec::new();
    let convs = [
        ("conv0", model.conv0.weight.val()),
        ("conv1", model.conv1.weight.val()),
        ("conv2", model.conv2.weight.val()),
        ("conv3", model.conv3.weight.val()),
        ("deconv1", model.deconv1.weight.val()),
        ("deconv2", model.deconv2.weight.val()),
        ("deconv3", model.deconv3.weight.val()),
        ("deconv4", model.deconv4.weight.val()),
    ];
    for (name, weight) in convs {
        let key = format!("{name}.weight");
        let shape = weight.dims().to_vec();
        let values = host_values(path, weight, &key)?;
        out.push(f32_export(key, shape, &values));
    }
    let norms = [
        &model.conv0_bn,
        &model.conv1_bn,
        &model.conv2_bn,
        &model.conv3_bn,
        &model.deconv1_bn,
        &model.deconv2_bn,
        &model.deconv3_bn,
    ];
    for (name, bn) in BATCH_NORMS.iter().zip(norms) {
        export_batch_norm(path, &mut out, name, bn)?;
    }
    export_linear(path, &mut out, "fc21", &model.fc21)?;
    export_linear(path, &mut out, "fc22", &model.fc22)?;
    export_linear(path, &mut out, "fc3", &model.fc3)?;

    let flat = model.bottleneck_channels * BOTTLENECK_SIZE * BOTTLENECK_SIZE;
    for (field, value) in [
        ("weight", 1.0),
        ("bias", 0.0),
        ("running_mean", 0.0),
        ("running_var", 1.0),
    ] {
        out.push(f32_export(
            format!("fc3_bn.{field}"),
            vec![flat],
            &vec![value; flat],
        ));
    }
    out.push(counter("fc3_bn"));

    let error = |message: String| format_error(path, StateDictFormat::Safetensors, message);
    let mut views = Vec::with_capacity(out.len());
    for export in &out {
        let view = TensorView::new(export.dtype, export.shape.clone(), &export.bytes)
            .map_err(|e| error(e.to_string()))?;
        views.push((export.key.clone(), view));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let encoded =
        safetensors::serialize(views, Some(metadata)).map_err(|e| error(e.to_string()))?;
    csvae_data::fs::write_atomic(path, &encoded).map_err(|source| AnalogError::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

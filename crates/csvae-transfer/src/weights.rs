//! The spiking network's weights as a safetensors file (`conv0.weight`, `conv0.bias`, ...).

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use csvae_spiking::{
    CsvaeLayers, DECODER_GEOMETRY, ENCODER_GEOMETRY, SpikingConv2d, SpikingConvTranspose2d,
    SpikingLinear,
};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Result, TransferError};
use crate::host::HostTensor;

/// Layer names in file order.
const LAYERS: [&str; 11] = [
    "conv0", "conv1", "conv2", "conv3", "fc21", "fc22", "fc3", "deconv1", "deconv2", "deconv3",
    "deconv4",
];

/// Copies every weight and bias to the host, keyed `layer.weight` and `layer.bias`.
pub(crate) fn host_tensors(layers: &CsvaeLayers) -> Result<Vec<(String, HostTensor)>> {
    let mut out = Vec::with_capacity(2 * LAYERS.len());
    let mut push = |name: &str, weight: HostTensor, bias: HostTensor| {
        out.push((format!("{name}.weight"), weight));
        out.push((format!("{name}.bias"), bias));
    };
    for conv in layers.encoder_convolutions() {
        push(
            conv.name(),
            HostTensor::from_tensor(conv.weight().clone(), conv.name())?,
            HostTensor::from_tensor(conv.bias().clone(), conv.name())?,
        );
    }
    for linear in [&layers.fc21, &layers.fc22, &layers.fc3] {
        push(
            linear.name(),
            HostTensor::from_tensor(linear.weight().clone(), linear.name())?,
            HostTensor::from_tensor(linear.bias().clone(), linear.name())?,
        );
    }
    for deconv in layers.decoder_convolutions() {
        push(
            deconv.name(),
            HostTensor::from_tensor(deconv.weight().clone(), deconv.name())?,
            HostTensor::from_tensor(deconv.bias().clone(), deconv.name())?,
        );
    }
    Ok(out)
}

/// Saves every spiking weight and bias as little-endian `f32` in a safetensors file,
/// atomically.
///
/// # Errors
/// [`TransferError::TensorData`], [`TransferError::Format`] or [`TransferError::Io`].
pub fn save_spiking_weights(layers: &CsvaeLayers, path: &Path) -> Result<()> {
    let format_error = |message: String| TransferError::Format {
        path: path.to_path_buf(),
        format: "safetensors",
        message,
    };
    let tensors = host_tensors(layers)?;
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, host)| {
            let raw = host.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, host.shape, raw)
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, shape, raw) in &bytes {
        let view = TensorView::new(Dtype::F32, shape.clone(), raw)
            .map_err(|e| format_error(e.to_string()))?;
        views.push((name.clone(), view));
    }
    let metadata = HashMap::from([("format".to_string(), "csvae spiking weights".to_string())]);
    let encoded =
        safetensors::serialize(views, Some(metadata)).map_err(|e| format_error(e.to_string()))?;
    csvae_data::fs::write_atomic(path, &encoded).map_err(|source| TransferError::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    })
}

/// Loads a file written by [`save_spiking_weights`] onto `device`. Strides and paddings come
/// from the VAE18 layer geometry.
///
/// # Errors
/// [`TransferError::Io`], [`TransferError::Format`] for a corrupt file or a non-`f32` tensor,
/// [`TransferError::MissingLayer`] naming an absent tensor, [`TransferError::NonFinite`], and
/// spiking-layer construction errors for inconsistent shapes.
pub fn load_spiking_weights(path: &Path, device: &Device) -> Result<CsvaeLayers> {
    let bytes = std::fs::read(path).map_err(|source| TransferError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    let format_error = |message: String| TransferError::Format {
        path: path.to_path_buf(),
        format: "safetensors",
        message,
    };
    let file = SafeTensors::deserialize(&bytes).map_err(|e| format_error(e.to_string()))?;
    let read = |key: String| -> Result<HostTensor> {
        let view = file.tensor(&key).map_err(|_| TransferError::MissingLayer {
            layer: key.clone(),
            source_name: path.display().to_string(),
        })?;
        if view.dtype() != Dtype::F32 {
            return Err(format_error(format!(
                "{key} has dtype {:?}, expected F32",
                view.dtype()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let host = HostTensor {
            shape: view.shape().to_vec(),
            values,
        };
        host.check(&key, "values")?;
        Ok(host)
    };
    let pair = |name: &str| -> Result<(HostTensor, HostTensor)> {
        Ok((
            read(format!("{name}.weight"))?,
            read(format!("{name}.bias"))?,
        ))
    };
    let conv = |index: usize| -> Result<SpikingConv2d> {
        let name = LAYERS[index];
        let (w, b) = pair(name)?;
        let g = ENCODER_GEOMETRY[index];
        Ok(SpikingConv2d::new(
            name,
            w.to_tensor::<4>(device, name)?,
            b.to_tensor::<1>(device, name)?,
            [g.stride; 2],
            [g.padding; 2],
        )?)
    };
    let linear = |name: &str| -> Result<SpikingLinear> {
        let (w, b) = pair(name)?;
        Ok(SpikingLinear::new(
            name,
            w.to_tensor::<2>(device, name)?,
            b.to_tensor::<1>(device, name)?,
        )?)
    };
    let deconv = |index: usize| -> Result<SpikingConvTranspose2d> {
        let name = LAYERS[7 + index];
        let (w, b) = pair(name)?;
        let g = DECODER_GEOMETRY[index];
        Ok(SpikingConvTranspose2d::new(
            name,
            w.to_tensor::<4>(device, name)?,
            b.to_tensor::<1>(device, name)?,
            [g.stride; 2],
            [g.padding; 2],
        )?)
    };
    Ok(CsvaeLayers {
        conv0: conv(0)?,
        conv1: conv(1)?,
        conv2: conv(2)?,
        conv3: conv(3)?,
        fc21: linear("fc21")?,
        fc22: linear("fc22")?,
        fc3: linear("fc3")?,
        deconv1: deconv(0)?,
        deconv2: deconv(1)?,
        deconv3: deconv(2)?,
        deconv4: deconv(3)?,
    })
}

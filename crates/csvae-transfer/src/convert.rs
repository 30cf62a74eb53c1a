//! Analog -> spiking conversion and the transfer back.

use burn::module::{Param, RunningState};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Linear};
use burn::tensor::{Device, Tensor};
use csvae_analog::{Cvae, IMAGE_SIZE};
use csvae_spiking::{
    Csvae, CsvaeLayers, NeuronThresholds, SpikingConv2d, SpikingConvTranspose2d, SpikingLinear,
};

use crate::calibrate::{ActivationScales, CalibrationConfig};
use crate::error::{Result, TransferError};
use crate::fold::{BatchNormConstants, fold_batch_norm, unfold_batch_norm};
use crate::host::HostTensor;
use crate::record::{
    BalancingForm, ConversionRecord, LayerKind, LayerRecord, LayerRole, RECORD_VERSION,
};

/// Relative tolerance of the bias check in [`transfer_back`]: a spiking bias that moved further
/// than this from its converted value is reported as a change.
pub const BIAS_TOLERANCE: f64 = 1e-4;

/// A converted network and the record that inverts the conversion.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The spiking network, thresholds set.
    pub network: Csvae,
    /// Scales and folding constants of every layer.
    pub record: ConversionRecord,
}

/// The analog layer at one position of the network, seen uniformly.
struct AnalogLayer<'a> {
    name: &'static str,
    kind: LayerKind,
    role: LayerRole,
    weight: HostTensor,
    bias: Option<Tensor<1>>,
    batch_norm: Option<&'a BatchNorm>,
    /// Name of the ReLU layer feeding this one, `None` for the image or z.
    input: Option<&'static str>,
}

fn conv_layer<'a>(
    name: &'static str,
    conv: &Conv2d,
    bn: &'a BatchNorm,
    input: Option<&'static str>,
) -> Result<AnalogLayer<'a>> {
    Ok(AnalogLayer {
        name,
        kind: LayerKind::Conv2d,
        role: LayerRole::Spiking,
        weight: HostTensor::from_tensor(conv.weight.val(), name)?,
        bias: conv.bias.as_ref().map(Param::val),
        batch_norm: Some(bn),
        input,
    })
}

fn deconv_layer<'a>(
    name: &'static str,
    deconv: &ConvTranspose2d,
    bn: Option<&'a BatchNorm>,
    input: &'static str,
) -> Result<AnalogLayer<'a>> {
    Ok(AnalogLayer {
        name,
        kind: LayerKind::ConvTranspose2d,
        role: if bn.is_some() {
            LayerRole::Spiking
        } else {
            LayerRole::Readout
        },
        weight: HostTensor::from_tensor(deconv.weight.val(), name)?,
        bias: deconv.bias.as_ref().map(Param::val),
        batch_norm: bn,
        input: Some(input),
    })
}

fn linear_layer(
    name: &'static str,
    linear: &Linear,
    role: LayerRole,
    input: Option<&'static str>,
) -> Result<AnalogLayer<'static>> {
    Ok(AnalogLayer {
        name,
        kind: LayerKind::Linear,
        role,
        weight: HostTensor::from_tensor(linear.weight.val(), name)?,
        bias: linear.bias.as_ref().map(Param::val),
        batch_norm: None,
        input,
    })
}

fn analog_layers(model: &Cvae) -> Result<Vec<AnalogLayer<'_>>> {
    Ok(vec![
        conv_layer("conv0", &model.conv0, &model.conv0_bn, None)?,
        conv_layer("conv1", &model.conv1, &model.conv1_bn, Some("conv0"))?,
        conv_layer("conv2", &model.conv2, &model.conv2_bn, Some("conv1"))?,
        conv_layer("conv3", &model.conv3, &model.conv3_bn, Some("conv2"))?,
        linear_layer("fc21", &model.fc21, LayerRole::Readout, Some("conv3"))?,
        linear_layer("fc22", &model.fc22, LayerRole::Readout, Some("conv3"))?,
        linear_layer("fc3", &model.fc3, LayerRole::Spiking, None)?,
        deconv_layer("deconv1", &model.deconv1, Some(&model.deconv1_bn), "fc3")?,
        deconv_layer(
            "deconv2",
            &model.deconv2,
            Some(&model.deconv2_bn),
            "deconv1",
        )?,
        deconv_layer(
            "deconv3",
            &model.deconv3,
            Some(&model.deconv3_bn),
            "deconv2",
        )?,
        deconv_layer("deconv4", &model.deconv4, None, "deconv3")?,
    ])
}

/// Output-channel axis of a weight of this kind.
fn channel_axis(kind: LayerKind) -> usize {
    match kind {
        LayerKind::Conv2d => 0,
        LayerKind::ConvTranspose2d | LayerKind::Linear => 1,
    }
}

/// Returns `(weight_factor, bias_factor, v_threshold)` of one layer.
fn balancing_factors(
    role: LayerRole,
    form: BalancingForm,
    lambda_in: f64,
    lambda_out: f64,
) -> (f64, f64, f64) {
    match (role, form) {
        // A readout receives spikes at rate a / lambda_in and undoes that scale.
        (LayerRole::Readout, _) => (lambda_in, 1.0, 1.0),
        (LayerRole::Spiking, BalancingForm::ScaledWeights) => {
            (lambda_in / lambda_out, 1.0 / lambda_out, 1.0)
        }
        (LayerRole::Spiking, BalancingForm::LayerThresholds) => {
            (1.0, 1.0 / lambda_in, lambda_out / lambda_in)
        }
    }
}

/// Converts a trained CVAE (in evaluation mode) into its spiking twin.
///
/// Batch norm is folded into each convolution, then every spiking layer is balanced with
/// `scales` in the chosen `form` (see [`BalancingForm`]). The readouts fc21, fc22 and deconv4
/// multiply their weights by the scale of their input so that they read activations, not rates.
/// The decoder input fc3 sees the analog z, whose scale is 1.
///
/// `calibration` is stored in the record for provenance only.
///
/// # Errors
/// [`TransferError::InvalidScale`] for a bad scale, [`TransferError::NonFinite`] for a NaN or
/// infinite weight, bias or batch-norm constant, and spiking-network construction errors.
pub fn convert(
    model: &Cvae,
    scales: &ActivationScales,
    form: BalancingForm,
    calibration: Option<CalibrationConfig>,
    device: &Device,
) -> Result<Conversion> {
    scales.validate()?;
    let mut records = Vec::new();
    let mut weights = Vec::new();
    for layer in analog_layers(model)? {
        let weight = layer.weight;
        weight.check(layer.name, "weight")?;
        let bias = match &layer.bias {
            Some(b) => Some(HostTensor::from_tensor(b.clone(), layer.name)?.values),
            None => None,
        };
        if let Some(b) = &bias {
            crate::host::check_finite(b, layer.name, "bias")?;
        }
        let axis = channel_axis(layer.kind);
        let (folded, folded_bias, batch_norm) = match layer.batch_norm {
            Some(bn) => {
                let constants = BatchNormConstants::from_module(bn, layer.name)?;
                let (w, b) =
                    fold_batch_norm(&weight, bias.as_deref(), &constants, axis, layer.name)?;
                (w, b, Some(constants))
            }
            None => {
                let b = bias
                    .clone()
                    .unwrap_or_else(|| vec![0.0; weight.shape[axis]]);
                (weight.clone(), b, None)
            }
        };
        let lambda_in = layer.input.and_then(|name| scales.get(name)).unwrap_or(1.0);
        let lambda_out = match layer.role {
            LayerRole::Spiking => scales.get(layer.name).unwrap_or(1.0),
            LayerRole::Readout => 1.0,
        };
        let (weight_factor, bias_factor, v_threshold) =
            balancing_factors(layer.role, form, lambda_in, lambda_out);

        let mut spiking_weight = folded;
        spiking_weight.scale(weight_factor);
        let spiking_bias: Vec<f32> = folded_bias
            .iter()
            .map(|&b| (f64::from(b) * bias_factor) as f32)
            .collect();
        let weight_shape = weight.shape.clone();
        weights.push((layer.name, layer.kind, spiking_weight, spiking_bias));
        records.push(LayerRecord {
            name: layer.name.to_string(),
            kind: layer.kind,
            role: layer.role,
            weight_shape,
            analog_bias: bias.is_some(),
            batch_norm,
            lambda_in,
            lambda_out,
            weight_factor,
            bias_factor,
            v_threshold,
            folded_bias,
        });
    }

    let record = ConversionRecord {
        version: RECORD_VERSION,
        form,
        calibration,
        scales: *scales,
        layers: records,
    };
    let layers = spiking_layers(model, weights, device)?;
    let network =
        Csvae::new(layers, [IMAGE_SIZE, IMAGE_SIZE])?.with_thresholds(thresholds_of(&record)?)?;
    Ok(Conversion { network, record })
}

/// Returns the per-layer thresholds stored in a record.
///
/// # Errors
/// [`TransferError::MissingLayer`] when a spiking layer is absent.
pub fn thresholds_of(record: &ConversionRecord) -> Result<NeuronThresholds> {
    let t = |name: &str| record.layer(name).map(|layer| layer.v_threshold as f32);
    Ok(NeuronThresholds {
        conv0: t("conv0")?,
        conv1: t("conv1")?,
        conv2: t("conv2")?,
        conv3: t("conv3")?,
        fc3: t("fc3")?,
        deconv1: t("deconv1")?,
        deconv2: t("deconv2")?,
        deconv3: t("deconv3")?,
        deconv4: 1.0,
    })
}

fn padding_of(conv: &Conv2d) -> [usize; 2] {
    match conv.padding {
        PaddingConfig2d::Explicit(top, left, _, _) => [top, left],
        // The CVAE is built with explicit padding only.
        PaddingConfig2d::Same | PaddingConfig2d::Valid => [0, 0],
    }
}

fn spiking_layers(
    model: &Cvae,
    weights: Vec<(&'static str, LayerKind, HostTensor, Vec<f32>)>,
    device: &Device,
) -> Result<CsvaeLayers> {
    let mut convs = Vec::new();
    let mut linears = Vec::new();
    let mut deconvs = Vec::new();
    let analog_convs = [&model.conv0, &model.conv1, &model.conv2, &model.conv3];
    let analog_deconvs = [
        &model.deconv1,
        &model.deconv2,
        &model.deconv3,
        &model.deconv4,
    ];
    for (name, kind, weight, bias) in weights {
        let bias_tensor = HostTensor {
            shape: vec![bias.len()],
            values: bias,
        }
        .to_tensor::<1>(device, name)?;
        match kind {
            LayerKind::Conv2d => {
                let analog = analog_convs[convs.len()];
                convs.push(SpikingConv2d::new(
                    name,
                    weight.to_tensor::<4>(device, name)?,
                    bias_tensor,
                    analog.stride,
                    padding_of(analog),
                )?);
            }
            LayerKind::ConvTranspose2d => {
                let analog = analog_deconvs[deconvs.len()];
                deconvs.push(SpikingConvTranspose2d::new(
                    name,
                    weight.to_tensor::<4>(device, name)?,
                    bias_tensor,
                    analog.stride,
                    analog.padding,
                )?);
            }
            LayerKind::Linear => {
                linears.push(SpikingLinear::new(
                    name,
                    weight.to_tensor::<2>(device, name)?,
                    bias_tensor,
                )?);
            }
        }
    }
    let [conv0, conv1, conv2, conv3]: [SpikingConv2d; 4] =
        convs.try_into().map_err(|_| missing("conv0..conv3"))?;
    let [fc21, fc22, fc3]: [SpikingLinear; 3] =
        linears.try_into().map_err(|_| missing("fc21, fc22, fc3"))?;
    let [deconv1, deconv2, deconv3, deconv4]: [SpikingConvTranspose2d; 4] = deconvs
        .try_into()
        .map_err(|_| missing("deconv1..deconv4"))?;
    Ok(CsvaeLayers {
        conv0,
        conv1,
        conv2,
        conv3,
        fc21,
        fc22,
        fc3,
        deconv1,
        deconv2,
        deconv3,
        deconv4,
    })
}

fn missing(layer: &str) -> TransferError {
    TransferError::MissingLayer {
        layer: layer.to_string(),
        source_name: "the converted layers".into(),
    }
}

/// Transfers spiking weights back into an analog CVAE.
///
/// `template` supplies the architecture. The result takes every weight from `layers` with the
/// balancing factors divided out and batch norm unfolded with the recorded constants, and its
/// batch-norm parameters are the recorded ones. Linear layers also take their (unscaled) bias
/// back. Convolutions have no bias of their own, so their spiking bias must still equal the
/// converted one: STDP changes weights only.
///
/// # Errors
/// [`TransferError::ShapeMismatch`] naming the layer and both shapes, [`TransferError::NonFinite`]
/// for NaN or infinite weights, [`TransferError::BiasChanged`], and the record's validation
/// errors.
pub fn transfer_back(
    layers: &CsvaeLayers,
    record: &ConversionRecord,
    template: &Cvae,
) -> Result<Cvae> {
    record.validate()?;
    let mut tensors: std::collections::HashMap<String, HostTensor> =
        crate::weights::host_tensors(layers)?.into_iter().collect();
    let mut take = |key: String| {
        tensors.remove(&key).ok_or(TransferError::MissingLayer {
            layer: key,
            source_name: "the spiking layers".into(),
        })
    };
    let mut model = template.clone();
    for entry in &record.layers {
        let name = entry.name.as_str();
        let spiking = take(format!("{name}.weight"))?;
        let spiking_bias = take(format!("{name}.bias"))?.values;
        if spiking.shape != entry.weight_shape {
            return Err(TransferError::ShapeMismatch {
                layer: format!("{name}.weight"),
                expected: entry.weight_shape.clone(),
                found: spiking.shape,
            });
        }
        spiking.check(name, "spiking weight")?;
        crate::host::check_finite(&spiking_bias, name, "spiking bias")?;

        let mut folded = spiking;
        folded.scale(1.0 / entry.weight_factor);
        let bias: Vec<f32> = spiking_bias
            .iter()
            .map(|&b| (f64::from(b) / entry.bias_factor) as f32)
            .collect();
        let weight = match &entry.batch_norm {
            Some(bn) => unfold_batch_norm(&folded, bn, channel_axis(entry.kind), name)?,
            None => folded,
        };
        if !entry.analog_bias {
            check_bias_unchanged(name, &bias, &entry.folded_bias)?;
        }
        set_layer(&mut model, entry, weight, bias)?;
    }
    Ok(model)
}

fn check_bias_unchanged(layer: &str, bias: &[f32], converted: &[f32]) -> Result<()> {
    let mut max_change = 0.0f64;
    for (&now, &then) in bias.iter().zip(converted) {
        let change = (f64::from(now) - f64::from(then)).abs();
        if change > BIAS_TOLERANCE * f64::from(then.abs()).max(1.0) {
            max_change = max_change.max(change);
        }
    }
    if max_change > 0.0 {
        return Err(TransferError::BiasChanged {
            layer: layer.to_string(),
            max_change,
        });
    }
    Ok(())
}

fn replace_param<const D: usize>(
    param: &mut Param<Tensor<D>>,
    host: &HostTensor,
    layer: &str,
) -> Result<()> {
    let current = param.val();
    let expected = current.dims().to_vec();
    if host.shape != expected {
        return Err(TransferError::ShapeMismatch {
            layer: layer.to_string(),
            expected,
            found: host.shape.clone(),
        });
    }
    *param = Param::from_tensor(host.to_tensor::<D>(&current.device(), layer)?);
    Ok(())
}

fn set_batch_norm(bn: &mut BatchNorm, constants: &BatchNormConstants, layer: &str) -> Result<()> {
    let device = bn.gamma.val().device();
    let vector = |values: &Vec<f32>| HostTensor {
        shape: vec![values.len()],
        values: values.clone(),
    };
    replace_param(
        &mut bn.gamma,
        &vector(&constants.gamma),
        &format!("{layer}_bn.gamma"),
    )?;
    replace_param(
        &mut bn.beta,
        &vector(&constants.beta),
        &format!("{layer}_bn.beta"),
    )?;
    bn.running_mean =
        RunningState::new(vector(&constants.running_mean).to_tensor::<1>(&device, layer)?);
    bn.running_var =
        RunningState::new(vector(&constants.running_var).to_tensor::<1>(&device, layer)?);
    bn.epsilon = constants.epsilon;
    Ok(())
}

fn set_layer(
    model: &mut Cvae,
    entry: &LayerRecord,
    weight: HostTensor,
    bias: Vec<f32>,
) -> Result<()> {
    let name = entry.name.as_str();
    let weight_path = format!("{name}.weight");
    let bias_host = HostTensor {
        shape: vec![bias.len()],
        values: bias,
    };
    macro_rules! conv_with_bn {
        ($conv:ident, $bn:ident) => {{
            replace_param(&mut model.$conv.weight, &weight, &weight_path)?;
            if let Some(constants) = &entry.batch_norm {
                set_batch_norm(&mut model.$bn, constants, name)?;
            }
        }};
    }
    macro_rules! linear {
        ($linear:ident) => {{
            replace_param(&mut model.$linear.weight, &weight, &weight_path)?;
            if let Some(param) = model.$linear.bias.as_mut() {
                replace_param(param, &bias_host, &format!("{name}.bias"))?;
            }
        }};
    }
    match name {
        "conv0" => conv_with_bn!(conv0, conv0_bn),
        "conv1" => conv_with_bn!(conv1, conv1_bn),
        "conv2" => conv_with_bn!(conv2, conv2_bn),
        "conv3" => conv_with_bn!(conv3, conv3_bn),
        "fc21" => linear!(fc21),
        "fc22" => linear!(fc22),
        "fc3" => linear!(fc3),
        "deconv1" => conv_with_bn!(deconv1, deconv1_bn),
        "deconv2" => conv_with_bn!(deconv2, deconv2_bn),
        "deconv3" => conv_with_bn!(deconv3, deconv3_bn),
        "deconv4" => replace_param(&mut model.deconv4.weight, &weight, &weight_path)?,
        other => return Err(missing(other)),
    }
    Ok(())
}

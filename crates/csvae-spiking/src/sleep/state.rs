//! The state of a sleeping network: plastic weights, layers with their neurons, the decoder,
//! and one time step of all of them.

use burn::tensor::module::{conv_transpose2d, conv2d, linear};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor};

use super::config::{DecoderPlasticity, LearningRates, SleepConfig};
use super::neurons::{Competition, Neurons, Trace, read_scalar};
use super::report::LayerSleepReport;
use super::stdp::{
    StdpRule, StdpUpdate, WeightRange, conv_transpose2d_stdp, conv2d_stdp, linear_stdp,
};
use crate::error::SpikingError;
use crate::layers::SpikingLinear;
use crate::model::Csvae;

/// The weight of one layer during sleep, with its starting value and event counts.
///
/// The change since the start is accumulated in its own tensor and the weight is rebuilt as
/// `start + change` after every update. A per-step update can be only a few float spacings of
/// the weight it changes, so adding it to the weight directly would round away part of it. The
/// accumulator keeps the updates whole, and a mirrored pair receives bit-identical changes.
#[derive(Debug, Clone)]
pub(super) struct Plastic<const D: usize> {
    pub(super) name: &'static str,
    mirror_of: Option<&'static str>,
    /// Multiplier of the learning rates, where 0 freezes the weight.
    rate_scale: f32,
    pub(super) plastic: bool,
    /// `start + change`, the weight the layer computes with.
    pub(super) weight: Tensor<D>,
    start: Tensor<D>,
    change: Tensor<D>,
    /// The change after the last input that passed every check.
    kept_change: Tensor<D>,
    start_norm: f64,
    range: WeightRange,
    pending: Option<Tensor<D>>,
    potentiation: Tensor<1>,
    depression: Tensor<1>,
}

impl<const D: usize> Plastic<D> {
    pub(super) fn new(
        name: &'static str,
        weight: &Tensor<D>,
        rate_scale: f32,
        mirror_of: Option<&'static str>,
        device: &Device,
    ) -> Result<Self, SpikingError> {
        let weight = weight.clone().to_device(device);
        let min = read_scalar(weight.clone().min(), name)? as f32;
        let max = read_scalar(weight.clone().max(), name)? as f32;
        let start_norm = read_scalar(weight.clone().square().sum(), name)?.sqrt();
        Ok(Self {
            name,
            mirror_of,
            rate_scale,
            plastic: rate_scale > 0.0,
            start: weight.clone(),
            change: weight.zeros_like(),
            kept_change: weight.zeros_like(),
            weight,
            start_norm,
            range: WeightRange { min, max },
            pending: None,
            potentiation: Tensor::zeros([1], device),
            depression: Tensor::zeros([1], device),
        })
    }

    fn stage(&mut self, update: StdpUpdate<D>) {
        self.potentiation = self.potentiation.clone() + update.potentiation_events;
        self.depression = self.depression.clone() + update.depression_events;
        self.pending = Some(update.delta);
    }

    /// Adds the staged change to the weight, or drops it when `apply` is false.
    fn apply(&mut self, apply: bool) -> Option<Tensor<D>> {
        let delta = self.pending.take()?;
        if apply {
            self.add(delta.clone());
            Some(delta)
        } else {
            None
        }
    }

    /// Adds `delta` to the accumulated change and rebuilds the weight.
    fn add(&mut self, delta: Tensor<D>) {
        self.change = self.change.clone() + delta;
        self.weight = self.start.clone() + self.change.clone();
    }

    /// Records the current change as the one to keep.
    pub(super) fn keep(&mut self) {
        self.kept_change = self.change.clone();
    }

    /// Returns to the change kept after the last input that passed every check.
    pub(super) fn restore(&mut self) {
        self.change = self.kept_change.clone();
        self.weight = self.start.clone() + self.change.clone();
    }

    /// Returns the weight with the kept change.
    pub(super) fn kept_weight(&self) -> Tensor<D> {
        self.start.clone() + self.kept_change.clone()
    }

    /// Returns the Frobenius norm of the current change.
    pub(super) fn change_norm(&self) -> Result<f64, SpikingError> {
        norm(&self.change, self.name)
    }

    pub(super) fn relative(&self, change_norm: f64) -> f64 {
        if change_norm == 0.0 {
            0.0
        } else {
            change_norm / self.start_norm.max(f64::MIN_POSITIVE)
        }
    }

    fn rule(&self, config: &SleepConfig, rates: LearningRates) -> StdpRule {
        StdpRule {
            rates: LearningRates {
                a_plus: rates.a_plus * self.rate_scale,
                a_minus: rates.a_minus * self.rate_scale,
            },
            weight_dependence: config.stdp.weight_dependence,
            weight_range: self.range,
            shared_weight_update: config.stdp.shared_weight_update,
            balance_depression: config.stdp.balance_depression,
        }
    }

    pub(super) fn report(
        &self,
        spikes: Option<u64>,
        neurons: usize,
        steps: usize,
    ) -> Result<LayerSleepReport, SpikingError> {
        let change_norm = norm(&self.kept_change, self.name)?;
        let firing_rate = spikes.map(|count| count as f64 / (neurons * steps).max(1) as f64);
        Ok(LayerSleepReport {
            layer: self.name.to_string(),
            mirror_of: self.mirror_of.map(str::to_string),
            plastic: self.plastic,
            weight_norm: self.start_norm,
            change_norm,
            relative_change: self.relative(change_norm),
            spikes,
            firing_rate,
            potentiation_events: read_scalar(self.potentiation.clone(), self.name)?.round() as u64,
            depression_events: read_scalar(self.depression.clone(), self.name)?.round() as u64,
        })
    }
}

/// A convolution (encoder) or transposed convolution (independent decoder) with its neurons.
#[derive(Debug, Clone)]
pub(super) struct ConvLayer {
    pub(super) synapse: Plastic<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [usize; 2],
    transposed: bool,
    pub(super) neurons: Neurons<4>,
}

/// The parts of a convolution that its sleeping twin is built from.
struct ConvSpec<'a> {
    name: &'static str,
    weight: &'a Tensor<4>,
    bias: &'a Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    transposed: bool,
    /// Output shape `[channels, height, width]`.
    shape: [usize; 3],
}

impl ConvLayer {
    fn new(
        spec: ConvSpec<'_>,
        competition: Competition,
        config: &SleepConfig,
        device: &Device,
    ) -> Result<Self, SpikingError> {
        let rate = layer_value(config.stdp.layer_rates.get(spec.name), spec.name)?;
        let v_threshold = layer_value(config.thresholds.get(spec.name), spec.name)?;
        let [c, h, w] = spec.shape;
        Ok(Self {
            synapse: Plastic::new(spec.name, spec.weight, rate, None, device)?,
            bias: sleep_bias(spec.bias, config, device),
            stride: spec.stride,
            padding: spec.padding,
            transposed: spec.transposed,
            neurons: Neurons::new(
                spec.name,
                v_threshold,
                [1, c, h, w],
                config,
                competition,
                device,
            ),
        })
    }

    fn current(&self, input: Tensor<4>) -> Tensor<4> {
        let weight = self.synapse.weight.clone();
        if self.transposed {
            let options = ConvTransposeOptions::new(self.stride, self.padding, [0, 0], [1, 1], 1);
            conv_transpose2d(input, weight, self.bias.clone(), options)
        } else {
            let options = ConvOptions::new(self.stride, self.padding, [1, 1], 1);
            conv2d(input, weight, self.bias.clone(), options)
        }
    }

    /// Runs one step of this layer and stages its STDP update; returns its spikes and their
    /// window trace.
    fn step(
        &mut self,
        input: Tensor<4>,
        pre_recent: Tensor<4>,
        config: &SleepConfig,
        rates: LearningRates,
    ) -> Result<(Tensor<4>, Tensor<4>), SpikingError> {
        let (spikes, learners) = self.neurons.step(self.current(input))?;
        let recent = self.neurons.trace.update(&spikes);
        if self.synapse.plastic {
            let rule = self.synapse.rule(config, rates);
            let stdp = if self.transposed {
                conv_transpose2d_stdp
            } else {
                conv2d_stdp
            };
            let update = stdp(
                &self.synapse.weight,
                pre_recent,
                learners,
                self.stride,
                self.padding,
                &rule,
            );
            self.synapse.stage(update);
        }
        Ok((spikes, recent))
    }
}

/// A linear layer with its neurons (fc21, and fc3 in the independent decoder).
#[derive(Debug, Clone)]
pub(super) struct DenseLayer {
    pub(super) synapse: Plastic<2>,
    bias: Option<Tensor<1>>,
    pub(super) neurons: Neurons<2>,
}

impl DenseLayer {
    fn new(
        name: &'static str,
        layer: &SpikingLinear,
        competition: Competition,
        config: &SleepConfig,
        device: &Device,
    ) -> Result<Self, SpikingError> {
        let rate = layer_value(config.stdp.layer_rates.get(name), name)?;
        let v_threshold = layer_value(config.thresholds.get(name), name)?;
        Ok(Self {
            synapse: Plastic::new(name, layer.weight(), rate, None, device)?,
            bias: sleep_bias(layer.bias(), config, device),
            neurons: Neurons::new(
                name,
                v_threshold,
                [1, layer.out_features()],
                config,
                competition,
                device,
            ),
        })
    }

    fn step(
        &mut self,
        input: Tensor<2>,
        pre_recent: Tensor<2>,
        config: &SleepConfig,
        rates: LearningRates,
    ) -> Result<(Tensor<2>, Tensor<2>), SpikingError> {
        let current = linear(input, self.synapse.weight.clone(), self.bias.clone());
        let (spikes, learners) = self.neurons.step(current)?;
        let recent = self.neurons.trace.update(&spikes);
        if self.synapse.plastic {
            let rule = self.synapse.rule(config, rates);
            let update = linear_stdp(&self.synapse.weight, pre_recent, learners, &rule);
            self.synapse.stage(update);
        }
        Ok((spikes, recent))
    }
}

/// The decoder during sleep. Its layers are boxed because they are much larger than
/// `Frozen`.
#[derive(Debug, Clone)]
pub(super) enum Decoder {
    Frozen,
    /// fc3 and deconv1..deconv4, which receive the changes of fc21 and conv3..conv0.
    Mirrored {
        fc3: Box<Plastic<2>>,
        deconvolutions: Vec<Plastic<4>>,
    },
    Independent {
        fc3: Box<DenseLayer>,
        deconvolutions: Vec<ConvLayer>,
    },
}

/// Returns the Frobenius norm of `tensor`.
fn norm<const D: usize>(tensor: &Tensor<D>, name: &str) -> Result<f64, SpikingError> {
    Ok(read_scalar(tensor.clone().square().sum(), name)?.sqrt())
}

/// Returns the biases a sleeping layer adds, or `None` when the configuration leaves them out.
fn sleep_bias(bias: &Tensor<1>, config: &SleepConfig, device: &Device) -> Option<Tensor<1>> {
    config
        .include_biases
        .then(|| bias.clone().to_device(device))
}

/// Turns the lookup of a per-layer sleep setting into a typed error for an unknown layer.
fn layer_value(value: Option<f32>, layer: &str) -> Result<f32, SpikingError> {
    value.ok_or_else(|| SpikingError::UnknownSleepLayer {
        layer: layer.to_string(),
    })
}

/// Returns the index among deconv1..deconv4 of the mirror of encoder convolution `index`.
fn mirror_index(index: usize) -> usize {
    3 - index
}

const ENCODER_NAMES: [&str; 4] = ["conv0", "conv1", "conv2", "conv3"];
const DECODER_NAMES: [&str; 4] = ["deconv1", "deconv2", "deconv3", "deconv4"];

/// Everything a sleep changes or tracks.
pub(super) struct SleepState {
    pub(super) encoder: Vec<ConvLayer>,
    pub(super) fc21: DenseLayer,
    pub(super) decoder: Decoder,
    input_trace: Trace<4>,
    encoder_shapes: [[usize; 3]; 4],
}

impl SleepState {
    pub(super) fn new(
        network: &Csvae,
        config: &SleepConfig,
        device: &Device,
    ) -> Result<Self, SpikingError> {
        let layers = network.layers();
        let mut encoder = Vec::with_capacity(4);
        for (index, conv) in layers.encoder_convolutions().into_iter().enumerate() {
            let competition = match &config.competition {
                Some(settings) => Competition::Spatial {
                    winners: settings.convolutions()[index],
                    pointwise_inhibition: settings.pointwise_inhibition,
                },
                None => Competition::None,
            };
            let spec = ConvSpec {
                name: ENCODER_NAMES[index],
                weight: conv.weight(),
                bias: conv.bias(),
                stride: conv.stride(),
                padding: conv.padding(),
                transposed: false,
                shape: network.encoder_shapes[index],
            };
            encoder.push(ConvLayer::new(spec, competition, config, device)?);
        }

        let fc21_competition = match config.competition.and_then(|settings| settings.fc21) {
            Some(k) => Competition::TopK(k),
            None => Competition::None,
        };
        let fc21 = DenseLayer::new("fc21", &layers.fc21, fc21_competition, config, device)?;

        let decoder = match config.decoder {
            DecoderPlasticity::Frozen => Decoder::Frozen,
            DecoderPlasticity::Mirrored => mirrored_decoder(network, config, device)?,
            DecoderPlasticity::Independent => independent_decoder(network, config, device)?,
        };

        let [c, h, w] = network.image_shape();
        Ok(Self {
            encoder,
            fc21,
            decoder,
            input_trace: Trace::new([1, c, h, w], config.stdp.window, device),
            encoder_shapes: network.encoder_shapes,
        })
    }

    pub(super) fn restart(&mut self) {
        self.input_trace.restart();
        for layer in &mut self.encoder {
            layer.neurons.restart();
        }
        self.fc21.neurons.restart();
        if let Decoder::Independent {
            fc3,
            deconvolutions,
        } = &mut self.decoder
        {
            fc3.neurons.restart();
            for layer in deconvolutions {
                layer.neurons.restart();
            }
        }
    }

    /// Runs one time step of every layer, then applies the staged weight changes.
    pub(super) fn step(
        &mut self,
        input: Tensor<4>,
        config: &SleepConfig,
        rates: LearningRates,
    ) -> Result<(), SpikingError> {
        let mut pre_recent = self.input_trace.update(&input);
        let mut spikes = input;
        for layer in &mut self.encoder {
            (spikes, pre_recent) = layer.step(spikes, pre_recent, config, rates)?;
        }

        let flat = self.encoder_shapes[3].iter().product::<usize>();
        let (fc21_spikes, fc21_recent) = self.fc21.step(
            spikes.reshape([1, flat]),
            pre_recent.reshape([1, flat]),
            config,
            rates,
        )?;

        if let Decoder::Independent {
            fc3,
            deconvolutions,
        } = &mut self.decoder
        {
            let (fc3_spikes, fc3_recent) = fc3.step(fc21_spikes, fc21_recent, config, rates)?;
            let [c, h, w] = self.encoder_shapes[3];
            let mut spikes = fc3_spikes.reshape([1, c, h, w]);
            let mut pre_recent = fc3_recent.reshape([1, c, h, w]);
            for layer in deconvolutions {
                (spikes, pre_recent) = layer.step(spikes, pre_recent, config, rates)?;
            }
        }

        self.apply(rates.a_plus != 0.0 || rates.a_minus != 0.0);
        Ok(())
    }

    /// Adds the staged changes to the weights; mirrored decoder layers get their mirror's
    /// change. With `apply` false (both rates 0) nothing changes, so the weights stay
    /// bit-identical.
    fn apply(&mut self, apply: bool) {
        let encoder_deltas: Vec<Option<Tensor<4>>> = self
            .encoder
            .iter_mut()
            .map(|layer| layer.synapse.apply(apply))
            .collect();
        let fc21_delta = self.fc21.synapse.apply(apply);
        match &mut self.decoder {
            Decoder::Frozen => {}
            Decoder::Mirrored {
                fc3,
                deconvolutions,
            } => {
                for (index, delta) in encoder_deltas.into_iter().enumerate() {
                    if let Some(delta) = delta {
                        deconvolutions[mirror_index(index)].add(delta);
                    }
                }
                if let Some(delta) = fc21_delta {
                    fc3.add(delta.transpose());
                }
            }
            Decoder::Independent {
                fc3,
                deconvolutions,
            } => {
                fc3.synapse.apply(apply);
                for layer in deconvolutions {
                    layer.synapse.apply(apply);
                }
            }
        }
    }

    /// Calls `visit` with every tracked weight of rank 4 and of rank 2.
    pub(super) fn for_each_plastic(
        &mut self,
        mut visit4: impl FnMut(&mut Plastic<4>),
        mut visit2: impl FnMut(&mut Plastic<2>),
    ) {
        for layer in &mut self.encoder {
            visit4(&mut layer.synapse);
        }
        visit2(&mut self.fc21.synapse);
        match &mut self.decoder {
            Decoder::Frozen => {}
            Decoder::Mirrored {
                fc3,
                deconvolutions,
            } => {
                visit2(fc3);
                deconvolutions.iter_mut().for_each(visit4);
            }
            Decoder::Independent {
                fc3,
                deconvolutions,
            } => {
                visit2(&mut fc3.synapse);
                for layer in deconvolutions {
                    visit4(&mut layer.synapse);
                }
            }
        }
    }
}

fn mirrored_decoder(
    network: &Csvae,
    config: &SleepConfig,
    device: &Device,
) -> Result<Decoder, SpikingError> {
    let layers = network.layers();
    let encoder = layers.encoder_convolutions();
    let mut deconvolutions = Vec::with_capacity(4);
    for (index, deconv) in layers.decoder_convolutions().into_iter().enumerate() {
        let mirror = encoder[mirror_index(index)];
        check_mirror(
            mirror.name(),
            &mirror.weight().dims(),
            deconv.name(),
            &deconv.weight().dims(),
        )?;
        // A mirrored layer copies its mirror's change, so it is plastic exactly when its
        // mirror is.
        let mirror_name = ENCODER_NAMES[mirror_index(index)];
        deconvolutions.push(Plastic::new(
            DECODER_NAMES[index],
            deconv.weight(),
            layer_value(config.stdp.layer_rates.get(mirror_name), mirror_name)?,
            Some(mirror_name),
            device,
        )?);
    }
    let [flat, latent] = layers.fc21.weight().dims();
    check_mirror("fc21", &[latent, flat], "fc3", &layers.fc3.weight().dims())?;
    let fc21_rate = config.stdp.layer_rates.fc21;
    let fc3 = Plastic::new("fc3", layers.fc3.weight(), fc21_rate, Some("fc21"), device)?;
    Ok(Decoder::Mirrored {
        fc3: Box::new(fc3),
        deconvolutions,
    })
}

fn check_mirror(
    encoder: &str,
    encoder_shape: &[usize],
    decoder: &str,
    decoder_shape: &[usize],
) -> Result<(), SpikingError> {
    if encoder_shape != decoder_shape {
        return Err(SpikingError::MirrorShape {
            encoder: encoder.to_string(),
            decoder: decoder.to_string(),
            encoder_shape: encoder_shape.to_vec(),
            decoder_shape: decoder_shape.to_vec(),
        });
    }
    Ok(())
}

fn independent_decoder(
    network: &Csvae,
    config: &SleepConfig,
    device: &Device,
) -> Result<Decoder, SpikingError> {
    let layers = network.layers();
    let fc3 = DenseLayer::new("fc3", &layers.fc3, Competition::None, config, device)?;
    let mut deconvolutions = Vec::with_capacity(4);
    for (index, deconv) in layers.decoder_convolutions().into_iter().enumerate() {
        let spec = ConvSpec {
            name: DECODER_NAMES[index],
            weight: deconv.weight(),
            bias: deconv.bias(),
            stride: deconv.stride(),
            padding: deconv.padding(),
            transposed: true,
            shape: network.decoder_shapes[index],
        };
        deconvolutions.push(ConvLayer::new(spec, Competition::None, config, device)?);
    }
    Ok(Decoder::Independent {
        fc3: Box::new(fc3),
        deconvolutions,
    })
}

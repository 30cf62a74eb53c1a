//! The sleep loop: layer state, one time step, the per-input checks and the final report.

use burn::tensor::module::{conv_transpose2d, conv2d, linear};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::competition::{pointwise_inhibition, select_top_k, select_winners};
use super::config::{DecoderPlasticity, LearningRates, SleepConfig, SleepInputMode, Winners};
use super::inputs::SleepInputs;
use super::report::{
    EarlyStop, LayerProgress, LayerSleepReport, SleepOutcome, SleepProgress, SleepReport,
};
use super::stdp::{
    StdpRule, StdpUpdate, WeightRange, conv_transpose2d_stdp, conv2d_stdp, linear_stdp,
};
use crate::error::SpikingError;
use crate::layers::{SpikingConv2d, SpikingConvTranspose2d, SpikingLinear, read_f32};
use crate::model::Csvae;
use crate::neuron::ResetMode;

/// Reads a one-value tensor to the host.
fn read_scalar(tensor: Tensor<1>, name: &str) -> Result<f64, SpikingError> {
    let values = read_f32(tensor.into_data(), name)?;
    Ok(values.first().copied().map_or(0.0, f64::from))
}

/// The steps since each neuron last fired, capped at the STDP window.
#[derive(Debug, Clone)]
struct Trace<const D: usize> {
    age: Tensor<D>,
    window: f32,
}

impl<const D: usize> Trace<D> {
    fn new(shape: [usize; D], window: usize, device: &Device) -> Self {
        let window = window as f32;
        Self {
            age: Tensor::full(shape, window, device),
            window,
        }
    }

    fn restart(&mut self) {
        self.age = self.age.zeros_like().add_scalar(self.window);
    }

    /// Records this step's spikes and returns 1.0 where a neuron fired within the window.
    fn update(&mut self, spikes: &Tensor<D>) -> Tensor<D> {
        let silent = spikes.clone().neg().add_scalar(1.0);
        self.age = (self.age.clone().add_scalar(1.0) * silent).clamp_max(self.window);
        self.age.clone().lower_elem(self.window).float()
    }
}

/// Competition between the neurons of one layer.
#[derive(Debug, Clone, Copy)]
enum Competition {
    None,
    Spatial {
        winners: Winners,
        pointwise_inhibition: bool,
    },
    TopK(usize),
}

/// A layer of IF neurons during sleep, with batch 1.
#[derive(Debug, Clone)]
struct Neurons<const D: usize> {
    name: &'static str,
    v_threshold: f32,
    reset: ResetMode,
    v: Tensor<D>,
    trace: Trace<D>,
    competition: Competition,
    input_spikes: Tensor<1>,
    total_spikes: u64,
    silent_inputs: usize,
}

impl<const D: usize> Neurons<D> {
    fn new(
        name: &'static str,
        v_threshold: f32,
        shape: [usize; D],
        config: &SleepConfig,
        competition: Competition,
        device: &Device,
    ) -> Self {
        Self {
            name,
            v_threshold,
            reset: config.reset,
            v: Tensor::zeros(shape, device),
            trace: Trace::new(shape, config.stdp.window, device),
            competition,
            input_spikes: Tensor::zeros([1], device),
            total_spikes: 0,
            silent_inputs: 0,
        }
    }

    fn size(&self) -> usize {
        self.v.dims().iter().product()
    }

    fn restart(&mut self) {
        self.v = self.v.zeros_like();
        self.trace.restart();
        self.input_spikes = self.input_spikes.zeros_like();
    }

    /// Charges the neurons with `current`, fires and resets them, and returns the spikes and
    /// the neurons that learn this step (the spikes, or the winners under competition).
    fn step(&mut self, current: Tensor<D>) -> Result<(Tensor<D>, Tensor<D>), SpikingError> {
        let v = self.v.clone() + current;
        let (spikes, learners) = match self.competition {
            Competition::None => {
                let fired = v.clone().greater_equal_elem(self.v_threshold);
                let spikes = fired.clone().float();
                self.v = match self.reset {
                    ResetMode::Subtract => v - spikes.clone().mul_scalar(self.v_threshold),
                    ResetMode::Zero => v.mask_fill(fired, 0.0),
                };
                (spikes.clone(), spikes)
            }
            competition => self.step_on_host(v, competition)?,
        };
        self.input_spikes = self.input_spikes.clone() + spikes.clone().sum();
        Ok((spikes, learners))
    }

    /// Fires with competition: the potentials go to the host, where point-wise inhibition and
    /// winner selection run, and the spikes, learners and new potentials come back.
    fn step_on_host(
        &mut self,
        v: Tensor<D>,
        competition: Competition,
    ) -> Result<(Tensor<D>, Tensor<D>), SpikingError> {
        let shape = v.dims();
        let device = v.device();
        let mut potentials = read_f32(v.into_data(), self.name)?;
        // Batch 1: the layer is [1, channels, height, width] or [1, features].
        let layout = match D {
            4 => [shape[1], shape[2], shape[3]],
            _ => [potentials.len(), 1, 1],
        };
        let (spikes, chosen) = match competition {
            Competition::Spatial {
                winners,
                pointwise_inhibition: true,
            } => {
                let spikes = pointwise_inhibition(&potentials, layout, self.v_threshold);
                let chosen = select_winners(&potentials, &spikes, layout, winners);
                (spikes, chosen)
            }
            Competition::Spatial { winners, .. } => {
                let spikes = self.threshold(&potentials);
                let chosen = select_winners(&potentials, &spikes, layout, winners);
                (spikes, chosen)
            }
            Competition::TopK(k) => {
                let spikes = self.threshold(&potentials);
                let chosen = select_top_k(&potentials, &spikes, k);
                (spikes, chosen)
            }
            Competition::None => {
                let spikes = self.threshold(&potentials);
                let chosen = (0..spikes.len()).filter(|&i| spikes[i]).collect();
                (spikes, chosen)
            }
        };

        if let Competition::Spatial {
            pointwise_inhibition: true,
            ..
        } = competition
        {
            silence_other_maps(&mut potentials, &spikes, layout);
        }
        for (v, &fired) in potentials.iter_mut().zip(&spikes) {
            if fired {
                *v = match self.reset {
                    ResetMode::Subtract => *v - self.v_threshold,
                    ResetMode::Zero => 0.0,
                };
            }
        }
        let mut learners = vec![0.0f32; spikes.len()];
        for index in chosen {
            learners[index] = 1.0;
        }
        let spikes: Vec<f32> = spikes.into_iter().map(f32::from).collect();

        self.v = Tensor::from_data(TensorData::new(potentials, shape), &device);
        Ok((
            Tensor::from_data(TensorData::new(spikes, shape), &device),
            Tensor::from_data(TensorData::new(learners, shape), &device),
        ))
    }

    fn threshold(&self, potentials: &[f32]) -> Vec<bool> {
        potentials.iter().map(|&v| v >= self.v_threshold).collect()
    }

    /// Reads this input's spike count, adds it to the total and returns the firing rate.
    fn finish_input(&mut self, steps: usize) -> Result<f64, SpikingError> {
        let count = read_scalar(self.input_spikes.clone(), self.name)?;
        let count = count.round().max(0.0) as u64;
        self.total_spikes += count;
        if count == 0 {
            self.silent_inputs += 1;
        } else {
            self.silent_inputs = 0;
        }
        Ok(count as f64 / (self.size() * steps) as f64)
    }
}

/// Sets to 0 the potentials of the other feature maps at each position where a map fired.
fn silence_other_maps(potentials: &mut [f32], spikes: &[bool], layout: [usize; 3]) {
    let [channels, height, width] = layout;
    let plane = height * width;
    for position in 0..plane {
        let fired = (0..channels).any(|channel| spikes[channel * plane + position]);
        if fired {
            for channel in 0..channels {
                let index = channel * plane + position;
                if !spikes[index] {
                    potentials[index] = 0.0;
                }
            }
        }
    }
}

/// The weight of one layer during sleep, with its starting value and event counts.
#[derive(Debug, Clone)]
struct Plastic<const D: usize> {
    name: &'static str,
    mirror_of: Option<&'static str>,
    plastic: bool,
    weight: Tensor<D>,
    start: Tensor<D>,
    /// The weight after the last input that passed every check.
    kept: Tensor<D>,
    start_norm: f64,
    range: WeightRange,
    pending: Option<Tensor<D>>,
    potentiation: Tensor<1>,
    depression: Tensor<1>,
}

impl<const D: usize> Plastic<D> {
    fn new(
        name: &'static str,
        weight: &Tensor<D>,
        plastic: bool,
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
            plastic,
            start: weight.clone(),
            kept: weight.clone(),
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
            self.weight = self.weight.clone() + delta.clone();
            Some(delta)
        } else {
            None
        }
    }

    fn change_norm(&self, weight: &Tensor<D>) -> Result<f64, SpikingError> {
        let squared = (weight.clone() - self.start.clone()).square().sum();
        Ok(read_scalar(squared, self.name)?.sqrt())
    }

    fn relative(&self, change_norm: f64) -> f64 {
        if change_norm == 0.0 {
            0.0
        } else {
            change_norm / self.start_norm.max(f64::MIN_POSITIVE)
        }
    }

    fn rule(&self, config: &SleepConfig, rates: LearningRates) -> StdpRule {
        StdpRule {
            rates,
            weight_dependence: config.stdp.weight_dependence,
            weight_range: self.range,
            shared_weight_update: config.stdp.shared_weight_update,
        }
    }

    fn report(
        &self,
        spikes: Option<u64>,
        neurons: usize,
        steps: usize,
    ) -> Result<LayerSleepReport, SpikingError> {
        let change_norm = self.change_norm(&self.kept)?;
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
struct ConvLayer {
    synapse: Plastic<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [usize; 2],
    transposed: bool,
    neurons: Neurons<4>,
}

impl ConvLayer {
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
            let weight = &self.synapse.weight;
            let update = if self.transposed {
                conv_transpose2d_stdp(
                    weight,
                    pre_recent,
                    learners,
                    self.stride,
                    self.padding,
                    &rule,
                )
            } else {
                conv2d_stdp(
                    weight,
                    pre_recent,
                    learners,
                    self.stride,
                    self.padding,
                    &rule,
                )
            };
            self.synapse.stage(update);
        }
        Ok((spikes, recent))
    }
}

/// A linear layer with its neurons (fc21, and fc3 in the independent decoder).
#[derive(Debug, Clone)]
struct DenseLayer {
    synapse: Plastic<2>,
    bias: Option<Tensor<1>>,
    neurons: Neurons<2>,
}

impl DenseLayer {
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
enum Decoder {
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

/// Returns the index among deconv1..deconv4 of the mirror of encoder convolution `index`.
fn mirror_index(index: usize) -> usize {
    3 - index
}

const ENCODER_NAMES: [&str; 4] = ["conv0", "conv1", "conv2", "conv3"];
const DECODER_NAMES: [&str; 4] = ["deconv1", "deconv2", "deconv3", "deconv4"];

/// Everything a sleep changes or tracks.
struct SleepState {
    encoder: Vec<ConvLayer>,
    fc21: DenseLayer,
    decoder: Decoder,
    input_trace: Trace<4>,
    encoder_shapes: [[usize; 3]; 4],
}

impl SleepState {
    fn new(network: &Csvae, config: &SleepConfig, device: &Device) -> Result<Self, SpikingError> {
        let layers = network.layers();
        let thresholds = &config.thresholds;
        let encoder_thresholds = [
            thresholds.conv0,
            thresholds.conv1,
            thresholds.conv2,
            thresholds.conv3,
        ];
        let bias = |bias: &Tensor<1>| {
            config
                .include_biases
                .then(|| bias.clone().to_device(device))
        };

        let mut encoder = Vec::with_capacity(4);
        for (index, conv) in layers.encoder_convolutions().into_iter().enumerate() {
            let [c, h, w] = network.encoder_shapes[index];
            let competition = match &config.competition {
                Some(settings) => Competition::Spatial {
                    winners: settings.convolutions()[index],
                    pointwise_inhibition: settings.pointwise_inhibition,
                },
                None => Competition::None,
            };
            encoder.push(ConvLayer {
                synapse: Plastic::new(ENCODER_NAMES[index], conv.weight(), true, None, device)?,
                bias: bias(conv.bias()),
                stride: conv.stride(),
                padding: conv.padding(),
                transposed: false,
                neurons: Neurons::new(
                    ENCODER_NAMES[index],
                    encoder_thresholds[index],
                    [1, c, h, w],
                    config,
                    competition,
                    device,
                ),
            });
        }

        let latent = layers.fc21.out_features();
        let fc21_competition = match config.competition.and_then(|settings| settings.fc21) {
            Some(k) => Competition::TopK(k),
            None => Competition::None,
        };
        let fc21 = DenseLayer {
            synapse: Plastic::new("fc21", layers.fc21.weight(), true, None, device)?,
            bias: bias(layers.fc21.bias()),
            neurons: Neurons::new(
                "fc21",
                thresholds.fc21,
                [1, latent],
                config,
                fc21_competition,
                device,
            ),
        };

        let decoder = match config.decoder {
            DecoderPlasticity::Frozen => Decoder::Frozen,
            DecoderPlasticity::Mirrored => mirrored_decoder(network, device)?,
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

    fn restart(&mut self) {
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
    fn step(
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
                        let mirror = &mut deconvolutions[mirror_index(index)];
                        mirror.weight = mirror.weight.clone() + delta;
                    }
                }
                if let Some(delta) = fc21_delta {
                    fc3.weight = fc3.weight.clone() + delta.transpose();
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
    fn for_each_plastic(
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

fn mirrored_decoder(network: &Csvae, device: &Device) -> Result<Decoder, SpikingError> {
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
        deconvolutions.push(Plastic::new(
            DECODER_NAMES[index],
            deconv.weight(),
            true,
            Some(ENCODER_NAMES[mirror_index(index)]),
            device,
        )?);
    }
    let [flat, latent] = layers.fc21.weight().dims();
    check_mirror("fc21", &[latent, flat], "fc3", &layers.fc3.weight().dims())?;
    let fc3 = Plastic::new("fc3", layers.fc3.weight(), true, Some("fc21"), device)?;
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
    let thresholds = &config.thresholds;
    let bias = |bias: &Tensor<1>| {
        config
            .include_biases
            .then(|| bias.clone().to_device(device))
    };
    let flat = layers.fc3.out_features();
    let fc3 = DenseLayer {
        synapse: Plastic::new("fc3", layers.fc3.weight(), true, None, device)?,
        bias: bias(layers.fc3.bias()),
        neurons: Neurons::new(
            "fc3",
            thresholds.fc3,
            [1, flat],
            config,
            Competition::None,
            device,
        ),
    };
    let decoder_thresholds = [
        thresholds.deconv1,
        thresholds.deconv2,
        thresholds.deconv3,
        thresholds.deconv4,
    ];
    let mut deconvolutions = Vec::with_capacity(4);
    for (index, deconv) in layers.decoder_convolutions().into_iter().enumerate() {
        let [c, h, w] = network.decoder_shapes[index];
        deconvolutions.push(ConvLayer {
            synapse: Plastic::new(DECODER_NAMES[index], deconv.weight(), true, None, device)?,
            bias: bias(deconv.bias()),
            stride: deconv.stride(),
            padding: deconv.padding(),
            transposed: true,
            neurons: Neurons::new(
                DECODER_NAMES[index],
                decoder_thresholds[index],
                [1, c, h, w],
                config,
                Competition::None,
                device,
            ),
        });
    }
    Ok(Decoder::Independent {
        fc3: Box::new(fc3),
        deconvolutions,
    })
}

/// Draws the input spikes of one step on the host.
struct InputSampler {
    rng: StdRng,
    shape: [usize; 3],
    mask_window: Option<usize>,
}

impl InputSampler {
    /// Samples spikes with per-pixel probabilities `probabilities`, inside a random window
    /// when the input mode masks.
    fn sample(&mut self, probabilities: &[f32]) -> Vec<f32> {
        let [channels, height, width] = self.shape;
        let mut spikes = vec![0.0f32; probabilities.len()];
        let (rows, columns) = match self.mask_window {
            Some(window) => {
                let top = self.rng.random_range(0..=height - window);
                let left = self.rng.random_range(0..=width - window);
                (top..top + window, left..left + window)
            }
            None => (0..height, 0..width),
        };
        for channel in 0..channels {
            for y in rows.clone() {
                for x in columns.clone() {
                    let index = (channel * height + y) * width + x;
                    if self.rng.random::<f32>() < probabilities[index] {
                        spikes[index] = 1.0;
                    }
                }
            }
        }
        spikes
    }
}

/// Checks the inputs against the network and the input mode.
fn check_inputs(
    network: &Csvae,
    inputs: &SleepInputs,
    config: &SleepConfig,
) -> Result<(), SpikingError> {
    let [count, channels, height, width] = inputs.shape();
    if [channels, height, width] != network.image_shape() {
        let [c, h, w] = network.image_shape();
        return Err(SpikingError::InputShape {
            input: "sleep images".to_string(),
            expected: vec![count, c, h, w],
            actual: inputs.shape().to_vec(),
        });
    }
    if let SleepInputMode::MaskedMeanImage { window } = config.input_mode
        && window > height.min(width)
    {
        return Err(SpikingError::InvalidSleepParameter {
            parameter: "input_mode.window".to_string(),
            value: window as f64,
            expected: format!("at most the image size {height}x{width}"),
        });
    }
    Ok(())
}

pub(super) fn run(
    network: &Csvae,
    inputs: &SleepInputs,
    config: &SleepConfig,
    device: &Device,
    progress: &mut dyn FnMut(&SleepProgress),
) -> Result<SleepOutcome, SpikingError> {
    config.validate()?;
    check_inputs(network, inputs, config)?;
    let mut state = SleepState::new(network, config, device)?;
    let image_shape = network.image_shape();
    let image_size: usize = image_shape.iter().product();

    let to_probabilities = |image: &[f32]| -> Vec<f32> {
        image.iter().map(|&x| config.spike_probability(x)).collect()
    };
    let mean_probabilities = match config.input_mode {
        SleepInputMode::MaskedMeanImage { .. } => Some(to_probabilities(&inputs.mean_image())),
        SleepInputMode::Images => None,
    };
    let mut sampler = InputSampler {
        rng: StdRng::seed_from_u64(config.seed),
        shape: image_shape,
        mask_window: match config.input_mode {
            SleepInputMode::MaskedMeanImage { window } => Some(window),
            SleepInputMode::Images => None,
        },
    };

    log::info!(
        "sleep: {} inputs x {} steps, decoder {:?}, competition {}",
        config.inputs,
        config.steps_per_input,
        config.decoder,
        config.competition.is_some()
    );

    let steps = config.steps_per_input;
    let mut steps_run = 0;
    let mut input_spikes_total = 0u64;
    let mut inputs_presented = 0;
    let mut inputs_applied = 0;
    let mut rates = config.stdp.rates_at(0);
    let mut early_stop = None;

    for input_index in 0..config.inputs {
        rates = config.stdp.rates_at(input_index);
        state.restart();
        let image_probabilities;
        let probabilities = match &mean_probabilities {
            Some(mean) => mean.as_slice(),
            None => {
                image_probabilities = to_probabilities(inputs.image(input_index % inputs.len()));
                image_probabilities.as_slice()
            }
        };

        let mut input_spikes = 0u64;
        for _ in 0..steps {
            let spikes = sampler.sample(probabilities);
            input_spikes += spikes.iter().filter(|&&s| s > 0.0).count() as u64;
            let [c, h, w] = image_shape;
            let input = Tensor::from_data(TensorData::new(spikes, [1, c, h, w]), device);
            state.step(input, config, rates)?;
        }
        steps_run += steps;
        input_spikes_total += input_spikes;
        inputs_presented += 1;

        let (layers, stop) = check_input(&mut state, config, steps)?;
        let input_firing_rate = input_spikes as f64 / (image_size * steps) as f64;
        progress(&SleepProgress {
            inputs_presented,
            inputs_total: config.inputs,
            steps_run,
            rates,
            input_firing_rate,
            layers,
        });
        if let Some(stop) = stop {
            log::warn!("sleep stopped early after {inputs_presented} inputs: {stop:?}");
            state.for_each_plastic(
                |synapse| synapse.weight = synapse.kept.clone(),
                |synapse| synapse.weight = synapse.kept.clone(),
            );
            early_stop = Some(stop);
            break;
        }
        state.for_each_plastic(
            |synapse| synapse.kept = synapse.weight.clone(),
            |synapse| synapse.kept = synapse.weight.clone(),
        );
        inputs_applied += 1;
        log::debug!("sleep input {inputs_presented}/{} done", config.inputs);
    }

    let report = SleepReport {
        inputs_presented,
        inputs_applied,
        steps_run,
        final_rates: rates,
        input_firing_rate: input_spikes_total as f64 / (image_size * steps_run).max(1) as f64,
        layers: layer_reports(&state, steps_run)?,
        early_stop,
    };
    log::info!(
        "sleep finished: {} inputs applied, {} steps",
        report.inputs_applied,
        report.steps_run
    );
    let network = rebuild(network, &state)?;
    Ok(SleepOutcome { network, report })
}

/// Reads the firing rates and weight changes after one input and applies the guard.
fn check_input(
    state: &mut SleepState,
    config: &SleepConfig,
    steps: usize,
) -> Result<(Vec<LayerProgress>, Option<EarlyStop>), SpikingError> {
    let guard = config.guard;
    let mut layers = Vec::new();
    let mut stop = None;

    let mut visit = |name: &str,
                     rate: Option<(f64, usize)>,
                     change: Option<f64>,
                     layers: &mut Vec<LayerProgress>| {
        if stop.is_none() {
            if let (Some(limit), Some(relative_change)) = (guard.max_relative_change, change)
                && relative_change > f64::from(limit)
            {
                stop = Some(EarlyStop::RelativeChange {
                    layer: name.to_string(),
                    relative_change,
                    limit: f64::from(limit),
                });
            } else if let (Some(limit), Some((firing_rate, _))) = (guard.max_firing_rate, rate)
                && firing_rate > f64::from(limit)
            {
                stop = Some(EarlyStop::FiringRate {
                    layer: name.to_string(),
                    firing_rate,
                    limit: f64::from(limit),
                });
            } else if let (Some(limit), Some((_, silent))) = (guard.max_silent_inputs, rate)
                && silent >= limit
            {
                stop = Some(EarlyStop::SilentLayer {
                    layer: name.to_string(),
                    inputs: silent,
                });
            }
        }
        layers.push(LayerProgress {
            layer: name.to_string(),
            firing_rate: rate.map(|(rate, _)| rate),
            relative_change: change,
        });
    };

    for layer in &mut state.encoder {
        let rate = layer.neurons.finish_input(steps)?;
        let change = layer
            .synapse
            .relative(layer.synapse.change_norm(&layer.synapse.weight)?);
        visit(
            layer.synapse.name,
            Some((rate, layer.neurons.silent_inputs)),
            Some(change),
            &mut layers,
        );
    }
    let rate = state.fc21.neurons.finish_input(steps)?;
    let synapse = &state.fc21.synapse;
    let change = synapse.relative(synapse.change_norm(&synapse.weight)?);
    visit(
        "fc21",
        Some((rate, state.fc21.neurons.silent_inputs)),
        Some(change),
        &mut layers,
    );
    match &mut state.decoder {
        Decoder::Frozen => {}
        Decoder::Mirrored {
            fc3,
            deconvolutions,
        } => {
            let change = fc3.relative(fc3.change_norm(&fc3.weight)?);
            visit("fc3", None, Some(change), &mut layers);
            for synapse in deconvolutions.iter() {
                let change = synapse.relative(synapse.change_norm(&synapse.weight)?);
                visit(synapse.name, None, Some(change), &mut layers);
            }
        }
        Decoder::Independent {
            fc3,
            deconvolutions,
        } => {
            let rate = fc3.neurons.finish_input(steps)?;
            let change = fc3
                .synapse
                .relative(fc3.synapse.change_norm(&fc3.synapse.weight)?);
            visit(
                "fc3",
                Some((rate, fc3.neurons.silent_inputs)),
                Some(change),
                &mut layers,
            );
            for layer in deconvolutions.iter_mut() {
                let rate = layer.neurons.finish_input(steps)?;
                let synapse = &layer.synapse;
                let change = synapse.relative(synapse.change_norm(&synapse.weight)?);
                visit(
                    synapse.name,
                    Some((rate, layer.neurons.silent_inputs)),
                    Some(change),
                    &mut layers,
                );
            }
        }
    }
    Ok((layers, stop))
}

fn layer_reports(state: &SleepState, steps: usize) -> Result<Vec<LayerSleepReport>, SpikingError> {
    let mut reports = Vec::new();
    for layer in &state.encoder {
        let neurons = &layer.neurons;
        reports.push(
            layer
                .synapse
                .report(Some(neurons.total_spikes), neurons.size(), steps)?,
        );
    }
    let neurons = &state.fc21.neurons;
    reports.push(
        state
            .fc21
            .synapse
            .report(Some(neurons.total_spikes), neurons.size(), steps)?,
    );
    match &state.decoder {
        Decoder::Frozen => {}
        Decoder::Mirrored {
            fc3,
            deconvolutions,
        } => {
            reports.push(fc3.report(None, 0, steps)?);
            for synapse in deconvolutions {
                reports.push(synapse.report(None, 0, steps)?);
            }
        }
        Decoder::Independent {
            fc3,
            deconvolutions,
        } => {
            let neurons = &fc3.neurons;
            reports.push(
                fc3.synapse
                    .report(Some(neurons.total_spikes), neurons.size(), steps)?,
            );
            for layer in deconvolutions {
                let neurons = &layer.neurons;
                reports.push(layer.synapse.report(
                    Some(neurons.total_spikes),
                    neurons.size(),
                    steps,
                )?);
            }
        }
    }
    Ok(reports)
}

/// Returns a copy of `network` with the kept weights; biases, thresholds and readout scales
/// are unchanged.
fn rebuild(network: &Csvae, state: &SleepState) -> Result<Csvae, SpikingError> {
    let mut rebuilt = network.clone();
    let layers = &mut rebuilt.layers;
    let encoder = [
        &mut layers.conv0,
        &mut layers.conv1,
        &mut layers.conv2,
        &mut layers.conv3,
    ];
    for (layer, state) in encoder.into_iter().zip(&state.encoder) {
        *layer = replace_conv(layer, state.synapse.kept.clone())?;
    }
    layers.fc21 = replace_linear(&layers.fc21, state.fc21.synapse.kept.clone())?;

    let decoder_weights: Option<(Tensor<2>, Vec<Tensor<4>>)> = match &state.decoder {
        Decoder::Frozen => None,
        Decoder::Mirrored {
            fc3,
            deconvolutions,
        } => Some((
            fc3.kept.clone(),
            deconvolutions
                .iter()
                .map(|synapse| synapse.kept.clone())
                .collect(),
        )),
        Decoder::Independent {
            fc3,
            deconvolutions,
        } => Some((
            fc3.synapse.kept.clone(),
            deconvolutions
                .iter()
                .map(|layer| layer.synapse.kept.clone())
                .collect(),
        )),
    };
    if let Some((fc3, deconvolutions)) = decoder_weights {
        layers.fc3 = replace_linear(&layers.fc3, fc3)?;
        let decoder = [
            &mut layers.deconv1,
            &mut layers.deconv2,
            &mut layers.deconv3,
            &mut layers.deconv4,
        ];
        for (layer, weight) in decoder.into_iter().zip(deconvolutions) {
            *layer = replace_deconv(layer, weight)?;
        }
    }
    Ok(rebuilt)
}

fn replace_conv(layer: &SpikingConv2d, weight: Tensor<4>) -> Result<SpikingConv2d, SpikingError> {
    let bias = layer.bias().clone().to_device(&weight.device());
    SpikingConv2d::new(layer.name(), weight, bias, layer.stride(), layer.padding())
}

fn replace_deconv(
    layer: &SpikingConvTranspose2d,
    weight: Tensor<4>,
) -> Result<SpikingConvTranspose2d, SpikingError> {
    let bias = layer.bias().clone().to_device(&weight.device());
    SpikingConvTranspose2d::new(layer.name(), weight, bias, layer.stride(), layer.padding())
}

fn replace_linear(layer: &SpikingLinear, weight: Tensor<2>) -> Result<SpikingLinear, SpikingError> {
    let bias = layer.bias().clone().to_device(&weight.device());
    SpikingLinear::new(layer.name(), weight, bias)
}

//! Time-stepped simulation of the CSVAE: the encoder for `T` steps, then the decoder for `T`
//! steps driven by the settled `z`, on the path chosen by [`SimulationConfig::execution_path`].

use burn::tensor::activation::sigmoid;
use burn::tensor::{Tensor, TensorData};
use csvae_encoding::SpikeEncoder;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{LatentSampling, OutputReadout, SimulationConfig};
use crate::engine::{Drive, LayerStack, Population, StackPlan, StackRecord, Synapse};
use crate::error::SpikingError;
use crate::layers::{FanOut, SpikingLinear};
use crate::model::Csvae;
use crate::neuron::IfParams;
use crate::statistics::{InputKind, LayerStatistics, SimulationStatistics};

/// Result of the encoder phase.
///
/// # Shapes
///
/// - `mu`, `logvar`, `z`: `[batch, latent]`
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// Mean of the latent distribution, from the fc21 readout.
    pub mu: Tensor<2>,
    /// Log-variance of the latent distribution, from the fc22 readout.
    pub logvar: Tensor<2>,
    /// The latent code chosen by [`SimulationConfig::latent_sampling`].
    pub z: Tensor<2>,
    /// Statistics of conv0..conv3, fc21 and fc22.
    pub statistics: SimulationStatistics,
}

/// Result of the decoder phase.
///
/// # Shapes
///
/// - `reconstruction`: `[batch, channels, height, width]`
#[derive(Debug, Clone)]
pub struct DecoderOutput {
    /// The image readout.
    pub reconstruction: Tensor<4>,
    /// Statistics of fc3 and deconv1..deconv4.
    pub statistics: SimulationStatistics,
}

/// Result of a full CSVAE run.
///
/// # Shapes
///
/// - `reconstruction`: `[batch, channels, height, width]`
/// - `mu`, `logvar`, `z`: `[batch, latent]`
#[derive(Debug, Clone)]
pub struct CsvaeOutput {
    /// The image readout.
    pub reconstruction: Tensor<4>,
    /// Mean of the latent distribution.
    pub mu: Tensor<2>,
    /// Log-variance of the latent distribution.
    pub logvar: Tensor<2>,
    /// The latent code that drove the decoder.
    pub z: Tensor<2>,
    /// Statistics of every layer, encoder first.
    pub statistics: SimulationStatistics,
}

impl Csvae {
    /// Encodes `images` with [`SimulationConfig::input_encoder`], runs the encoder for `T`
    /// steps and then the decoder for `T` steps.
    ///
    /// # Shapes
    ///
    /// - `images`: `[batch, channels, height, width]`, values in `[0, 1]`
    ///
    /// # Errors
    ///
    /// The errors of [`Csvae::encode`] and [`Csvae::decode`].
    pub fn run(
        &self,
        images: Tensor<4>,
        config: &SimulationConfig,
    ) -> Result<CsvaeOutput, SpikingError> {
        let encoder = self.input_encoder(images, config)?;
        self.run_with_encoder(encoder, config)
    }

    /// Runs the encoder and then the decoder, with input from `encoder`.
    ///
    /// # Errors
    ///
    /// The errors of [`Csvae::encoder_simulation`] and [`Csvae::decode`].
    pub fn run_with_encoder(
        &self,
        encoder: SpikeEncoder,
        config: &SimulationConfig,
    ) -> Result<CsvaeOutput, SpikingError> {
        let encoded = self.encoder_simulation(encoder, config)?.finish()?;
        let decoded = self.decode(encoded.z.clone(), config)?;

        let mut statistics = encoded.statistics;
        statistics.extend(decoded.statistics);
        Ok(CsvaeOutput {
            reconstruction: decoded.reconstruction,
            mu: encoded.mu,
            logvar: encoded.logvar,
            z: encoded.z,
            statistics,
        })
    }

    /// Runs the encoder alone for `T` steps and returns `mu`, `logvar` and `z`.
    ///
    /// # Shapes
    ///
    /// - `images`: `[batch, channels, height, width]`, values in `[0, 1]`
    ///
    /// # Errors
    ///
    /// [`SpikingError::Encoding`] for invalid images, and the errors of
    /// [`Csvae::encoder_simulation`].
    pub fn encode(
        &self,
        images: Tensor<4>,
        config: &SimulationConfig,
    ) -> Result<EncoderOutput, SpikingError> {
        let encoder = self.input_encoder(images, config)?;
        self.encoder_simulation(encoder, config)?.finish()
    }

    /// Runs the decoder alone for `T` steps, driven by `z`.
    ///
    /// # Shapes
    ///
    /// - `z`: `[batch, latent]`
    /// - output reconstruction: `[batch, channels, height, width]`
    ///
    /// # Errors
    ///
    /// The errors of [`Csvae::decoder_simulation`].
    pub fn decode(
        &self,
        z: Tensor<2>,
        config: &SimulationConfig,
    ) -> Result<DecoderOutput, SpikingError> {
        self.decoder_simulation(z, config)?.finish()
    }

    fn input_encoder(
        &self,
        images: Tensor<4>,
        config: &SimulationConfig,
    ) -> Result<SpikeEncoder, SpikingError> {
        config.validate()?;
        self.check_images(images.dims())?;
        Ok(SpikeEncoder::new(
            config.input_encoder,
            images,
            config.time_steps,
            config.input_seed,
        )?)
    }

    fn check_images(&self, dims: [usize; 4]) -> Result<(), SpikingError> {
        let [batch, channels, height, width] = dims;
        if [channels, height, width] != self.image_shape {
            let [c, h, w] = self.image_shape;
            return Err(SpikingError::InputShape {
                input: "images".to_string(),
                expected: vec![batch, c, h, w],
                actual: dims.to_vec(),
            });
        }
        Ok(())
    }

    fn neuron_params(&self, v_threshold: f32, config: &SimulationConfig) -> IfParams {
        IfParams {
            v_threshold,
            reset: config.reset,
        }
    }

    /// Prepares a step-by-step run of the encoder with input from `encoder`.
    ///
    /// # Errors
    ///
    /// The errors of [`SimulationConfig::validate`], [`SpikingError::TimeStepsMismatch`] when
    /// the encoder's time steps differ from the configuration's,
    /// [`SpikingError::InputShape`] when its steps do not have the image shape, and on the
    /// event-driven path [`SpikingError::DataRead`] when weights cannot be read to the host.
    pub fn encoder_simulation(
        &self,
        encoder: SpikeEncoder,
        config: &SimulationConfig,
    ) -> Result<EncoderSimulation<'_>, SpikingError> {
        let skipped_steps = config.validate()?;
        if encoder.time_steps() != config.time_steps {
            return Err(SpikingError::TimeStepsMismatch {
                encoder_steps: encoder.time_steps(),
                config_steps: config.time_steps,
            });
        }
        let dims = encoder.dims();
        self.check_images(dims)?;

        let layers = &self.layers;
        let thresholds = &self.thresholds;
        let population = |name, v_threshold, shape| Population {
            name,
            params: self.neuron_params(v_threshold, config),
            shape,
        };
        let [shape0, shape1, shape2, shape3] = self.encoder_shapes;
        let conv0 = Synapse::Conv(&layers.conv0);
        let plan = StackPlan {
            batch: dims[0],
            input_shape: self.image_shape,
            drive: if encoder.is_analog() {
                Drive::Analog(conv0)
            } else {
                Drive::Spikes(conv0)
            },
            first: population("conv0", thresholds.conv0, shape0),
            rest: vec![
                (
                    Synapse::Conv(&layers.conv1),
                    population("conv1", thresholds.conv1, shape1),
                ),
                (
                    Synapse::Conv(&layers.conv2),
                    population("conv2", thresholds.conv2, shape2),
                ),
                (
                    Synapse::Conv(&layers.conv3),
                    population("conv3", thresholds.conv3, shape3),
                ),
            ],
            initial: config.initial_membrane,
            device: encoder.device().clone(),
        };
        let stack = LayerStack::new(plan, config.execution_path)?;

        Ok(EncoderSimulation {
            network: self,
            config: *config,
            encoder,
            skipped_steps,
            step: 0,
            stack,
        })
    }

    /// Prepares a step-by-step run of the decoder driven by `z`.
    ///
    /// # Shapes
    ///
    /// - `z`: `[batch, latent]`
    ///
    /// # Errors
    ///
    /// The errors of [`SimulationConfig::validate`], [`SpikingError::InputShape`] when `z`
    /// does not have `latent` columns, and on the event-driven path [`SpikingError::DataRead`]
    /// when weights or fc3's current cannot be read to the host.
    pub fn decoder_simulation(
        &self,
        z: Tensor<2>,
        config: &SimulationConfig,
    ) -> Result<DecoderSimulation<'_>, SpikingError> {
        let skipped_steps = config.validate()?;
        let [batch, latent] = z.dims();
        if latent != self.latent_size() {
            return Err(SpikingError::InputShape {
                input: "z".to_string(),
                expected: vec![batch, self.latent_size()],
                actual: vec![batch, latent],
            });
        }
        let device = z.device();

        // z is constant over the steps, so fc3's current is computed once.
        let [c3, h3, w3] = self.encoder_shapes[3];
        let fc3_current = self.layers.fc3.current(z).reshape([batch, c3, h3, w3]);

        let layers = &self.layers;
        let thresholds = &self.thresholds;
        let population = |name, v_threshold, shape| Population {
            name,
            params: self.neuron_params(v_threshold, config),
            shape,
        };
        let [shape1, shape2, shape3, image_shape] = self.decoder_shapes;
        let mut rest = vec![
            (
                Synapse::ConvTranspose(&layers.deconv1),
                population("deconv1", thresholds.deconv1, shape1),
            ),
            (
                Synapse::ConvTranspose(&layers.deconv2),
                population("deconv2", thresholds.deconv2, shape2),
            ),
            (
                Synapse::ConvTranspose(&layers.deconv3),
                population("deconv3", thresholds.deconv3, shape3),
            ),
        ];
        let spike_count_readout = config.output_readout == OutputReadout::SpikeCount;
        if spike_count_readout {
            rest.push((
                Synapse::ConvTranspose(&layers.deconv4),
                population("deconv4", thresholds.deconv4, image_shape),
            ));
        }
        let plan = StackPlan {
            batch,
            input_shape: [c3, h3, w3],
            drive: Drive::Current(Box::new(fc3_current)),
            first: population("fc3", thresholds.fc3, [c3, h3, w3]),
            rest,
            initial: config.initial_membrane,
            device,
        };
        let stack = LayerStack::new(plan, config.execution_path)?;

        Ok(DecoderSimulation {
            network: self,
            time_steps: config.time_steps,
            skipped_steps,
            batch,
            step: 0,
            spike_count_readout,
            stack,
        })
    }
}

/// A step-by-step run of the encoder (conv0..conv3 and the fc21/fc22 readouts).
///
/// Each [`EncoderSimulation::step`] takes one input step from the encoder and advances every
/// layer in order; [`EncoderSimulation::finish`] runs the remaining steps and reads out.
#[derive(Debug)]
pub struct EncoderSimulation<'a> {
    network: &'a Csvae,
    config: SimulationConfig,
    encoder: SpikeEncoder,
    skipped_steps: usize,
    step: usize,
    /// conv0..conv3. Its readout sum is the conv3 spikes over the readout window.
    stack: LayerStack<'a>,
}

impl EncoderSimulation<'_> {
    /// Returns the number of steps `T`.
    pub fn time_steps(&self) -> usize {
        self.config.time_steps
    }

    /// Returns the number of steps already run.
    pub fn current_step(&self) -> usize {
        self.step
    }

    /// Advances the encoder by one time step; returns `false`, doing nothing, after `T` steps.
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when spike counts cannot be read back from the device.
    pub fn step(&mut self) -> Result<bool, SpikingError> {
        let Some(input) = self.encoder.next_step() else {
            return Ok(false);
        };
        self.stack
            .step(Some(input), self.step >= self.skipped_steps)?;
        self.step += 1;
        Ok(true)
    }

    /// Runs the remaining steps, reads `mu` and `logvar` out and chooses `z`.
    ///
    /// `mu = scale_fc21 * (W_fc21 * mean(s_conv3) + b_fc21)` is the mean of fc21's current over
    /// the readout window. It is computed from the mean spikes, because the current is linear in
    /// them. `logvar` is read from fc22 in the same way.
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when spike counts cannot be read back from the device.
    pub fn finish(mut self) -> Result<EncoderOutput, SpikingError> {
        while self.step()? {}

        let network = self.network;
        let layers = &network.layers;
        let scales = network.readout_scales;
        let [batch, ..] = self.encoder.dims();
        let window = (self.config.time_steps - self.skipped_steps) as f32;
        let mut record = self.stack.finish()?;
        let mean_spikes = record
            .readout_sum
            .take()
            .map(|sum| sum.div_scalar(window).reshape([batch as i64, -1]))
            .ok_or(SpikingError::ZeroTimeSteps)?;

        let mu = layers
            .fc21
            .current(mean_spikes.clone())
            .mul_scalar(scales.fc21);
        let logvar = layers.fc22.current(mean_spikes).mul_scalar(scales.fc22);
        let z = match self.config.latent_sampling {
            LatentSampling::Mean => mu.clone(),
            LatentSampling::Sample { seed } => {
                let eps = standard_normal(seed, mu.dims(), &mu.device());
                mu.clone() + logvar.clone().div_scalar(2.0).exp() * eps
            }
        };

        let statistics = encoder_statistics(network, &self.config, record, batch)?;
        Ok(EncoderOutput {
            mu,
            logvar,
            z,
            statistics,
        })
    }
}

/// Statistics of conv0..conv3, fc21 and fc22 from the encoder's spike counts.
fn encoder_statistics(
    network: &Csvae,
    config: &SimulationConfig,
    record: StackRecord,
    batch: usize,
) -> Result<SimulationStatistics, SpikingError> {
    let layers = &network.layers;
    let time_steps = config.time_steps;
    let [_, height, width] = network.image_shape;

    let mut input_counts = record.input_counts;
    let mut statistics = Vec::new();
    let mut input_size = [height, width];
    let mut spike_counts = Vec::new();
    for ((conv, output_counts), shape) in layers
        .encoder_convolutions()
        .into_iter()
        .zip(record.layer_counts)
        .zip(network.encoder_shapes)
    {
        let fan_out = conv.fan_out(input_size)?;
        let spikes = Spikes {
            counts: &output_counts,
            neurons: shape.iter().product(),
        };
        statistics.push(layer_statistics(
            conv.name(),
            &fan_out,
            input_counts.as_deref(),
            spikes,
            batch,
            time_steps,
        ));
        input_size = [shape[1], shape[2]];
        input_counts = Some(output_counts.clone());
        spike_counts = output_counts;
    }

    let conv3_spikes: u64 = spike_counts.iter().sum();
    for readout in [&layers.fc21, &layers.fc22] {
        statistics.push(readout_statistics(readout, conv3_spikes, batch));
    }
    Ok(SimulationStatistics {
        batch_size: batch,
        time_steps,
        layers: statistics,
    })
}

/// A step-by-step run of the decoder (fc3 neurons, deconv1..deconv3 and the image readout).
#[derive(Debug)]
pub struct DecoderSimulation<'a> {
    network: &'a Csvae,
    time_steps: usize,
    skipped_steps: usize,
    batch: usize,
    step: usize,
    /// Whether deconv4 drives IF neurons ([`OutputReadout::SpikeCount`]).
    spike_count_readout: bool,
    /// fc3 neurons, deconv1..deconv3 and, for the spike-count readout, deconv4. Its readout sum
    /// is the last population's spikes over the readout window.
    stack: LayerStack<'a>,
}

impl DecoderSimulation<'_> {
    /// Returns the number of steps `T`.
    pub fn time_steps(&self) -> usize {
        self.time_steps
    }

    /// Returns the number of steps already run.
    pub fn current_step(&self) -> usize {
        self.step
    }

    /// Advances the decoder by one time step; returns `false`, doing nothing, after `T` steps.
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when spike counts cannot be read back from the device.
    pub fn step(&mut self) -> Result<bool, SpikingError> {
        if self.step >= self.time_steps {
            return Ok(false);
        }
        self.stack.step(None, self.step >= self.skipped_steps)?;
        self.step += 1;
        Ok(true)
    }

    /// Runs the remaining steps and reads the image out.
    ///
    /// With [`OutputReadout::MeanCurrent`] the image is
    /// `sigmoid(scale_deconv4 * (W_deconv4 * mean(s_deconv3) + b_deconv4))`, the mean of
    /// deconv4's current over the readout window, computed from the mean spikes because the
    /// current is linear in them. With [`OutputReadout::SpikeCount`] it is the output spike
    /// count divided by the window length.
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when spike counts cannot be read back from the device.
    pub fn finish(mut self) -> Result<DecoderOutput, SpikingError> {
        while self.step()? {}

        let window = (self.time_steps - self.skipped_steps) as f32;
        let mut record = self.stack.finish()?;
        let mean = record
            .readout_sum
            .take()
            .map(|sum| sum.div_scalar(window))
            .ok_or(SpikingError::ZeroTimeSteps)?;
        let network = self.network;
        let reconstruction = if self.spike_count_readout {
            mean
        } else {
            sigmoid(
                network
                    .layers
                    .deconv4
                    .current(mean)
                    .mul_scalar(network.readout_scales.deconv4),
            )
        };

        let statistics = decoder_statistics(network, self.batch, self.time_steps, record)?;
        Ok(DecoderOutput {
            reconstruction,
            statistics,
        })
    }
}

/// Statistics of fc3 and deconv1..deconv4 from the decoder's spike counts.
fn decoder_statistics(
    network: &Csvae,
    batch: usize,
    time_steps: usize,
    record: StackRecord,
) -> Result<SimulationStatistics, SpikingError> {
    let layers = &network.layers;
    let mut counters = record.layer_counts.into_iter();
    let mut statistics = Vec::new();

    // fc3 is driven by the analog z: its current is computed once per image, as MACs.
    let fc3 = &layers.fc3;
    let fc3_counts = counters.next().unwrap_or_default();
    let fc3_macs = fc3.fan_out().total() * batch as u64;
    let [c3, h3, w3] = network.encoder_shapes[3];
    let fc3_neurons = c3 * h3 * w3;
    let fc3_spikes: u64 = fc3_counts.iter().sum();
    statistics.push(LayerStatistics {
        layer: fc3.name().to_string(),
        input: InputKind::Analog,
        input_spike_count: 0,
        neurons: fc3_neurons,
        spike_count: fc3_spikes,
        firing_rate: firing_rate(fc3_spikes, fc3_neurons, batch, time_steps),
        synaptic_operations: 0,
        spiking_macs: fc3_macs,
        analog_macs: fc3_macs,
    });

    let mut input_counts = fc3_counts;
    let mut input_size = [h3, w3];
    let [deconv1, deconv2, deconv3, deconv4] = layers.decoder_convolutions();
    for (deconv, shape) in [deconv1, deconv2, deconv3]
        .into_iter()
        .zip(network.decoder_shapes)
    {
        let fan_out = deconv.fan_out(input_size)?;
        let output_counts = counters.next().unwrap_or_default();
        let spikes = Spikes {
            counts: &output_counts,
            neurons: shape.iter().product(),
        };
        statistics.push(layer_statistics(
            deconv.name(),
            &fan_out,
            Some(&input_counts),
            spikes,
            batch,
            time_steps,
        ));
        input_size = [shape[1], shape[2]];
        input_counts = output_counts;
    }

    let fan_out = deconv4.fan_out(input_size)?;
    // Only the spike-count readout has output neurons, and then a fifth population.
    let (output_counts, neurons) = match counters.next() {
        Some(counts) => (counts, network.image_shape.iter().product()),
        None => (Vec::new(), 0),
    };
    let spikes = Spikes {
        counts: &output_counts,
        neurons,
    };
    statistics.push(layer_statistics(
        deconv4.name(),
        &fan_out,
        Some(&input_counts),
        spikes,
        batch,
        time_steps,
    ));

    Ok(SimulationStatistics {
        batch_size: batch,
        time_steps,
        layers: statistics,
    })
}

/// Output spikes of a layer: counts per spatial position and the neurons per image.
struct Spikes<'a> {
    counts: &'a [u64],
    neurons: usize,
}

/// Statistics of a convolution whose input is `input_counts` spikes per position, or analog
/// values when `None`.
fn layer_statistics(
    name: &str,
    fan_out: &FanOut,
    input_counts: Option<&[u64]>,
    output: Spikes<'_>,
    batch: usize,
    time_steps: usize,
) -> LayerStatistics {
    let analog_macs = fan_out.total() * batch as u64;
    let spike_count = output.counts.iter().sum();
    let (input, input_spike_count, synaptic_operations, spiking_macs) = match input_counts {
        Some(counts) => (
            InputKind::Spikes,
            counts.iter().sum(),
            fan_out.synaptic_operations(counts),
            0,
        ),
        // Constant-current input does not change over the steps, so conv0's current is
        // computed once: one analog forward pass of MACs.
        None => (InputKind::Analog, 0, 0, analog_macs),
    };
    LayerStatistics {
        layer: name.to_string(),
        input,
        input_spike_count,
        neurons: output.neurons,
        spike_count,
        firing_rate: firing_rate(spike_count, output.neurons, batch, time_steps),
        synaptic_operations,
        spiking_macs,
        analog_macs,
    }
}

/// Statistics of a linear readout fed by `input_spikes` spikes in total.
fn readout_statistics(layer: &SpikingLinear, input_spikes: u64, batch: usize) -> LayerStatistics {
    let fan_out = layer.fan_out();
    LayerStatistics {
        layer: layer.name().to_string(),
        input: InputKind::Spikes,
        input_spike_count: input_spikes,
        neurons: 0,
        spike_count: 0,
        firing_rate: 0.0,
        synaptic_operations: fan_out.synaptic_operations(&[input_spikes]),
        spiking_macs: 0,
        analog_macs: fan_out.total() * batch as u64,
    }
}

fn firing_rate(spike_count: u64, neurons: usize, batch: usize, time_steps: usize) -> f64 {
    let slots = neurons as f64 * batch as f64 * time_steps as f64;
    if slots == 0.0 {
        0.0
    } else {
        spike_count as f64 / slots
    }
}

/// Draws `N(0, 1)` noise on the host from a seeded `StdRng`, so that every backend gets the
/// same values.
fn standard_normal(seed: u64, dims: [usize; 2], device: &burn::tensor::Device) -> Tensor<2> {
    let mut rng = StdRng::seed_from_u64(seed);
    let values: Vec<f32> = (0..dims[0] * dims[1])
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

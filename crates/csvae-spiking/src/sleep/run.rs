//! The sleep loop: input spikes, the per-input checks, the report and the rebuilt network.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{SleepConfig, SleepInputMode};
use super::inputs::SleepInputs;
use super::report::{
    EarlyStop, LayerProgress, LayerSleepReport, SleepOutcome, SleepProgress, SleepReport,
};
use super::state::{Decoder, SleepState};
use crate::error::SpikingError;
use crate::layers::{SpikingConv2d, SpikingConvTranspose2d, SpikingLinear};
use crate::model::Csvae;

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
            state.for_each_plastic(|synapse| synapse.restore(), |synapse| synapse.restore());
            early_stop = Some(stop);
            break;
        }
        state.for_each_plastic(|synapse| synapse.keep(), |synapse| synapse.keep());
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
        let change = layer.synapse.relative(layer.synapse.change_norm()?);
        visit(
            layer.synapse.name,
            Some((rate, layer.neurons.silent_inputs)),
            Some(change),
            &mut layers,
        );
    }
    let rate = state.fc21.neurons.finish_input(steps)?;
    let synapse = &state.fc21.synapse;
    let change = synapse.relative(synapse.change_norm()?);
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
            let change = fc3.relative(fc3.change_norm()?);
            visit("fc3", None, Some(change), &mut layers);
            for synapse in deconvolutions.iter() {
                let change = synapse.relative(synapse.change_norm()?);
                visit(synapse.name, None, Some(change), &mut layers);
            }
        }
        Decoder::Independent {
            fc3,
            deconvolutions,
        } => {
            let rate = fc3.neurons.finish_input(steps)?;
            let change = fc3.synapse.relative(fc3.synapse.change_norm()?);
            visit(
                "fc3",
                Some((rate, fc3.neurons.silent_inputs)),
                Some(change),
                &mut layers,
            );
            for layer in deconvolutions.iter_mut() {
                let rate = layer.neurons.finish_input(steps)?;
                let synapse = &layer.synapse;
                let change = synapse.relative(synapse.change_norm()?);
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
        *layer = replace_conv(layer, state.synapse.kept_weight())?;
    }
    layers.fc21 = replace_linear(&layers.fc21, state.fc21.synapse.kept_weight())?;

    let decoder_weights: Option<(Tensor<2>, Vec<Tensor<4>>)> = match &state.decoder {
        Decoder::Frozen => None,
        Decoder::Mirrored {
            fc3,
            deconvolutions,
        } => Some((
            fc3.kept_weight(),
            deconvolutions
                .iter()
                .map(|synapse| synapse.kept_weight())
                .collect(),
        )),
        Decoder::Independent {
            fc3,
            deconvolutions,
        } => Some((
            fc3.synapse.kept_weight(),
            deconvolutions
                .iter()
                .map(|layer| layer.synapse.kept_weight())
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

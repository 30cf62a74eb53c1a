//! The fidelity sweep: a converted network against its analog twin over a range of time steps.

use std::time::Instant;

use burn::tensor::Device;
use csvae_analog::Cvae;
use csvae_analog::metrics::{mse, psnr_from_mse};
use csvae_data::ImageSet;
use csvae_encoding::Encoder;
use csvae_spiking::{Csvae, SimulationConfig};
use serde::{Deserialize, Serialize};

use crate::error::CsvaeError;

/// The time steps of the standard sweep.
pub const SWEEP_TIME_STEPS: [usize; 6] = [8, 16, 32, 64, 128, 256];

/// Settings of [`fidelity_sweep`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Time steps to simulate. Default: [`SWEEP_TIME_STEPS`].
    pub time_steps: Vec<usize>,
    /// Input encoders, each with a label for tables. Default: Bernoulli (max rate 1) and
    /// constant current.
    pub encoders: Vec<(String, Encoder)>,
    /// Test images used, from the start of the set. Default: 200.
    pub images: usize,
    /// Images per simulated batch. Default: 50.
    pub batch_size: usize,
    /// Every other simulation setting; `time_steps` and `input_encoder` are overridden.
    pub simulation: SimulationConfig,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            time_steps: SWEEP_TIME_STEPS.to_vec(),
            encoders: vec![
                ("bernoulli".into(), Encoder::Bernoulli { max_rate: 1.0 }),
                ("constant".into(), Encoder::ConstantCurrent),
            ],
            images: 200,
            batch_size: 50,
            simulation: SimulationConfig::default(),
        }
    }
}

/// The analog network's reconstruction quality on the sweep images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnalogBaseline {
    /// Images evaluated.
    pub images: usize,
    /// MSE per pixel against the input.
    pub mse: f64,
    /// Mean per-image PSNR against the input, in dB.
    pub psnr: f64,
}

/// One row of the sweep: one encoder at one number of time steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// Label of the input encoder.
    pub encoder: String,
    /// Time steps T.
    pub time_steps: usize,
    /// MSE per pixel of the CSVAE reconstruction against the input.
    pub mse: f64,
    /// Mean per-image PSNR of the CSVAE reconstruction against the input, in dB.
    pub psnr: f64,
    /// MSE per pixel between the CSVAE and the CVAE reconstructions.
    pub mse_to_analog: f64,
    /// Synaptic operations of the CSVAE per image (encoder and decoder, all T steps).
    pub sop_per_image: f64,
    /// Multiply-accumulates of the CSVAE's analog-input layers per image.
    pub spiking_mac_per_image: f64,
    /// Multiply-accumulates of the CVAE per image.
    pub analog_mac_per_image: f64,
    /// SOP / MAC of the CVAE.
    pub sop_per_mac: f64,
    /// Firing rate of each spiking layer, spikes per neuron per step.
    pub firing_rates: Vec<(String, f64)>,
    /// Wall time of the simulation, in seconds.
    pub seconds: f64,
}

/// Progress of [`fidelity_sweep`]: `(finished runs, total runs, label of the finished run)`.
pub type SweepProgress<'a> = &'a mut dyn FnMut(usize, usize, &str);

fn read_back(tensor: burn::tensor::Tensor<4>) -> Result<Vec<f32>, CsvaeError> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| CsvaeError::TensorData {
            message: format!("{e:?}"),
        })
}

/// Runs the CVAE once and the CSVAE for every encoder and number of time steps on the first
/// `config.images` images of `set`.
///
/// # Errors
/// [`CsvaeError::InvalidArgument`] for an empty sweep, and the errors of the networks.
pub fn fidelity_sweep(
    analog: &Cvae,
    spiking: &Csvae,
    set: &ImageSet,
    config: &SweepConfig,
    device: &Device,
    progress: SweepProgress<'_>,
) -> Result<(AnalogBaseline, Vec<SweepRow>), CsvaeError> {
    if config.time_steps.is_empty() || config.encoders.is_empty() || config.images == 0 {
        return Err(CsvaeError::InvalidArgument {
            name: "sweep".into(),
            message: "needs at least one time step count, one encoder and one image".into(),
        });
    }
    let subset = set.take(config.images);
    let batches = subset.batch_indices(config.batch_size.max(1), None)?;
    let plane = subset.height() * subset.width() * analog.input_channels();
    let images = subset.len();

    let mut inputs = Vec::with_capacity(batches.len());
    let mut analog_outputs = Vec::with_capacity(batches.len());
    let (mut analog_mse, mut analog_psnr) = (0.0, 0.0);
    for indices in &batches {
        let target = subset.batch_values(indices)?;
        let output = read_back(
            analog
                .forward(subset.batch(indices, device)?, None)?
                .images(),
        )?;
        for (t, o) in target.chunks(plane).zip(output.chunks(plane)) {
            let error = mse(t, o);
            analog_mse += error;
            analog_psnr += psnr_from_mse(error);
        }
        inputs.push(target);
        analog_outputs.push(output);
    }
    let baseline = AnalogBaseline {
        images,
        mse: analog_mse / images as f64,
        psnr: analog_psnr / images as f64,
    };

    let total = config.time_steps.len() * config.encoders.len();
    let mut rows = Vec::with_capacity(total);
    for (label, encoder) in &config.encoders {
        for &time_steps in &config.time_steps {
            let simulation = SimulationConfig {
                time_steps,
                input_encoder: *encoder,
                ..config.simulation
            };
            let start = Instant::now();
            let (mut error, mut psnr, mut to_analog) = (0.0, 0.0, 0.0);
            let (mut sop, mut spiking_mac, mut analog_mac) = (0u64, 0u64, 0u64);
            let mut spikes: Vec<(String, u64, f64)> = Vec::new();
            for (b, indices) in batches.iter().enumerate() {
                let output = spiking.run(subset.batch(indices, device)?, &simulation)?;
                let recon = read_back(output.reconstruction)?;
                for ((t, o), a) in inputs[b]
                    .chunks(plane)
                    .zip(recon.chunks(plane))
                    .zip(analog_outputs[b].chunks(plane))
                {
                    let e = mse(t, o);
                    error += e;
                    psnr += psnr_from_mse(e);
                    to_analog += mse(a, o);
                }
                let stats = &output.statistics;
                sop += stats.total_synaptic_operations();
                spiking_mac += stats.total_spiking_macs();
                analog_mac += stats.total_analog_macs();
                for layer in stats.layers.iter().filter(|l| l.neurons > 0) {
                    let possible = (layer.neurons * stats.batch_size * stats.time_steps) as f64;
                    match spikes.iter_mut().find(|(name, ..)| *name == layer.layer) {
                        Some(entry) => {
                            entry.1 += layer.spike_count;
                            entry.2 += possible;
                        }
                        None => spikes.push((layer.layer.clone(), layer.spike_count, possible)),
                    }
                }
            }
            let n = images as f64;
            let run_label = format!("{label}, T = {time_steps}");
            rows.push(SweepRow {
                encoder: label.clone(),
                time_steps,
                mse: error / n,
                psnr: psnr / n,
                mse_to_analog: to_analog / n,
                sop_per_image: sop as f64 / n,
                spiking_mac_per_image: spiking_mac as f64 / n,
                analog_mac_per_image: analog_mac as f64 / n,
                sop_per_mac: sop as f64 / analog_mac.max(1) as f64,
                firing_rates: spikes
                    .into_iter()
                    .map(|(name, count, possible)| (name, count as f64 / possible))
                    .collect(),
                seconds: start.elapsed().as_secs_f64(),
            });
            log::info!("sweep {run_label}: {:?}", rows.last());
            progress(rows.len(), total, &run_label);
        }
    }
    Ok((baseline, rows))
}

/// Returns, per ReLU layer, the firing rate the conversion aims at: the mean over neurons and
/// images of `clamp(a / lambda, 0, 1)`, where `a` is the CVAE's activation (z = mu) and `lambda`
/// the layer's scale. Comparing it with a [`SweepRow`]'s measured rates shows which layer loses
/// the most.
///
/// # Errors
/// The errors of the network or the data.
pub fn target_firing_rates(
    analog: &Cvae,
    scales: &csvae_transfer::ActivationScales,
    set: &ImageSet,
    images: usize,
    device: &Device,
) -> Result<Vec<(String, f64)>, CsvaeError> {
    let subset = set.take(images);
    let mut sums: Vec<(String, f64, usize)> = Vec::new();
    for indices in subset.batch_indices(100, None)? {
        let activations = analog.layer_activations(subset.batch(&indices, device)?)?;
        for (name, tensor) in activations.layers {
            let scale = scales.get(name).unwrap_or(1.0);
            let values =
                tensor
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| CsvaeError::TensorData {
                        message: format!("{e:?}"),
                    })?;
            let sum: f64 = values
                .iter()
                .map(|&a| (f64::from(a) / scale).clamp(0.0, 1.0))
                .sum();
            match sums.iter_mut().find(|(layer, ..)| layer == name) {
                Some(entry) => {
                    entry.1 += sum;
                    entry.2 += values.len();
                }
                None => sums.push((name.to_string(), sum, values.len())),
            }
        }
    }
    Ok(sums
        .into_iter()
        .map(|(layer, sum, count)| (layer, sum / count.max(1) as f64))
        .collect())
}

/// Formats the sweep as CSV, one row per encoder and T.
pub fn sweep_csv(rows: &[SweepRow]) -> String {
    let mut text = String::from(
        "encoder,time_steps,mse,psnr_db,mse_to_analog,sop_per_image,spiking_mac_per_image,analog_mac_per_image,sop_per_mac,seconds\n",
    );
    for r in rows {
        text.push_str(&format!(
            "{},{},{:.6e},{:.3},{:.6e},{:.0},{:.0},{:.0},{:.4},{:.2}\n",
            r.encoder,
            r.time_steps,
            r.mse,
            r.psnr,
            r.mse_to_analog,
            r.sop_per_image,
            r.spiking_mac_per_image,
            r.analog_mac_per_image,
            r.sop_per_mac,
            r.seconds
        ));
    }
    text
}

/// Formats the sweep as a Markdown table with the analog baseline above it.
pub fn sweep_markdown(baseline: &AnalogBaseline, rows: &[SweepRow]) -> String {
    let mut text = format!(
        "CVAE on the same {} images: MSE {:.5}, PSNR {:.2} dB.\n\n\
         | encoder | T | MSE | PSNR (dB) | MSE to CVAE | SOP / MAC | seconds |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
        baseline.images, baseline.mse, baseline.psnr
    );
    for r in rows {
        text.push_str(&format!(
            "| {} | {} | {:.5} | {:.2} | {:.2e} | {:.3} | {:.1} |\n",
            r.encoder, r.time_steps, r.mse, r.psnr, r.mse_to_analog, r.sop_per_mac, r.seconds
        ));
    }
    text
}

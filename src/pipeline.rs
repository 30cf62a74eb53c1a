//! The end-to-end pipeline: train (or load) the CVAE, convert it, run the CSVAE on spike-encoded
//! test images, sleep, transfer back, then evaluate and generate.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use csvae_analog::metrics::{mse, psnr_from_mse};
use csvae_analog::{
    Cvae, CvaeConfig, EpochRecord, EvalMetrics, TrainConfig, TrainEvent, evaluate, load_checkpoint,
    save_checkpoint, save_json, standard_normal, train,
};
use csvae_data::{Dataset, ImageSet};
use csvae_encoding::Encoder;
use csvae_spiking::sleep::{
    SharedWeightUpdate, SleepConfig, SleepInputs, SleepProgress, SleepReport, sleep,
};
use csvae_spiking::statistics::{EnergyEstimate, EnergyModel};
use csvae_spiking::{Csvae, InitialMembrane, ReadoutWarmUp, SimulationConfig};
use csvae_transfer::{
    ActivationScales, BalancingForm, CalibrationConfig, calibrate, convert, save_spiking_weights,
    transfer_back,
};
use serde::{Deserialize, Serialize};

use crate::controls::random_matched_change;
use crate::error::CsvaeError;
use crate::evaluation::{
    Corruption, LatentAccuracy, RobustnessRow, latent_accuracy, latent_codes, robustness,
};
use crate::image_grid::save_image_grid;
use crate::plot::plot_sweep;
use crate::sweep::{
    AnalogBaseline, SweepConfig, SweepRow, fidelity_sweep, sweep_csv, sweep_markdown,
};

/// Settings of every stage of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Architecture of the CVAE. Default: VAE18.
    pub model: CvaeConfig,
    /// Training settings. Default: 5 epochs, batch 128, lr 1e-3.
    pub training: TrainConfig,
    /// Train on the first N training images only. Default: all.
    pub train_limit: Option<usize>,
    /// Load this CVAE checkpoint instead of training. Default: none.
    pub checkpoint: Option<PathBuf>,
    /// Calibration of the activation scales. Default: 500 images, 99.9th percentile.
    pub calibration: CalibrationConfig,
    /// Balancing form. Default: scaled weights.
    pub balancing: BalancingForm,
    /// The CSVAE run on Bernoulli-encoded test images. Default: T = 64.
    pub simulation: SimulationConfig,
    /// Test images the CSVAE run and the sleep-time figures use. Default: 200.
    pub spiking_images: usize,
    /// The error and SOP sweep over T. Default: T in {8, ..., 256}, 100 images.
    pub sweep: SweepConfig,
    /// The sleep phase. Default: [`SleepConfig::converted_network`] (500 inputs).
    pub sleep: SleepConfig,
    /// Training images presented during sleep. Default: 200.
    pub sleep_images: usize,
    /// Test images of the before/after evaluation. Default: all.
    pub evaluation_images: Option<usize>,
    /// Training images whose codes train the latent classifiers. Default: 3,000.
    pub classifier_train_images: usize,
    /// Input gains of the gain control. Default: 1.02, 1.05, 1.1, 1.2.
    pub control_gains: Vec<f32>,
    /// Seed of the corruptions, the random-change control and the samples. Default: 7.
    pub seed: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            model: CvaeConfig::vae18(),
            training: TrainConfig::default(),
            train_limit: None,
            checkpoint: None,
            calibration: CalibrationConfig::default(),
            balancing: BalancingForm::ScaledWeights,
            simulation: SimulationConfig {
                time_steps: 64,
                input_encoder: Encoder::Bernoulli { max_rate: 1.0 },
                // Averaging the readouts over the second half of the steps, with membranes
                // starting at half the threshold, brings the CSVAE within 2% of the CVAE's test
                // MSE at T = 64 on VAE18 (docs/results.md).
                warm_up: ReadoutWarmUp::Fraction { fraction: 0.5 },
                initial_membrane: InitialMembrane::HalfThreshold,
                ..SimulationConfig::default()
            },
            spiking_images: 200,
            sweep: SweepConfig {
                images: 100,
                simulation: SimulationConfig {
                    warm_up: ReadoutWarmUp::Fraction { fraction: 0.5 },
                    initial_membrane: InitialMembrane::HalfThreshold,
                    ..SimulationConfig::default()
                },
                ..SweepConfig::default()
            },
            sleep: SleepConfig::converted_network(),
            sleep_images: 200,
            evaluation_images: None,
            classifier_train_images: 3_000,
            control_gains: vec![1.02, 1.05, 1.1, 1.2],
            seed: 7,
        }
    }
}

impl PipelineConfig {
    /// Checks every setting, so that a bad value fails before training starts and before the
    /// run folder is created.
    ///
    /// # Errors
    /// [`CsvaeError::InvalidArgument`] naming the field for a zero image count, an empty or
    /// zero sweep time step, or an input gain that is not finite and above 0. The member
    /// configurations' own checks (model, training, simulation, sweep encoders, sleep) return
    /// their errors.
    pub fn validate(&self) -> Result<(), CsvaeError> {
        self.model.validate()?;
        self.training.validate()?;
        let counts = [
            ("train_limit", self.train_limit.unwrap_or(1)),
            ("calibration.images", self.calibration.images),
            ("calibration.batch_size", self.calibration.batch_size),
            ("spiking_images", self.spiking_images),
            ("sweep.images", self.sweep.images),
            ("sweep.batch_size", self.sweep.batch_size),
            ("sleep_images", self.sleep_images),
            ("evaluation_images", self.evaluation_images.unwrap_or(1)),
            ("classifier_train_images", self.classifier_train_images),
        ];
        for (name, count) in counts {
            if count == 0 {
                return Err(CsvaeError::InvalidArgument {
                    name: name.to_string(),
                    message: "0 images; use 1 or more".to_string(),
                });
            }
        }
        self.simulation.validate()?;
        if self.sweep.time_steps.is_empty() || self.sweep.time_steps.contains(&0) {
            return Err(CsvaeError::InvalidArgument {
                name: "sweep.time_steps".to_string(),
                message: format!(
                    "{:?}; list at least one number of steps, each 1 or more",
                    self.sweep.time_steps
                ),
            });
        }
        for (_, encoder) in &self.sweep.encoders {
            encoder
                .validate()
                .map_err(csvae_spiking::SpikingError::from)?;
        }
        self.sleep.validate()?;
        if let Some(gain) = self
            .control_gains
            .iter()
            .find(|gain| !(gain.is_finite() && **gain > 0.0))
        {
            return Err(CsvaeError::InvalidArgument {
                name: "control_gains".to_string(),
                message: format!("gain {gain}; every input gain must be finite and above 0"),
            });
        }
        Ok(())
    }

    /// Returns a small configuration that finishes in about 15 seconds on two cores once built:
    /// narrow widths, three epochs on 2,000 images, short simulations and a short sleep.
    pub fn quick() -> Self {
        let default = Self::default();
        Self {
            model: CvaeConfig::small([16, 16, 32, 32], 16),
            training: TrainConfig {
                epochs: 3,
                batch_size: 64,
                learning_rate: 3e-3,
                ..default.training
            },
            train_limit: Some(2_000),
            calibration: CalibrationConfig {
                images: 200,
                ..default.calibration
            },
            simulation: SimulationConfig {
                time_steps: 16,
                ..default.simulation
            },
            spiking_images: 50,
            sweep: SweepConfig {
                time_steps: vec![8, 16, 32],
                images: 25,
                ..SweepConfig::default()
            },
            sleep: quick_sleep(default.sleep),
            sleep_images: 20,
            evaluation_images: Some(200),
            classifier_train_images: 500,
            control_gains: vec![1.1],
            ..default
        }
    }
}

/// Renders the sleep report: what ran, why it stopped, and one row per layer.
fn sleep_markdown(sleep: &SleepReport, change_norms: &[(String, f64)]) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "Inputs presented {}, applied {}; {} steps. Rates of the last input (a schedule may \
         change them): a_plus {:.3e}, a_minus {:.3e}. Input firing rate {:.4}.\n\n",
        sleep.inputs_presented,
        sleep.inputs_applied,
        sleep.steps_run,
        sleep.final_rates.a_plus,
        sleep.final_rates.a_minus,
        sleep.input_firing_rate
    ));
    match &sleep.early_stop {
        Some(stop) if sleep.inputs_applied == 0 => md.push_str(&format!(
            "The runaway guard stopped the sleep at the first input ({stop}), so the CVAE after \
             sleep equals the CVAE before. Lower the learning rates, average shared updates or \
             freeze the layer with a layer rate of 0 to let it run.\n\n"
        )),
        Some(stop) => md.push_str(&format!(
            "The runaway guard stopped the sleep early ({stop}); the network keeps the weights \
             from before that input.\n\n"
        )),
        None => {}
    }
    md.push_str(
        "Firing rate is spikes per neuron and step; \"-\" marks a layer whose neurons do not \
         run (a mirrored decoder layer copies its encoder mirror's change). Relative change is \
         ||W_after - W_before|| / ||W_before|| (Frobenius norms). Events are STDP updates per \
         synapse: potentiation where the pre-synaptic neuron fired within the window before a \
         post-synaptic spike, depression where it did not. Under additive updates a layer's \
         weights drift down when the depression-to-potentiation ratio exceeds a_plus / a_minus \
         and up when it is below.\n\n",
    );
    md.push_str(
        "| layer | mirror of | plastic | firing rate | relative change | change norm (spiking domain) | potentiation events | depression events | depression per potentiation |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for layer in &sleep.layers {
        let firing_rate = layer
            .firing_rate
            .map_or("-".to_string(), |rate| format!("{rate:.4}"));
        let change_norm = change_norms
            .iter()
            .find(|(name, _)| *name == layer.layer)
            .map_or("-".to_string(), |(_, norm)| format!("{norm:.3e}"));
        let ratio = if layer.potentiation_events > 0 {
            format!(
                "{:.1}",
                layer.depression_events as f64 / layer.potentiation_events as f64
            )
        } else {
            "-".to_string()
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.3e} | {} | {} | {} | {} |\n",
            layer.layer,
            layer.mirror_of.as_deref().unwrap_or("-"),
            if layer.plastic { "yes" } else { "no" },
            firing_rate,
            layer.relative_change,
            change_norm,
            layer.potentiation_events,
            layer.depression_events,
            ratio
        ));
    }
    md
}

/// Shortens a sleep configuration for the quick run to 20 inputs of 8 steps. Shared convolution
/// updates are averaged over positions, because summed updates trip the runaway guard at the
/// first input. The rates are multiplied by 10 so that 160 steps change the weights visibly.
pub fn quick_sleep(mut sleep: SleepConfig) -> SleepConfig {
    sleep.inputs = 20;
    sleep.steps_per_input = 8;
    sleep.stdp.shared_weight_update = SharedWeightUpdate::Mean;
    sleep.stdp.a_plus *= 10.0;
    sleep.stdp.a_minus *= 10.0;
    sleep
}

/// A pipeline stage, for progress reports and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Train or load the CVAE.
    Train,
    /// Calibrate and convert to the CSVAE.
    Convert,
    /// Run the CSVAE on spike-encoded test images, and the sweep over T.
    Spiking,
    /// STDP on the spiking weights.
    Sleep,
    /// Transfer the spiking weights back to the CVAE.
    TransferBack,
    /// Compare the CVAE before and after sleep, with controls.
    Evaluate,
    /// Decode samples and write pictures.
    Generate,
}

impl Stage {
    /// The stages in order.
    pub const ALL: [Stage; 7] = [
        Stage::Train,
        Stage::Convert,
        Stage::Spiking,
        Stage::Sleep,
        Stage::TransferBack,
        Stage::Evaluate,
        Stage::Generate,
    ];

    /// Returns a human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Train => "train",
            Stage::Convert => "convert",
            Stage::Spiking => "spiking",
            Stage::Sleep => "sleep",
            Stage::TransferBack => "transfer back",
            Stage::Evaluate => "evaluate",
            Stage::Generate => "generate",
        }
    }
}

/// Progress reported by [`Pipeline::run`].
#[derive(Debug, Clone)]
pub enum PipelineEvent {
    /// A stage began.
    StageStarted(Stage),
    /// A stage ended after `seconds`.
    StageFinished(Stage, f64),
    /// A training step or epoch.
    Training(TrainEvent),
    /// One run of the sweep finished: `(done, total, label)`.
    Sweep(usize, usize, String),
    /// Sleep progress.
    Sleep(SleepProgress),
}

/// The CSVAE on Bernoulli-encoded test images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikingReport {
    /// Images simulated.
    pub images: usize,
    /// Time steps.
    pub time_steps: usize,
    /// MSE per pixel against the input.
    pub mse: f64,
    /// Mean per-image PSNR against the input, dB.
    pub psnr: f64,
    /// MSE per pixel against the CVAE's reconstruction.
    pub mse_to_analog: f64,
    /// The CVAE on the same images.
    pub analog: AnalogBaseline,
    /// Firing rate per spiking layer.
    pub firing_rates: Vec<(String, f64)>,
    /// Synaptic operations per image.
    pub sop_per_image: f64,
    /// SOP divided by the CVAE's MACs.
    pub sop_per_mac: f64,
    /// Energy estimate per image (0.9 pJ per accumulate, 4.6 pJ per MAC; an estimate, not a
    /// measurement).
    pub energy_estimate_per_image: EnergyEstimate,
}

/// The CVAE's robustness and latent quality under one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionReport {
    /// `before sleep`, `after sleep`, `input gain 1.1`, `random change`.
    pub condition: String,
    /// Reconstruction quality per corruption.
    pub robustness: Vec<RobustnessRow>,
    /// Latent classifier accuracies.
    pub latent_accuracy: LatentAccuracy,
}

/// Everything the pipeline measured; written as report.json and report.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineReport {
    /// Source of the data.
    pub dataset: String,
    /// The backend's device description.
    pub device: String,
    /// The settings of the run.
    pub config: PipelineConfig,
    /// Training epochs (empty when a checkpoint was loaded).
    pub training: Vec<EpochRecord>,
    /// The CVAE's test metrics before conversion.
    pub analog_test: EvalMetrics,
    /// The activation scales of the conversion.
    pub scales: ActivationScales,
    /// The CSVAE on Bernoulli-encoded test images.
    pub spiking: SpikingReport,
    /// The CVAE baseline of the sweep.
    pub sweep_baseline: AnalogBaseline,
    /// The sweep over T.
    pub sweep: Vec<SweepRow>,
    /// Report of the sleep phase.
    pub sleep: SleepReport,
    /// The CVAE's test metrics after sleep.
    pub analog_test_after_sleep: EvalMetrics,
    /// Before, after, and the controls.
    pub conditions: Vec<ConditionReport>,
    /// Norm of each layer's weight change by sleep, in the spiking domain.
    pub sleep_change_norms: Vec<(String, f64)>,
    /// Wall time of each stage, in seconds.
    pub stage_seconds: Vec<(Stage, f64)>,
}

/// The five-stage pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Its settings.
    pub config: PipelineConfig,
}

fn read_back<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, CsvaeError> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| CsvaeError::TensorData {
            message: format!("{e:?}"),
        })
}

fn write_text(path: &Path, text: &str) -> Result<(), CsvaeError> {
    csvae_data::fs::write_atomic(path, text.as_bytes()).map_err(|source| CsvaeError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Pipeline {
    /// Creates a pipeline with these settings.
    pub fn new(config: PipelineConfig) -> Self {
        Self { config }
    }

    /// Runs every stage on `data` and writes the run folder `out`: config.json, report.json,
    /// report.md, reconstructions.png, samples.png, sweep.svg, sweep.csv, the CVAE checkpoints
    /// before and after sleep, the spiking weights and the conversion record.
    ///
    /// # Errors
    /// [`CsvaeError::Io`] when `out` cannot be created, and the errors of each stage.
    pub fn run(
        &self,
        data: &Dataset,
        device: &Device,
        out: &Path,
        on_event: &mut dyn FnMut(PipelineEvent),
    ) -> Result<PipelineReport, CsvaeError> {
        let config = &self.config;
        config.validate()?;
        // A checkpoint that is missing or does not fit fails here, before the run folder exists.
        let loaded = match &config.checkpoint {
            Some(path) if !path.is_file() => {
                return Err(CsvaeError::InvalidArgument {
                    name: "checkpoint".into(),
                    message: format!(
                        "{} is not a file; pass a cvae.bpk written by train_cvae or pipeline",
                        path.display()
                    ),
                });
            }
            Some(path) => Some(load_checkpoint(&config.model, path, device)?),
            None => None,
        };
        std::fs::create_dir_all(out).map_err(|source| CsvaeError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        save_json(config, &out.join("config.json"))?;
        let mut stage_seconds = Vec::new();
        let mut timed = |stage: Stage, on_event: &mut dyn FnMut(PipelineEvent), start: Instant| {
            let seconds = start.elapsed().as_secs_f64();
            stage_seconds.push((stage, seconds));
            on_event(PipelineEvent::StageFinished(stage, seconds));
        };
        let test_set = match config.evaluation_images {
            Some(limit) => data.test.take(limit),
            None => data.test.clone(),
        };

        // 1. Train or load the CVAE.
        on_event(PipelineEvent::StageStarted(Stage::Train));
        let start = Instant::now();
        device.seed(config.training.seed);
        let (model, training) = match loaded {
            Some(model) => (model, Vec::new()),
            None => {
                let train_set = match config.train_limit {
                    Some(limit) => data.train.take(limit),
                    None => data.train.clone(),
                };
                let model = config.model.init(device)?;
                train(model, &train_set, None, &config.training, device, |event| {
                    on_event(PipelineEvent::Training(event))
                })?
            }
        };
        save_checkpoint(&model, &out.join("cvae.bpk"))?;
        let analog_test = evaluate(&model, &test_set, 500, device)?;
        timed(Stage::Train, on_event, start);

        // 2. Convert.
        on_event(PipelineEvent::StageStarted(Stage::Convert));
        let start = Instant::now();
        let scales = calibrate(&model, &data.train, &config.calibration, device)?;
        let conversion = convert(
            &model,
            &scales,
            config.balancing,
            Some(config.calibration),
            device,
        )?;
        save_spiking_weights(conversion.network.layers(), &out.join("csvae.safetensors"))?;
        conversion.record.save(&out.join("conversion.json"))?;
        timed(Stage::Convert, on_event, start);

        // 3. Run the CSVAE on Bernoulli-encoded test images, then the sweep over T.
        on_event(PipelineEvent::StageStarted(Stage::Spiking));
        let start = Instant::now();
        let spiking_set = test_set.take(config.spiking_images);
        let (spiking, spiking_images) =
            self.spiking_run(&model, &conversion.network, &spiking_set, device)?;
        let (sweep_baseline, sweep) = fidelity_sweep(
            &model,
            &conversion.network,
            &test_set,
            &config.sweep,
            device,
            &mut |done, total, label| {
                on_event(PipelineEvent::Sweep(done, total, label.to_string()))
            },
        )?;
        write_text(&out.join("sweep.csv"), &sweep_csv(&sweep))?;
        plot_sweep(&out.join("sweep.svg"), &sweep_baseline, &sweep)?;
        timed(Stage::Spiking, on_event, start);

        // 4. Sleep.
        on_event(PipelineEvent::StageStarted(Stage::Sleep));
        let start = Instant::now();
        let sleep_set = data.train.take(config.sleep_images);
        let indices: Vec<usize> = (0..sleep_set.len()).collect();
        let inputs = SleepInputs::new(
            sleep_set.batch_values(&indices)?,
            [sleep_set.len(), 1, sleep_set.height(), sleep_set.width()],
        )?;
        let outcome = sleep(
            &conversion.network,
            &inputs,
            &config.sleep,
            device,
            &mut |progress| on_event(PipelineEvent::Sleep(progress.clone())),
        )?;
        timed(Stage::Sleep, on_event, start);

        // 5. Transfer back.
        on_event(PipelineEvent::StageStarted(Stage::TransferBack));
        let start = Instant::now();
        let slept = transfer_back(outcome.network.layers(), &conversion.record, &model)?;
        save_checkpoint(&slept, &out.join("cvae_after_sleep.bpk"))?;
        let analog_test_after_sleep = evaluate(&slept, &test_set, 500, device)?;
        timed(Stage::TransferBack, on_event, start);

        // 6. Evaluate before and after sleep, with an input-gain and a random-change control.
        on_event(PipelineEvent::StageStarted(Stage::Evaluate));
        let start = Instant::now();
        let (random_layers, sleep_change_norms) = random_matched_change(
            conversion.network.layers(),
            outcome.network.layers(),
            config.seed,
            device,
        )?;
        let random_model = transfer_back(&random_layers, &conversion.record, &model)?;
        let mut conditions = vec![
            self.condition("before sleep", &model, 1.0, data, &test_set, device)?,
            self.condition("after sleep", &slept, 1.0, data, &test_set, device)?,
            self.condition(
                "random change of the same norm",
                &random_model,
                1.0,
                data,
                &test_set,
                device,
            )?,
        ];
        for &gain in &config.control_gains {
            conditions.push(self.condition(
                &format!("input gain {gain}, no sleep"),
                &model,
                gain,
                data,
                &test_set,
                device,
            )?);
        }
        timed(Stage::Evaluate, on_event, start);

        // 7. Generate pictures.
        on_event(PipelineEvent::StageStarted(Stage::Generate));
        let start = Instant::now();
        self.write_pictures(&model, &slept, &spiking_set, &spiking_images, out, device)?;
        timed(Stage::Generate, on_event, start);

        let report = PipelineReport {
            dataset: data.source.clone(),
            device: format!("{device:?}"),
            config: config.clone(),
            training,
            analog_test,
            scales,
            spiking,
            sweep_baseline,
            sweep,
            sleep: outcome.report,
            analog_test_after_sleep,
            conditions,
            sleep_change_norms,
            stage_seconds,
        };
        save_json(&report, &out.join("report.json"))?;
        write_text(&out.join("report.md"), &report_markdown(&report))?;
        Ok(report)
    }

    /// Runs the CSVAE on `set` and returns its report and its reconstructions.
    fn spiking_run(
        &self,
        model: &Cvae,
        network: &Csvae,
        set: &ImageSet,
        device: &Device,
    ) -> Result<(SpikingReport, Vec<f32>), CsvaeError> {
        let plane = set.height() * set.width();
        let (mut error, mut psnr, mut to_analog, mut analog_error, mut analog_psnr) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut spikes: Vec<(String, u64, f64)> = Vec::new();
        let (mut sop, mut analog_mac) = (0u64, 0u64);
        let mut energy = EnergyEstimate {
            spiking_pj: 0.0,
            analog_pj: 0.0,
        };
        let mut reconstructions = Vec::with_capacity(set.len() * plane);
        for indices in set.batch_indices(50, None)? {
            let clean = set.batch_values(&indices)?;
            let input = set.batch(&indices, device)?;
            let analog = read_back(model.forward(input.clone(), None)?.images())?;
            let output = network.run(input, &self.config.simulation)?;
            let recon = read_back(output.reconstruction)?;
            for ((c, r), a) in clean
                .chunks(plane)
                .zip(recon.chunks(plane))
                .zip(analog.chunks(plane))
            {
                let e = mse(c, r);
                error += e;
                psnr += psnr_from_mse(e);
                to_analog += mse(a, r);
                let ea = mse(c, a);
                analog_error += ea;
                analog_psnr += psnr_from_mse(ea);
            }
            let stats = &output.statistics;
            sop += stats.total_synaptic_operations();
            analog_mac += stats.total_analog_macs();
            let batch_energy = stats.energy_estimate(&EnergyModel::default());
            energy.spiking_pj += batch_energy.spiking_pj;
            energy.analog_pj += batch_energy.analog_pj;
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
            reconstructions.extend(recon);
        }
        let n = set.len() as f64;
        let report = SpikingReport {
            images: set.len(),
            time_steps: self.config.simulation.time_steps,
            mse: error / n,
            psnr: psnr / n,
            mse_to_analog: to_analog / n,
            analog: AnalogBaseline {
                images: set.len(),
                mse: analog_error / n,
                psnr: analog_psnr / n,
            },
            firing_rates: spikes
                .into_iter()
                .map(|(name, count, possible)| (name, count as f64 / possible))
                .collect(),
            sop_per_image: sop as f64 / n,
            sop_per_mac: sop as f64 / analog_mac.max(1) as f64,
            energy_estimate_per_image: EnergyEstimate {
                spiking_pj: energy.spiking_pj / n,
                analog_pj: energy.analog_pj / n,
            },
        };
        Ok((report, reconstructions))
    }

    fn condition(
        &self,
        label: &str,
        model: &Cvae,
        gain: f32,
        data: &Dataset,
        test_set: &ImageSet,
        device: &Device,
    ) -> Result<ConditionReport, CsvaeError> {
        let rows = robustness(
            model,
            test_set,
            &Corruption::standard_set(),
            gain,
            self.config.seed,
            device,
        )?;
        let train_set = data.train.take(self.config.classifier_train_images);
        let dim = model.latent_dim();
        let train_codes = latent_codes(model, &train_set, gain, device)?;
        let test_codes = latent_codes(model, test_set, gain, device)?;
        let accuracy = latent_accuracy(
            &train_codes,
            train_set.labels(),
            &test_codes,
            test_set.labels(),
            dim,
        );
        Ok(ConditionReport {
            condition: label.to_string(),
            robustness: rows,
            latent_accuracy: accuracy,
        })
    }

    fn write_pictures(
        &self,
        model: &Cvae,
        slept: &Cvae,
        set: &ImageSet,
        spiking_images: &[f32],
        out: &Path,
        device: &Device,
    ) -> Result<(), CsvaeError> {
        let (h, w) = (set.height(), set.width());
        let plane = h * w;
        let count = 12.min(set.len());
        let indices: Vec<usize> = (0..count).collect();
        let tiles = |values: &[f32]| {
            values
                .chunks(plane)
                .take(count)
                .map(<[f32]>::to_vec)
                .collect::<Vec<_>>()
        };
        let input = set.batch(&indices, device)?;
        let rows = vec![
            tiles(&set.batch_values(&indices)?),
            tiles(&read_back(model.forward(input.clone(), None)?.images())?),
            tiles(spiking_images),
            tiles(&read_back(slept.forward(input, None)?.images())?),
        ];
        save_image_grid(&out.join("reconstructions.png"), &rows, h, w)?;

        let z = standard_normal([count, model.latent_dim()], self.config.seed, device);
        let rows = vec![
            tiles(&read_back(model.decode(z.clone())?)?),
            tiles(&read_back(slept.decode(z)?)?),
        ];
        save_image_grid(&out.join("samples.png"), &rows, h, w)?;
        Ok(())
    }
}

/// Renders the report as Markdown.
pub fn report_markdown(report: &PipelineReport) -> String {
    let mut md = String::new();
    md.push_str("# csvae pipeline report\n\n");
    md.push_str(&format!(
        "Dataset: {}. Device: {}.\n\n",
        report.dataset, report.device
    ));
    md.push_str("## Stage wall times\n\n| stage | seconds |\n| --- | --- |\n");
    for (stage, seconds) in &report.stage_seconds {
        md.push_str(&format!("| {} | {:.1} |\n", stage.name(), seconds));
    }
    md.push_str("\n## Analog CVAE\n\n");
    if let Some(path) = &report.config.checkpoint {
        md.push_str(&format!("Loaded from {}.\n\n", path.display()));
    }
    if let Some(last) = report.training.last() {
        md.push_str(&format!(
            "Trained {} epochs; last epoch train loss {:.2} at {:.0} images/s.\n\n",
            report.training.len(),
            last.train_loss,
            last.train_images_per_second
        ));
    }
    let t = &report.analog_test;
    md.push_str(&format!(
        "Test ({} images): BCE {:.2}, KL {:.2}, MSE {:.5}, PSNR {:.2} dB, SSIM {:.4}.\n\n",
        t.images, t.bce, t.kl, t.mse, t.psnr, t.ssim
    ));
    md.push_str(
        "## Conversion\n\nlambda is a layer's activation scale from calibration (a percentile \
         of its positive activations). Balancing normalises each layer by it, so that an IF \
         neuron fires at about its analog activation divided by lambda.\n\n\
         | layer | lambda |\n| --- | --- |\n",
    );
    for (layer, scale) in report.scales.by_layer() {
        md.push_str(&format!("| {layer} | {scale:.4} |\n"));
    }
    let s = &report.spiking;
    md.push_str(&format!(
        "\n## CSVAE on Bernoulli-encoded test images\n\n{} images, T = {}: MSE {:.5} (CVAE {:.5}), PSNR {:.2} dB (CVAE {:.2} dB), \
         MSE to the CVAE {:.2e}, SOP per image {:.3e}, SOP / MAC {:.3}. Energy estimate per image (0.9 pJ per accumulate, \
         4.6 pJ per MAC, 45 nm figures; an estimate): CSVAE {:.1} nJ, CVAE {:.1} nJ.\n\n",
        s.images,
        s.time_steps,
        s.mse,
        s.analog.mse,
        s.psnr,
        s.analog.psnr,
        s.mse_to_analog,
        s.sop_per_image,
        s.sop_per_mac,
        s.energy_estimate_per_image.spiking_pj / 1e3,
        s.energy_estimate_per_image.analog_pj / 1e3
    ));
    md.push_str("| layer | firing rate |\n| --- | --- |\n");
    for (layer, rate) in &s.firing_rates {
        md.push_str(&format!("| {layer} | {rate:.4} |\n"));
    }
    md.push_str("\n## Error and SOP against T\n\n");
    md.push_str(&sweep_markdown(&report.sweep_baseline, &report.sweep));
    md.push_str("\n## Sleep\n\n");
    md.push_str(&sleep_markdown(&report.sleep, &report.sleep_change_norms));
    let a = &report.analog_test_after_sleep;
    md.push_str(&format!(
        "\nCVAE after sleep, test: BCE {:.2}, KL {:.2}, MSE {:.5}, PSNR {:.2} dB, SSIM {:.4}.\n\n",
        a.bce, a.kl, a.mse, a.psnr, a.ssim
    ));
    md.push_str("## Before and after sleep, with controls\n\n");
    md.push_str("PSNR (dB) / SSIM against the clean image; latent accuracy of a nearest-centroid and a logistic-regression classifier.\n\n");
    if let Some(first) = report.conditions.first() {
        md.push_str("| condition |");
        for row in &first.robustness {
            md.push_str(&format!(" {} |", row.corruption));
        }
        md.push_str(" centroid acc. | logistic acc. |\n|---|");
        for _ in &first.robustness {
            md.push_str("---|");
        }
        md.push_str("---|---|\n");
        for condition in &report.conditions {
            md.push_str(&format!("| {} |", condition.condition));
            for row in &condition.robustness {
                md.push_str(&format!(" {:.2} / {:.3} |", row.psnr, row.ssim));
            }
            md.push_str(&format!(
                " {:.3} | {:.3} |\n",
                condition.latent_accuracy.nearest_centroid,
                condition.latent_accuracy.logistic_regression
            ));
        }
    }
    md.push_str(
        "\nA sleep effect counts only where it beats both controls: the input gain without sleep and the random weight \
         change of the same per-layer norm.\n",
    );
    md
}

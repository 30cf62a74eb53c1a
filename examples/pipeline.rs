//! The main job: train the CVAE, convert it to a CSVAE, run it on spike-encoded test digits,
//! let it sleep (STDP), transfer the weights back, and compare the CVAE before and after sleep.
//!
//! ```text
//! cargo run --release --example pipeline -- --out runs/pipeline
//! cargo run --release --example pipeline -- --quick --out runs/quick
//! ```
//!
//! Expected result: the default run on the embedded digits finishes on a 2-core CPU in 10 to 12
//! minutes and writes a run folder with report.md. `--quick` runs a narrow network in about 15
//! seconds once built.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use csvae::Backend;
use csvae::analog::TrainEvent;
use csvae::data::Dataset;
use csvae::pipeline::{Pipeline, PipelineConfig, PipelineEvent, quick_sleep};
use csvae::spiking::sleep::{
    DecoderPlasticity, LayerRates, SharedWeightUpdate, SleepConfig, SleepThresholds,
    WeightDependence,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SleepPreset {
    /// Our settings for a converted network: averaged updates, thresholds 0.25, fc21 frozen,
    /// a_plus 1e-4 with balanced depression.
    Converted,
    /// The VAE paper's settings: k-winners, doubling a_plus.
    VaePaper,
    /// Tadros et al.'s MNIST settings: masked mean-image input, no competition.
    Tadros,
}

/// Role of the decoder during sleep.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Decoder {
    /// Each decoder layer copies its encoder mirror's change.
    Mirrored,
    /// Each decoder layer learns from its own spikes.
    Independent,
    /// The decoder does not change.
    Frozen,
}

/// Weight dependence of the STDP updates.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dependence {
    /// Every update has the same size.
    Additive,
    /// Updates scale with w (1 - w) on the layer's starting weight range.
    SoftBound,
    /// Updates scale with sigmoid(w).
    Sigmoid,
}

#[derive(Parser, Debug)]
#[command(
    about = "Run the whole csvae pipeline: train, convert, simulate, sleep, transfer back, evaluate"
)]
struct Args {
    /// Directory with the four standard IDX files; the embedded MNIST sample when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output folder of the run (created if missing).
    #[arg(long, default_value = "runs/pipeline")]
    out: PathBuf,
    /// Compute backend: flex (CPU, default), ndarray (CPU, slow), wgpu (GPU; needs --features wgpu).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// A narrow network that runs in about 15 seconds once built. Its sleep is shortened to 20
    /// inputs of 8 steps, with averaged shared updates and 10 times the preset's rates.
    #[arg(long)]
    quick: bool,
    /// Start from this pipeline configuration (JSON, as a run writes to config.json) in place
    /// of the default one. The other flags still override it.
    #[arg(long, conflicts_with = "quick")]
    config: Option<PathBuf>,
    /// Load this CVAE checkpoint (burnpack, VAE18 unless --quick) instead of training.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Training epochs (default 5; 3 with --quick).
    #[arg(long)]
    epochs: Option<usize>,
    /// Sleep preset (default: converted, or the sleep of --config).
    #[arg(long, value_enum)]
    sleep: Option<SleepPreset>,
    /// Training images the sleep draws its inputs from.
    #[arg(long)]
    sleep_images: Option<usize>,
    /// Inputs presented during sleep (default: 500, or 150 for tadros).
    #[arg(long)]
    sleep_inputs: Option<usize>,
    /// Sleep potentiation rate a_plus at the first input (default: the preset's).
    #[arg(long)]
    a_plus: Option<f32>,
    /// Sleep depression rate a_minus at the first input (default: the preset's).
    #[arg(long)]
    a_minus: Option<f32>,
    /// Divide shared convolution-weight updates by the number of positions sharing the weight
    /// (default: the preset's, so converted averages them and vae-paper and tadros sum them).
    #[arg(long)]
    mean_shared_updates: bool,
    /// Scale depression at every step so that each layer's additive STDP changes sum to zero
    /// (a_minus becomes a_plus times the step's potentiation-to-depression event ratio).
    #[arg(long)]
    balance_depression: bool,
    /// Firing threshold of every layer during sleep (default: the preset's).
    #[arg(long)]
    sleep_threshold: Option<f32>,
    /// Multiplier of the sleep learning rates for one layer, as LAYER=SCALE (repeatable; 0
    /// freezes the layer), for example --layer-rate conv2=0.5.
    #[arg(long, value_parser = parse_layer_rate)]
    layer_rate: Vec<(String, f32)>,
    /// Weight dependence of the sleep's STDP updates (default: the preset's).
    #[arg(long, value_enum)]
    weight_dependence: Option<Dependence>,
    /// Role of the decoder during sleep (default: the preset's, mirrored).
    #[arg(long, value_enum)]
    decoder: Option<Decoder>,
    /// Largest relative weight change of any layer before the runaway guard stops the sleep
    /// (default 0.05).
    #[arg(long)]
    max_weight_change: Option<f32>,
    /// Test images of the before/after evaluation (default: all).
    #[arg(long)]
    evaluation_images: Option<usize>,
    /// Comma-separated time steps of the error and SOP sweep (default 8,16,32,64,128,256).
    #[arg(long, value_delimiter = ',')]
    sweep_time_steps: Option<Vec<usize>>,
    /// Seed of the training, the corruptions and the controls (default 42, or the seeds of
    /// --config).
    #[arg(long)]
    seed: Option<u64>,
}

/// Parses `LAYER=SCALE`, checking the layer name and the number.
fn parse_layer_rate(text: &str) -> Result<(String, f32), String> {
    let (layer, scale) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not LAYER=SCALE, for example conv2=0.5"))?;
    let scale: f32 = scale
        .parse()
        .map_err(|_| format!("`{scale}` is not a number in `{text}`"))?;
    if !(scale.is_finite() && scale >= 0.0) {
        return Err(format!(
            "rate multiplier {scale} in `{text}` is invalid; use a finite value of 0 or more"
        ));
    }
    LayerRates::default()
        .set(layer, scale)
        .map_err(|error| error.to_string())?;
    Ok((layer.to_string(), scale))
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let device = args.backend.device()?;
    let data = Dataset::load(args.data_dir.as_deref()).context("loading the dataset")?;

    let mut config = if let Some(path) = &args.config {
        csvae::analog::load_json::<PipelineConfig>(path)
            .with_context(|| format!("loading the pipeline configuration {}", path.display()))?
    } else if args.quick {
        PipelineConfig::quick()
    } else {
        PipelineConfig::default()
    };
    match args.sleep {
        Some(SleepPreset::Converted) => config.sleep = SleepConfig::converted_network(),
        Some(SleepPreset::VaePaper) => {
            // 500 of the preset's 3,000 inputs keep the run within minutes on two cores, so the
            // learning rates stay at their initial values.
            config.sleep = SleepConfig {
                inputs: 500,
                ..SleepConfig::vae_paper()
            };
        }
        Some(SleepPreset::Tadros) => config.sleep = SleepConfig::tadros_mnist(),
        None => {}
    }
    // `PipelineConfig::quick` already shortened its own sleep, but a preset chosen here needs
    // the same treatment.
    if args.quick && args.sleep.is_some() {
        config.sleep = quick_sleep(config.sleep);
    }
    if args.checkpoint.is_some() {
        config.checkpoint = args.checkpoint.clone();
    }
    // The seed flag overrides a configuration file only when given.
    let seed = args.seed.or(args.config.is_none().then_some(42));
    if let Some(seed) = seed {
        config.training.seed = seed;
        config.seed = seed;
    }
    if let Some(epochs) = args.epochs {
        config.training.epochs = epochs;
    }
    if let Some(images) = args.sleep_images {
        config.sleep_images = images;
    }
    if let Some(inputs) = args.sleep_inputs {
        config.sleep.inputs = inputs;
    }
    if let Some(a_plus) = args.a_plus {
        config.sleep.stdp.a_plus = a_plus;
    }
    if let Some(a_minus) = args.a_minus {
        config.sleep.stdp.a_minus = a_minus;
    }
    if let Some(v_threshold) = args.sleep_threshold {
        config.sleep.thresholds = SleepThresholds::uniform(v_threshold);
    }
    if args.mean_shared_updates {
        config.sleep.stdp.shared_weight_update = SharedWeightUpdate::Mean;
    }
    if args.balance_depression {
        config.sleep.stdp.balance_depression = true;
    }
    if let Some(dependence) = args.weight_dependence {
        config.sleep.stdp.weight_dependence = match dependence {
            Dependence::Additive => WeightDependence::Additive,
            Dependence::SoftBound => WeightDependence::SoftBound,
            Dependence::Sigmoid => WeightDependence::Sigmoid,
        };
    }
    if let Some(decoder) = args.decoder {
        config.sleep.decoder = match decoder {
            Decoder::Mirrored => DecoderPlasticity::Mirrored,
            Decoder::Independent => DecoderPlasticity::Independent,
            Decoder::Frozen => DecoderPlasticity::Frozen,
        };
    }
    for (index, (layer, scale)) in args.layer_rate.iter().enumerate() {
        if args.layer_rate[..index]
            .iter()
            .any(|(seen, _)| seen == layer)
        {
            anyhow::bail!("--layer-rate names {layer} twice; give each layer once");
        }
        config.sleep.stdp.layer_rates.set(layer, *scale)?;
    }
    if let Some(limit) = args.max_weight_change {
        config.sleep.guard.max_relative_change = Some(limit);
    }
    if let Some(images) = args.evaluation_images {
        config.evaluation_images = Some(images);
    }
    if let Some(time_steps) = args.sweep_time_steps.clone() {
        config.sweep.time_steps = time_steps;
    }
    // `Pipeline::run` checks again, but a bad value should fail before the banner.
    config.validate()?;

    println!(
        "csvae pipeline on {} ({} backend), writing {}",
        data.source,
        args.backend,
        args.out.display()
    );
    let bars = MultiProgress::new();
    let style =
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg} ({elapsed})")?
            .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let pipeline = Pipeline::new(config);
    let report = pipeline.run(&data, &device, &args.out, &mut |event| match event {
        PipelineEvent::StageStarted(stage) => {
            let new_bar = bars.add(ProgressBar::new_spinner());
            new_bar.set_style(style.clone());
            new_bar.set_prefix(stage.name());
            bar = Some(new_bar);
        }
        PipelineEvent::StageFinished(stage, seconds) => {
            if let Some(done) = bar.take() {
                done.finish_and_clear();
            }
            // `suspend` prints even when stderr is not a terminal.
            bars.suspend(|| println!("{:>14}: done in {seconds:.1} s", stage.name()));
        }
        PipelineEvent::Training(TrainEvent::Step {
            epoch,
            step,
            steps,
            loss,
        }) => {
            if let Some(b) = &bar {
                b.set_length(steps as u64);
                b.set_position(step as u64);
                b.set_message(format!("epoch {epoch}, loss {loss:.1}"));
            }
        }
        PipelineEvent::Training(TrainEvent::Epoch(_)) => {}
        PipelineEvent::Sweep(done, total, label) => {
            if let Some(b) = &bar {
                b.set_length(total as u64);
                b.set_position(done as u64);
                b.set_message(label);
            }
        }
        PipelineEvent::Sleep(progress) => {
            if let Some(b) = &bar {
                b.set_length(progress.inputs_total as u64);
                b.set_position(progress.inputs_presented as u64);
            }
        }
    })?;

    let before = &report.conditions[0];
    let after = &report.conditions[1];
    println!(
        "CVAE test PSNR {:.2} dB before sleep, {:.2} dB after; CSVAE (T = {}) PSNR {:.2} dB, SOP/MAC {:.3}",
        before.robustness[0].psnr,
        after.robustness[0].psnr,
        report.spiking.time_steps,
        report.spiking.psnr,
        report.spiking.sop_per_mac
    );
    if let Some(stop) = &report.sleep.early_stop {
        println!(
            "Note: the runaway guard stopped the sleep at input {} of {}: {stop}. The network \
             keeps the changes of the inputs before it ({} applied).",
            report.sleep.inputs_presented, report.config.sleep.inputs, report.sleep.inputs_applied
        );
        if report.sleep.inputs_applied == 0 {
            println!("The CVAE after sleep therefore equals the CVAE before.");
        }
    }
    println!("Wrote {}", args.out.join("report.md").display());
    Ok(())
}

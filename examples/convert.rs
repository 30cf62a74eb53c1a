//! Converts a trained CVAE into its spiking twin and sweeps the number of time steps.
//!
//! Expected result for VAE18 after 5 epochs on the embedded digits: the CSVAE's error against
//! the CVAE falls steadily as T grows, and SOP / MAC grows about linearly with T.
//!
//! ```text
//! cargo run --release --example train_cvae -- --out runs/cvae
//! cargo run --release --example convert -- --run runs/cvae --out runs/convert
//! ```
//!
//! The output folder contains csvae.safetensors (spiking weights), conversion.json (the record
//! that inverts the conversion), sweep.csv, sweep.md and sweep.json (the table), sweep.svg (the
//! plot) and reconstructions.png (rows: input, CVAE, then the CSVAE with Bernoulli input at
//! each T of `--grid-time-steps`).

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use clap::{Parser, ValueEnum};
use csvae::analog::{Cvae, CvaeConfig, load_checkpoint, save_json};
use csvae::data::{Dataset, ImageSet};
use csvae::encoding::Encoder;
use csvae::image_grid::save_image_grid;
use csvae::plot::plot_sweep;
use csvae::spiking::{InitialMembrane, ReadoutWarmUp, SimulationConfig};
use csvae::sweep::{SweepConfig, fidelity_sweep, sweep_csv, sweep_markdown, target_firing_rates};
use csvae::transfer::{
    BalancingForm, CalibrationConfig, ScaleStatistic, calibrate, convert, save_spiking_weights,
};
use csvae::{Backend, CsvaeError};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Form {
    /// Scale the weights, thresholds at 1.
    Scaled,
    /// Keep the folded weights, set per-layer thresholds.
    Thresholds,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Membrane {
    /// Start every membrane at 0.
    Zero,
    /// Start every membrane at half its threshold.
    Half,
}

#[derive(Parser, Debug)]
#[command(about = "Convert a trained CVAE into a CSVAE and sweep the number of time steps")]
struct Args {
    /// Run folder written by train_cvae (config.json and cvae.bpk).
    #[arg(long, default_value = "runs/train_cvae")]
    run: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, default_value = "runs/convert")]
    out: PathBuf,
    /// Directory with the four standard IDX files; the embedded MNIST sample when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Compute backend: flex (CPU, default), ndarray (CPU, slow), wgpu (GPU; needs --features wgpu).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Training images used for calibration.
    #[arg(long, default_value_t = 500)]
    calibration_images: usize,
    /// Percentile of positive activations used as each layer's scale, in (0, 100].
    #[arg(long, default_value_t = 99.9)]
    percentile: f64,
    /// Use the maximum activation instead of a percentile.
    #[arg(long)]
    max: bool,
    /// Balancing form.
    #[arg(long, value_enum, default_value = "scaled")]
    form: Form,
    /// Test images simulated at each T.
    #[arg(long, default_value_t = 200)]
    images: usize,
    /// Comma-separated time steps of the sweep.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64,128,256")]
    time_steps: Vec<usize>,
    /// Time steps shown in reconstructions.png (Bernoulli input).
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    grid_time_steps: Vec<usize>,
    /// Fraction of the steps the readouts skip before averaging, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    warm_up: f32,
    /// Initial membrane potential.
    #[arg(long, value_enum, default_value = "zero")]
    initial_membrane: Membrane,
    /// Seed of the input spike trains.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn read_model_config(run: &std::path::Path) -> anyhow::Result<CvaeConfig> {
    let path = run.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (run train_cvae first, or pass --run)",
            path.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let model = value
        .get("model")
        .cloned()
        .context("config.json has no `model` section")?;
    serde_json::from_value(model)
        .with_context(|| format!("invalid model config in {}", path.display()))
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let device = args.backend.device()?;
    let model_config = read_model_config(&args.run)?;
    let checkpoint = args.run.join("cvae.bpk");
    let model = load_checkpoint(&model_config, &checkpoint, &device)?;
    let data = Dataset::load(args.data_dir.as_deref()).context("loading the dataset")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    let calibration = CalibrationConfig {
        images: args.calibration_images,
        statistic: if args.max {
            ScaleStatistic::Max
        } else {
            ScaleStatistic::Percentile { p: args.percentile }
        },
        ..CalibrationConfig::default()
    };
    println!(
        "Calibrating on {} training images",
        calibration.images.min(data.train.len())
    );
    let scales = calibrate(&model, &data.train, &calibration, &device)?;
    let form = match args.form {
        Form::Scaled => BalancingForm::ScaledWeights,
        Form::Thresholds => BalancingForm::LayerThresholds,
    };
    let conversion = convert(&model, &scales, form, Some(calibration), &device)?;
    save_spiking_weights(
        conversion.network.layers(),
        &args.out.join("csvae.safetensors"),
    )?;
    conversion.record.save(&args.out.join("conversion.json"))?;
    for (layer, scale) in scales.by_layer() {
        println!("  lambda {layer:8} {scale:.4}");
    }

    let simulation = SimulationConfig {
        warm_up: if args.warm_up > 0.0 {
            ReadoutWarmUp::Fraction {
                fraction: args.warm_up,
            }
        } else {
            ReadoutWarmUp::Off
        },
        initial_membrane: match args.initial_membrane {
            Membrane::Zero => InitialMembrane::Zero,
            Membrane::Half => InitialMembrane::HalfThreshold,
        },
        input_seed: args.seed,
        ..SimulationConfig::default()
    };
    let sweep = SweepConfig {
        time_steps: args.time_steps.clone(),
        images: args.images,
        simulation,
        ..SweepConfig::default()
    };
    let total = sweep.time_steps.len() * sweep.encoders.len();
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs {msg}")?
            .progress_chars("=> "),
    );
    let (baseline, rows) = fidelity_sweep(
        &model,
        &conversion.network,
        &data.test,
        &sweep,
        &device,
        &mut |_, _, label| {
            bar.set_message(label.to_string());
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();

    let targets = target_firing_rates(&model, &scales, &data.test, args.images, &device)?;
    let mut rate_table = String::from("\n| layer | target rate mean(clamp(a / lambda, 0, 1)) |");
    let measured: Vec<&csvae::sweep::SweepRow> =
        rows.iter().filter(|r| r.encoder == "bernoulli").collect();
    for row in &measured {
        rate_table.push_str(&format!(" bernoulli T = {} |", row.time_steps));
    }
    rate_table.push_str("\n| --- | --- |");
    rate_table.push_str(&" --- |".repeat(measured.len()));
    rate_table.push('\n');
    for (layer, target) in &targets {
        rate_table.push_str(&format!("| {layer} | {target:.4} |"));
        for row in &measured {
            let rate = row
                .firing_rates
                .iter()
                .find(|(name, _)| name == layer)
                .map_or(0.0, |(_, r)| *r);
            rate_table.push_str(&format!(" {rate:.4} |"));
        }
        rate_table.push('\n');
    }

    let write = |name: &str, text: String| -> Result<(), CsvaeError> {
        let path = args.out.join(name);
        csvae::data::fs::write_atomic(&path, text.as_bytes())
            .map_err(|source| CsvaeError::Io { path, source })
    };
    write("sweep.csv", sweep_csv(&rows))?;
    let markdown = sweep_markdown(&baseline, &rows) + &rate_table;
    write("sweep.md", markdown.clone())?;
    save_json(
        &serde_json::json!({ "baseline": baseline, "rows": rows, "scales": scales, "sweep": sweep, "target_rates": targets }),
        &args.out.join("sweep.json"),
    )?;
    plot_sweep(&args.out.join("sweep.svg"), &baseline, &rows)?;
    write_grid(
        &model,
        &conversion.network,
        &data.test,
        &args,
        simulation,
        &device,
    )?;

    println!("{markdown}");
    println!("Wrote {}", args.out.display());
    Ok(())
}

fn write_grid(
    model: &Cvae,
    network: &csvae::spiking::Csvae,
    set: &ImageSet,
    args: &Args,
    simulation: SimulationConfig,
    device: &Device,
) -> anyhow::Result<()> {
    let (h, w) = (set.height(), set.width());
    let indices: Vec<usize> = (0..12.min(set.len())).collect();
    let tiles = |values: Vec<f32>| {
        values
            .chunks(h * w)
            .map(<[f32]>::to_vec)
            .collect::<Vec<_>>()
    };
    let read = |t: burn::tensor::Tensor<4>| {
        t.into_data()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let input = set.batch(&indices, device)?;
    let mut rows = vec![
        tiles(set.batch_values(&indices)?),
        tiles(read(model.forward(input.clone(), None)?.images())?),
    ];
    for &time_steps in &args.grid_time_steps {
        let config = SimulationConfig {
            time_steps,
            input_encoder: Encoder::Bernoulli { max_rate: 1.0 },
            ..simulation
        };
        rows.push(tiles(read(
            network.run(input.clone(), &config)?.reconstruction,
        )?));
    }
    save_image_grid(&args.out.join("reconstructions.png"), &rows, h, w)?;
    Ok(())
}

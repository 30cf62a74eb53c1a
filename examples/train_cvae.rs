//! Trains the analog CVAE (VAE18) and writes a run folder.
//!
//! Expected result with the defaults (5 epochs on the 9,000 embedded training digits, batch
//! 128, lr 1e-3): a test BCE of roughly 95-100 per image on the 1,000 embedded test digits.
//!
//! ```text
//! cargo run --release --example train_cvae -- --out runs/cvae
//! ```
//!
//! The run folder contains cvae.bpk (checkpoint), config.json, metrics.json, reconstructions.png
//! (test inputs over their reconstructions) and samples.png (decoded from z ~ N(0, I)).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::Device;
use clap::Parser;
use csvae::analog::{
    Cvae, CvaeConfig, EpochRecord, TrainConfig, TrainEvent, save_checkpoint, save_json,
    standard_normal, train,
};
use csvae::data::{Dataset, ImageSet};
use csvae::{Backend, image_grid::save_image_grid};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Train the analog convolutional VAE (VAE18) on MNIST-format digits")]
struct Args {
    /// Directory with the four standard IDX files (full MNIST, Fashion-MNIST); the embedded
    /// 10,000-digit MNIST sample when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output folder for the checkpoint, JSON files and pictures (created if missing).
    #[arg(long, default_value = "runs/train_cvae")]
    out: PathBuf,
    /// Passes over the training set.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Images per optimisation step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed of the initialisation, shuffling and sampling noise.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Compute backend: flex (CPU, default), ndarray (CPU, slow), wgpu (GPU; needs --features wgpu).
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Use only the first N training images (all when omitted).
    #[arg(long)]
    train_limit: Option<usize>,
}

#[derive(Serialize)]
struct RunConfig<'a> {
    model: &'a CvaeConfig,
    training: &'a TrainConfig,
    dataset: &'a str,
    train_images: usize,
    test_images: usize,
    backend: Backend,
}

#[derive(Serialize)]
struct Metrics<'a> {
    epochs: &'a [EpochRecord],
    inference_images_per_second: f64,
    total_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let started = Instant::now();
    let device = args.backend.device()?;
    device.seed(args.seed);

    let data = Dataset::load(args.data_dir.as_deref()).context("loading the dataset")?;
    let train_set = match args.train_limit {
        Some(limit) => data.train.take(limit),
        None => data.train.clone(),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output folder {}", args.out.display()))?;

    let model_config = CvaeConfig::vae18();
    let train_config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        ..TrainConfig::default()
    };
    train_config.validate()?;
    save_json(
        &RunConfig {
            model: &model_config,
            training: &train_config,
            dataset: &data.source,
            train_images: train_set.len(),
            test_images: data.test.len(),
            backend: args.backend,
        },
        &args.out.join("config.json"),
    )?;

    println!(
        "Training VAE18 on {} images ({}), testing on {}, backend {}",
        train_set.len(),
        data.source,
        data.test.len(),
        args.backend
    );
    let steps_per_epoch = train_set.len().div_ceil(args.batch_size);
    let bar = ProgressBar::new((steps_per_epoch * args.epochs) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps, epoch {prefix} {msg} (eta {eta})",
        )?
        .progress_chars("=> "),
    );
    let model = model_config.init(&device.clone().autodiff())?;
    let (model, epochs) = train(
        model,
        &train_set,
        Some(&data.test),
        &train_config,
        &device,
        |event| {
            match event {
                TrainEvent::Step { epoch, loss, .. } => {
                    bar.set_prefix(epoch.to_string());
                    bar.set_message(format!("loss {loss:.1}"));
                    bar.inc(1);
                }
                TrainEvent::Epoch(record) => {
                    if let Some(test) = record.test {
                        // `suspend` prints even when stderr is not a terminal and the bar is hidden.
                        bar.suspend(|| println!(
                        "epoch {}: train loss {:.2} | test BCE {:.2}, KL {:.2}, MSE {:.5}, PSNR {:.2} dB, SSIM {:.4} | {:.0} images/s",
                        record.epoch, record.train_loss, test.bce, test.kl, test.mse, test.psnr, test.ssim,
                        record.train_images_per_second
                    ));
                    }
                }
            }
        },
    )?;
    bar.finish_and_clear();

    let inference_rate = inference_throughput(&model, &data.test, &device)?;
    save_checkpoint(&model, &args.out.join("cvae.bpk"))?;
    save_json(
        &Metrics {
            epochs: &epochs,
            inference_images_per_second: inference_rate,
            total_seconds: started.elapsed().as_secs_f64(),
        },
        &args.out.join("metrics.json"),
    )?;
    write_pictures(&model, &data.test, &device, &args.out, args.seed)?;

    println!("Inference: {inference_rate:.0} images/s");
    println!("Wrote {}", args.out.display());
    Ok(())
}

/// Times a forward pass (encode with z = mu, decode) over the whole test set.
fn inference_throughput(model: &Cvae, set: &ImageSet, device: &Device) -> anyhow::Result<f64> {
    let start = Instant::now();
    for indices in set.batch_indices(500, None)? {
        let output = model.forward(set.batch(&indices, device)?, None)?;
        // Reading the result back forces the computation to finish before the clock stops.
        let _ = output.logits.into_data();
    }
    Ok(set.len() as f64 / start.elapsed().as_secs_f64())
}

fn write_pictures(
    model: &Cvae,
    set: &ImageSet,
    device: &Device,
    out: &std::path::Path,
    seed: u64,
) -> anyhow::Result<()> {
    let (h, w) = (set.height(), set.width());
    let plane = h * w;
    let indices: Vec<usize> = (0..16.min(set.len())).collect();
    let inputs = set.batch_values(&indices)?;
    let recon = model.forward(set.batch(&indices, device)?, None)?.images();
    let recon = recon
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let tiles = |values: &[f32]| {
        values
            .chunks(plane)
            .map(<[f32]>::to_vec)
            .collect::<Vec<_>>()
    };
    save_image_grid(
        &out.join("reconstructions.png"),
        &[tiles(&inputs), tiles(&recon)],
        h,
        w,
    )?;

    let z = standard_normal([64, model.latent_dim()], seed, device);
    let samples = model
        .decode(z)?
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows: Vec<Vec<Vec<f32>>> = tiles(&samples)
        .chunks(8)
        .map(<[Vec<f32>]>::to_vec)
        .collect();
    save_image_grid(&out.join("samples.png"), &rows, h, w)?;
    Ok(())
}

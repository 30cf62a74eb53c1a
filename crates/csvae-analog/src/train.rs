//! Training loop (Adam) and evaluation on a test split.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use csvae_data::ImageSet;
use serde::{Deserialize, Serialize};

use crate::error::{AnalogError, Result};
use crate::loss::{bce_with_logits_per_image, kl_per_image, vae_loss};
use crate::metrics::{mse, psnr_from_mse, ssim_channels};
use crate::model::Cvae;

/// Settings of [`train`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training set. Default: 5.
    pub epochs: usize,
    /// Images per optimisation step. Default: 128.
    pub batch_size: usize,
    /// Adam learning rate. Default: 1e-3.
    pub learning_rate: f64,
    /// Weight of the KL term. Default: 1.0.
    pub beta: f64,
    /// Seed of the shuffling order and of the reparameterisation noise. Default: 42.
    pub seed: u64,
    /// Images per batch during evaluation. Default: 500.
    pub eval_batch_size: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 128,
            learning_rate: 1e-3,
            beta: 1.0,
            seed: 42,
            eval_batch_size: 500,
        }
    }
}

impl TrainConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`AnalogError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &str, value: String, expected: &str| {
            Err(AnalogError::InvalidConfig {
                field: field.into(),
                value,
                expected: expected.into(),
            })
        };
        if self.epochs == 0 {
            return invalid("epochs", "0".into(), "at least 1");
        }
        if self.batch_size == 0 {
            return invalid("batch_size", "0".into(), "at least 1");
        }
        if self.eval_batch_size == 0 {
            return invalid("eval_batch_size", "0".into(), "at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return invalid(
                "learning_rate",
                self.learning_rate.to_string(),
                "a finite positive number",
            );
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return invalid("beta", self.beta.to_string(), "a finite number >= 0");
        }
        Ok(())
    }
}

/// Reconstruction metrics of a network on a set of images, each a mean over images, with z = mu.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Number of images evaluated.
    pub images: usize,
    /// Binary cross-entropy per image (sum over pixels).
    pub bce: f64,
    /// KL divergence per image.
    pub kl: f64,
    /// Mean squared error per pixel.
    pub mse: f64,
    /// Mean over images of the per-image PSNR in dB (peak 1).
    pub psnr: f64,
    /// Mean over images of the per-image SSIM.
    pub ssim: f64,
    /// Wall time of the evaluation in seconds.
    pub seconds: f64,
}

/// Results of one training epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss (BCE + beta KL per image) over the epoch's batches.
    pub train_loss: f64,
    /// Mean training BCE per image.
    pub train_bce: f64,
    /// Mean training KL per image.
    pub train_kl: f64,
    /// Wall time of the optimisation steps in seconds.
    pub train_seconds: f64,
    /// Training throughput in images per second.
    pub train_images_per_second: f64,
    /// Test metrics after the epoch, when a test set was given.
    pub test: Option<EvalMetrics>,
}

/// Progress events passed to the callback of [`train`].
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// One optimisation step finished.
    Step {
        /// Epoch number, from 1.
        epoch: usize,
        /// Step within the epoch, from 1.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// Loss of this batch.
        loss: f64,
    },
    /// An epoch finished, test evaluation included.
    Epoch(EpochRecord),
}

/// Derives a stream seed from a base seed and counters (SplitMix64 finaliser), so that every
/// batch gets its own reproducible noise.
pub fn derive_seed(base: u64, a: u64, b: u64) -> u64 {
    let mut z = base
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_scalar::<f32>())
}

/// Trains `model` with Adam on `train_set` and evaluates on `test_set` after each epoch.
///
/// `model` may live on `device` or on its autodiff twin; training runs on the autodiff twin. The returned model lives on
/// `device` in evaluation mode (batch norm uses its running statistics). Progress goes to
/// `on_event` and to `log` at debug level.
///
/// # Errors
/// [`AnalogError::InvalidConfig`] for a bad config, [`AnalogError::NonFinite`] when the loss
/// diverges, and data errors from batching.
pub fn train(
    model: Cvae,
    train_set: &ImageSet,
    test_set: Option<&ImageSet>,
    config: &TrainConfig,
    device: &Device,
    mut on_event: impl FnMut(TrainEvent),
) -> Result<(Cvae, Vec<EpochRecord>)> {
    config.validate()?;
    let autodiff_device = device.clone().autodiff();
    // `train` turns a plain-device module into a trainable one on the autodiff twin. `valid`
    // comes first so that a module already on an autodiff device works too.
    let mut model = model.valid().to_device(device).train();
    let mut optimizer = AdamConfig::new().init();
    let mut records = Vec::with_capacity(config.epochs);

    for epoch in 1..=config.epochs {
        let batches = train_set.batch_indices(
            config.batch_size,
            Some(derive_seed(config.seed, epoch as u64, 0)),
        )?;
        let steps = batches.len();
        let (mut loss_sum, mut bce_sum, mut kl_sum, mut images) = (0.0, 0.0, 0.0, 0usize);
        let start = Instant::now();
        for (index, indices) in batches.iter().enumerate() {
            let images_batch = train_set.batch(indices, &autodiff_device)?;
            let posterior = model.encode(images_batch.clone())?;
            let z = posterior.sample(derive_seed(config.seed, epoch as u64, index as u64 + 1));
            let logits = model.decode_logits(z)?;
            let parts = vae_loss(logits, images_batch, &posterior, config.beta);
            let grads = GradientsParams::from_grads(parts.loss.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);

            let loss = scalar(parts.loss);
            if !loss.is_finite() {
                return Err(AnalogError::NonFinite {
                    what: format!("training loss at epoch {epoch}, step {}", index + 1),
                    value: loss,
                });
            }
            let n = indices.len() as f64;
            loss_sum += loss * n;
            bce_sum += scalar(parts.bce) * n;
            kl_sum += scalar(parts.kl) * n;
            images += indices.len();
            log::debug!("epoch {epoch} step {}/{steps}: loss {loss:.3}", index + 1);
            on_event(TrainEvent::Step {
                epoch,
                step: index + 1,
                steps,
                loss,
            });
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let test = match test_set {
            Some(set) => Some(evaluate(
                &model.valid(),
                set,
                config.eval_batch_size,
                device,
            )?),
            None => None,
        };
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / images as f64,
            train_bce: bce_sum / images as f64,
            train_kl: kl_sum / images as f64,
            train_seconds,
            train_images_per_second: images as f64 / train_seconds,
            test,
        };
        log::info!(
            "epoch {epoch}: train loss {:.2}, test {:?}",
            record.train_loss,
            record.test
        );
        on_event(TrainEvent::Epoch(record.clone()));
        records.push(record);
    }
    Ok((model.valid().to_device(device), records))
}

/// Evaluates `model` on every image of `set` with z = mu.
///
/// `model` should be in evaluation mode (as returned by [`train`] or a checkpoint load) so that
/// batch norm uses its running statistics.
///
/// # Errors
/// Data errors from batching (an empty set gives [`csvae_data::DataError::ZeroBatchSize`]).
pub fn evaluate(
    model: &Cvae,
    set: &ImageSet,
    batch_size: usize,
    device: &Device,
) -> Result<EvalMetrics> {
    let start = Instant::now();
    let (height, width) = (set.height(), set.width());
    let channels = model.input_channels();
    let plane = channels * height * width;
    let (mut bce, mut kl, mut mse_sum, mut psnr, mut ssim) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for indices in set.batch_indices(batch_size, None)? {
        let targets = set.batch_values(&indices)?;
        let input = set.batch(&indices, device)?;
        let output = model.forward(input.clone(), None)?;
        bce += scalar(bce_with_logits_per_image(output.logits.clone(), input).sum());
        kl += scalar(kl_per_image(&output.posterior).sum());
        let recon = output
            .images()
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| AnalogError::NonFinite {
                what: format!("reconstruction read-back ({e:?})"),
                value: f64::NAN,
            })?;
        for (target, image) in targets.chunks(plane).zip(recon.chunks(plane)) {
            let error = mse(target, image);
            mse_sum += error;
            psnr += psnr_from_mse(error);
            ssim += ssim_channels(target, image, channels, height, width);
        }
    }
    let n = set.len() as f64;
    Ok(EvalMetrics {
        images: set.len(),
        bce: bce / n,
        kl: kl / n,
        mse: mse_sum / n,
        psnr: psnr / n,
        ssim: ssim / n,
        seconds: start.elapsed().as_secs_f64(),
    })
}

//! Evaluation of the analog CVAE for the sleep report: clean and corrupted reconstructions, and
//! the quality of the latent codes.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_analog::Cvae;
use csvae_analog::metrics::{mse, psnr_from_mse, ssim};
use csvae_data::ImageSet;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::error::CsvaeError;

/// A corruption applied to the input image; the reconstruction is scored against the clean one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Corruption {
    /// The clean image.
    Clean,
    /// Additive Gaussian noise of standard deviation `sigma`, then clipped to [0, 1].
    Gaussian {
        /// Standard deviation of the noise.
        sigma: f32,
    },
    /// Each pixel set to 0 or 1 (equally likely) with probability `fraction`.
    SaltAndPepper {
        /// Fraction of corrupted pixels.
        fraction: f32,
    },
    /// A 3x3 box blur (borders averaged over the pixels inside the image), applied `passes`
    /// times.
    Blur {
        /// Number of blur passes.
        passes: usize,
    },
}

impl Corruption {
    /// Returns the corruptions of the standard report: clean, Gaussian noise 0.1, 0.2, 0.3, salt and
    /// pepper 10%, and one blur pass.
    pub fn standard_set() -> Vec<Corruption> {
        vec![
            Corruption::Clean,
            Corruption::Gaussian { sigma: 0.1 },
            Corruption::Gaussian { sigma: 0.2 },
            Corruption::Gaussian { sigma: 0.3 },
            Corruption::SaltAndPepper { fraction: 0.1 },
            Corruption::Blur { passes: 1 },
        ]
    }

    /// Returns a short label for tables, such as `gaussian 0.2`.
    pub fn label(&self) -> String {
        match self {
            Corruption::Clean => "clean".into(),
            Corruption::Gaussian { sigma } => format!("gaussian {sigma}"),
            Corruption::SaltAndPepper { fraction } => format!("salt and pepper {fraction}"),
            Corruption::Blur { passes } => format!("blur x{passes}"),
        }
    }

    /// Applies the corruption to images of `height * width` pixels stored back to back.
    pub fn apply(&self, images: &[f32], height: usize, width: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        match *self {
            Corruption::Clean => images.to_vec(),
            Corruption::Gaussian { sigma } => {
                // `f32::max` returns 0 for a NaN sigma, so the constructor cannot fail.
                let noise = Normal::new(0.0f32, sigma.max(0.0)).expect("sigma is finite and >= 0");
                images
                    .iter()
                    .map(|&v| (v + noise.sample(&mut rng)).clamp(0.0, 1.0))
                    .collect()
            }
            Corruption::SaltAndPepper { fraction } => {
                let uniform = Uniform::new(0.0f32, 1.0).expect("valid range");
                images
                    .iter()
                    .map(|&v| {
                        if uniform.sample(&mut rng) < fraction {
                            if uniform.sample(&mut rng) < 0.5 {
                                0.0
                            } else {
                                1.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect()
            }
            Corruption::Blur { passes } => {
                let mut out = images.to_vec();
                for _ in 0..passes {
                    out = out
                        .chunks(height * width)
                        .flat_map(|image| box_blur(image, height, width))
                        .collect();
                }
                out
            }
        }
    }
}

fn box_blur(image: &[f32], height: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; image.len()];
    for y in 0..height {
        for x in 0..width {
            let (mut sum, mut count) = (0.0f32, 0.0f32);
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    sum += image[ny * width + nx];
                    count += 1.0;
                }
            }
            out[y * width + x] = sum / count;
        }
    }
    out
}

/// Reconstruction quality under one corruption, scored against the clean images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustnessRow {
    /// The corruption label.
    pub corruption: String,
    /// MSE per pixel of the reconstruction against the clean image.
    pub mse: f64,
    /// Mean per-image PSNR against the clean image, in dB.
    pub psnr: f64,
    /// Mean per-image SSIM against the clean image.
    pub ssim: f64,
}

fn read_back<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, CsvaeError> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| CsvaeError::TensorData {
            message: format!("{e:?}"),
        })
}

/// Reconstructs every image of `set` after each corruption, with the input multiplied by
/// `input_gain` (1 for none), and scores against the clean images. Corruption noise comes from
/// `seed`, so every network gets the same noisy inputs.
///
/// # Errors
/// Errors of the data set and of the network.
pub fn robustness(
    model: &Cvae,
    set: &ImageSet,
    corruptions: &[Corruption],
    input_gain: f32,
    seed: u64,
    device: &Device,
) -> Result<Vec<RobustnessRow>, CsvaeError> {
    let indices: Vec<usize> = (0..set.len()).collect();
    let images = set.batch_values(&indices)?;
    let (height, width) = (set.height(), set.width());
    let plane = height * width;
    let count = images.len() / plane;
    let mut rows = Vec::with_capacity(corruptions.len());
    for (index, corruption) in corruptions.iter().enumerate() {
        let corrupted: Vec<f32> = corruption
            .apply(&images, height, width, seed.wrapping_add(index as u64))
            .into_iter()
            .map(|v| (v * input_gain).clamp(0.0, 1.0))
            .collect();
        let (mut error, mut psnr, mut similarity) = (0.0, 0.0, 0.0);
        for start in (0..count).step_by(250) {
            let end = (start + 250).min(count);
            let input = Tensor::<4>::from_data(
                TensorData::new(
                    corrupted[start * plane..end * plane].to_vec(),
                    [end - start, 1, height, width],
                ),
                device,
            );
            let output = read_back(model.forward(input, None)?.images())?;
            for (clean, recon) in images[start * plane..end * plane]
                .chunks(plane)
                .zip(output.chunks(plane))
            {
                let e = mse(clean, recon);
                error += e;
                psnr += psnr_from_mse(e);
                similarity += ssim(clean, recon, height, width);
            }
        }
        let n = count as f64;
        rows.push(RobustnessRow {
            corruption: corruption.label(),
            mse: error / n,
            psnr: psnr / n,
            ssim: similarity / n,
        });
    }
    Ok(rows)
}

/// Returns the posterior means (z = mu) of every image of `set`, row-major `[len, latent]`, with
/// the input multiplied by `input_gain` and clipped to [0, 1] (1 for none).
///
/// # Errors
/// Errors of the network or the data.
pub fn latent_codes(
    model: &Cvae,
    set: &ImageSet,
    input_gain: f32,
    device: &Device,
) -> Result<Vec<f32>, CsvaeError> {
    let mut codes = Vec::with_capacity(set.len() * model.latent_dim());
    for indices in set.batch_indices(500, None)? {
        let mut input = set.batch(&indices, device)?;
        if input_gain != 1.0 {
            input = input.mul_scalar(input_gain).clamp(0.0, 1.0);
        }
        let posterior = model.encode(input)?;
        codes.extend(read_back(posterior.mu)?);
    }
    Ok(codes)
}

/// Accuracy of two classifiers trained on latent codes of a training set and tested on those of
/// a test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatentAccuracy {
    /// Nearest class centroid (Euclidean), fraction correct.
    pub nearest_centroid: f64,
    /// Multinomial logistic regression on standardised codes, fraction correct.
    pub logistic_regression: f64,
}

/// Standardises codes with the training set's per-dimension mean and standard deviation.
fn standardise(train: &[f32], test: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let n = train.len() / dim;
    let mut mean = vec![0.0f64; dim];
    let mut var = vec![0.0f64; dim];
    for row in train.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v) / n as f64;
        }
    }
    for row in train.chunks(dim) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(v) - m).powi(2) / n as f64;
        }
    }
    let scale = |data: &[f32]| -> Vec<f64> {
        data.chunks(dim)
            .flat_map(|row| {
                row.iter()
                    .zip(&mean)
                    .zip(&var)
                    .map(|((&v, m), s)| (f64::from(v) - m) / s.sqrt().max(1e-8))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    (scale(train), scale(test))
}

/// Trains a nearest-centroid classifier and a multinomial logistic regression (full-batch
/// gradient descent, 300 iterations, step 0.5, L2 1e-4, on standardised codes) on
/// `train_codes`/`train_labels` and returns their test accuracies. Deterministic: no random
/// initialisation (weights start at 0).
///
/// # Panics
/// Panics when a code buffer is not a multiple of `dim` or labels and codes disagree in count
/// (programming errors).
pub fn latent_accuracy(
    train_codes: &[f32],
    train_labels: &[u8],
    test_codes: &[f32],
    test_labels: &[u8],
    dim: usize,
) -> LatentAccuracy {
    assert_eq!(
        train_codes.len(),
        train_labels.len() * dim,
        "train codes and labels differ"
    );
    assert_eq!(
        test_codes.len(),
        test_labels.len() * dim,
        "test codes and labels differ"
    );
    const CLASSES: usize = 10;
    let (train, test) = standardise(train_codes, test_codes, dim);

    // Nearest centroid.
    let mut centroids = vec![0.0f64; CLASSES * dim];
    let mut counts = [0usize; CLASSES];
    for (row, &label) in train.chunks(dim).zip(train_labels) {
        let c = usize::from(label) % CLASSES;
        counts[c] += 1;
        for (acc, v) in centroids[c * dim..(c + 1) * dim].iter_mut().zip(row) {
            *acc += v;
        }
    }
    for (c, count) in counts.iter().enumerate() {
        for v in &mut centroids[c * dim..(c + 1) * dim] {
            *v /= (*count).max(1) as f64;
        }
    }
    let nearest = test
        .chunks(dim)
        .zip(test_labels)
        .filter(|(row, label)| {
            let best = (0..CLASSES).filter(|&c| counts[c] > 0).min_by(|&a, &b| {
                let d = |c: usize| -> f64 {
                    row.iter()
                        .zip(&centroids[c * dim..(c + 1) * dim])
                        .map(|(x, m)| (x - m).powi(2))
                        .sum()
                };
                d(a).total_cmp(&d(b))
            });
            best == Some(usize::from(**label))
        })
        .count();

    // Multinomial logistic regression by full-batch gradient descent.
    let n = train_labels.len() as f64;
    let mut weights = vec![0.0f64; CLASSES * (dim + 1)];
    let logits = |weights: &[f64], row: &[f64]| -> [f64; CLASSES] {
        let mut out = [0.0; CLASSES];
        for (c, o) in out.iter_mut().enumerate() {
            let w = &weights[c * (dim + 1)..(c + 1) * (dim + 1)];
            *o = w[dim] + row.iter().zip(w).map(|(x, w)| x * w).sum::<f64>();
        }
        out
    };
    for _ in 0..300 {
        let mut gradient = vec![0.0f64; weights.len()];
        for (row, &label) in train.chunks(dim).zip(train_labels) {
            let z = logits(&weights, row);
            let max = z.iter().cloned().fold(f64::MIN, f64::max);
            let exp: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
            let total: f64 = exp.iter().sum();
            for c in 0..CLASSES {
                let error = exp[c] / total - if usize::from(label) == c { 1.0 } else { 0.0 };
                let g = &mut gradient[c * (dim + 1)..(c + 1) * (dim + 1)];
                for (gi, x) in g.iter_mut().zip(row) {
                    *gi += error * x / n;
                }
                g[dim] += error / n;
            }
        }
        for (w, g) in weights.iter_mut().zip(&gradient) {
            *w -= 0.5 * (g + 1e-4 * *w);
        }
    }
    let logistic = test
        .chunks(dim)
        .zip(test_labels)
        .filter(|(row, label)| {
            let z = logits(&weights, row);
            let best = (0..CLASSES).max_by(|&a, &b| z[a].total_cmp(&z[b]));
            best == Some(usize::from(**label))
        })
        .count();
    let total = test_labels.len().max(1) as f64;
    LatentAccuracy {
        nearest_centroid: nearest as f64 / total,
        logistic_regression: logistic as f64 / total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_codes_are_classified() {
        // Class c sits at 3c on axis 0 with small offsets on axis 1.
        let mut train = Vec::new();
        let mut train_labels = Vec::new();
        for c in 0..10u8 {
            for k in 0..5 {
                train.extend([3.0 * f32::from(c), 0.1 * k as f32]);
                train_labels.push(c);
            }
        }
        let test: Vec<f32> = (0..10).flat_map(|c| [3.0 * c as f32 + 0.2, 0.05]).collect();
        let test_labels: Vec<u8> = (0..10).collect();
        let accuracy = latent_accuracy(&train, &train_labels, &test, &test_labels, 2);
        assert_eq!(accuracy.nearest_centroid, 1.0);
        assert!(accuracy.logistic_regression >= 0.8, "{accuracy:?}");
    }

    #[test]
    fn box_blur_hand_values() {
        // A 3x3 image with a single 9 in the middle: every window contains it once.
        let image = [0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0];
        let out = box_blur(&image, 3, 3);
        assert!((out[4] - 1.0).abs() < 1e-6); // 9 / 9 neighbours
        assert!((out[0] - 9.0 / 4.0).abs() < 1e-6); // corner averages 4 pixels
        assert!((out[1] - 9.0 / 6.0).abs() < 1e-6); // edge averages 6 pixels
    }

    #[test]
    fn corruptions_are_seeded_and_bounded() {
        let image = vec![0.5f32; 28 * 28];
        let a = Corruption::Gaussian { sigma: 0.3 }.apply(&image, 28, 28, 4);
        let b = Corruption::Gaussian { sigma: 0.3 }.apply(&image, 28, 28, 4);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        let noise_mse = mse(&image, &a);
        // About 0.3^2 = 0.09, less what clipping at 0 and 1 removes.
        assert!(noise_mse > 0.05, "{noise_mse}");
        assert!(noise_mse < 0.1, "{noise_mse}");
        let sp = Corruption::SaltAndPepper { fraction: 0.1 }.apply(&image, 28, 28, 1);
        let changed = sp.iter().filter(|&&v| v != 0.5).count();
        assert!((40..120).contains(&changed), "{changed}"); // about 78 of 784
        assert_eq!(Corruption::Clean.apply(&image, 28, 28, 0), image);
    }
}

//! The VAE objective: binary cross-entropy plus beta-weighted KL divergence.
//!
//! ```text
//! BCE(x, l) = sum_pixels [ max(l, 0) - l * x + ln(1 + exp(-|l|)) ]      (l: logits, x in [0, 1])
//! KL(mu, s) = -1/2 * sum_latent [ 1 + s - mu^2 - exp(s) ]                (s: log-variance)
//! loss      = mean_batch [ BCE + beta * KL ]
//! ```
//!
//! The logit form of BCE equals `-[x ln sigmoid(l) + (1 - x) ln(1 - sigmoid(l))]` and stays
//! finite for saturated outputs, where the probability form would take ln(0).

use burn::tensor::Tensor;

use crate::model::Posterior;

/// The loss and its two terms, each averaged over the batch, as one-element tensors (kept on
/// the device so that `loss` can be back-propagated).
#[derive(Debug, Clone)]
pub struct LossParts {
    /// BCE + beta * KL, mean over the batch.
    pub loss: Tensor<1>,
    /// Reconstruction term: BCE summed over pixels, mean over the batch.
    pub bce: Tensor<1>,
    /// KL divergence to N(0, I), summed over the latent code, mean over the batch.
    pub kl: Tensor<1>,
}

/// Returns the per-image BCE between target images and decoder logits, summed over pixels.
///
/// # Shapes
/// `logits`, `targets`: `[batch, channels, height, width]`; returns `[batch]`.
pub fn bce_with_logits_per_image(logits: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
    let per_pixel =
        logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p();
    per_pixel.flatten::<2>(1, 3).sum_dim(1).squeeze_dim::<1>(1)
}

/// Returns the per-image KL divergence of N(mu, exp(logvar)) from N(0, I).
///
/// # Shapes
/// `mu`, `logvar`: `[batch, latent_dim]`; returns `[batch]`.
pub fn kl_per_image(posterior: &Posterior) -> Tensor<1> {
    let mu = posterior.mu.clone();
    let logvar = posterior.logvar.clone();
    let terms = logvar.clone().add_scalar(1.0) - mu.powi_scalar(2) - logvar.exp();
    terms.sum_dim(1).squeeze_dim::<1>(1).mul_scalar(-0.5)
}

/// Computes the VAE loss for one batch.
pub fn vae_loss(
    logits: Tensor<4>,
    targets: Tensor<4>,
    posterior: &Posterior,
    beta: f64,
) -> LossParts {
    let bce = bce_with_logits_per_image(logits, targets).mean();
    let kl = kl_per_image(posterior).mean();
    let loss = bce.clone() + kl.clone().mul_scalar(beta);
    LossParts { loss, bce, kl }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_scalar::<f32>())
    }

    #[test]
    fn loss_matches_hand_computation() {
        let device = Device::flex();
        // One image of 2x2 pixels (as [1, 1, 2, 2]) with logits 0, ln 3, -ln 3, 20 and targets
        // 0.5, 1, 0, 1.
        let ln3 = 3f32.ln();
        let logits = Tensor::from_data(
            TensorData::new(vec![0.0, ln3, -ln3, 20.0], [1, 1, 2, 2]),
            &device,
        );
        let targets = Tensor::from_data(
            TensorData::new(vec![0.5f32, 1.0, 0.0, 1.0], [1, 1, 2, 2]),
            &device,
        );
        // sigmoid(0) = 1/2: BCE = ln 2. sigmoid(ln 3) = 3/4 with target 1: -ln(3/4).
        // sigmoid(-ln 3) = 1/4 with target 0: -ln(3/4). sigmoid(20) with target 1: ln(1 + e^-20).
        let expected_bce = 2f64.ln() - 2.0 * (0.75f64).ln() + (-20f64).exp().ln_1p();

        // Latent of size 2: mu = (1, 0), logvar = (0, ln 2).
        // KL = -1/2 [(1 + 0 - 1 - 1) + (1 + ln 2 - 0 - 2)] = -1/2 (ln 2 - 2) = 1 - ln(2) / 2.
        let posterior = Posterior {
            mu: Tensor::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device),
            logvar: Tensor::from_data(TensorData::new(vec![0.0f32, 2f32.ln()], [1, 2]), &device),
        };
        let expected_kl = 1.0 - 2f64.ln() / 2.0;

        let parts = vae_loss(logits, targets, &posterior, 2.0);
        assert!((scalar(parts.bce) - expected_bce).abs() < 1e-5);
        assert!((scalar(parts.kl) - expected_kl).abs() < 1e-6);
        assert!((scalar(parts.loss) - (expected_bce + 2.0 * expected_kl)).abs() < 1e-5);
    }

    #[test]
    fn loss_is_mean_over_batch() {
        let device = Device::flex();
        // Two images: all-zero logits against targets 0 and 1 give ln 2 per pixel either way.
        let logits = Tensor::<4>::zeros([2, 1, 3, 3], &device);
        let targets = Tensor::from_data(
            TensorData::new([vec![0.0f32; 9], vec![1.0f32; 9]].concat(), [2, 1, 3, 3]),
            &device,
        );
        let per_image = bce_with_logits_per_image(logits.clone(), targets.clone());
        let values = per_image.into_data().try_into_vec::<f32>().expect("f32");
        for v in values {
            assert!((f64::from(v) - 9.0 * 2f64.ln()).abs() < 1e-5);
        }
        let posterior = Posterior {
            mu: Tensor::zeros([2, 4], &device),
            logvar: Tensor::zeros([2, 4], &device),
        };
        let parts = vae_loss(logits, targets, &posterior, 1.0);
        assert!(scalar(parts.kl).abs() < 1e-7, "KL of the prior itself is 0");
        assert!((scalar(parts.bce) - 9.0 * 2f64.ln()).abs() < 1e-5);
    }
}

//! Reconstruction metrics on host buffers: MSE, PSNR and SSIM.
//!
//! All images are row-major `f32` buffers with values in [0, 1] (peak signal 1).

/// Floor of a per-image MSE before taking the logarithm, so that a perfect reconstruction gives
/// a finite PSNR of 100 dB.
pub const MIN_MSE: f64 = 1e-10;

/// Side of the SSIM Gaussian window (Wang et al. 2004).
pub const SSIM_WINDOW: usize = 11;
/// Standard deviation of the SSIM Gaussian window, in pixels.
pub const SSIM_SIGMA: f64 = 1.5;
/// SSIM constant K1; C1 = (K1 * L)^2 with L = 1.
pub const SSIM_K1: f64 = 0.01;
/// SSIM constant K2; C2 = (K2 * L)^2 with L = 1.
pub const SSIM_K2: f64 = 0.03;

/// Mean squared error per pixel between two images of the same length.
///
/// # Panics
/// Panics when the lengths differ or are zero (a programming error, not a data error).
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "mse of buffers of different lengths");
    assert!(!a.is_empty(), "mse of empty buffers");
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum();
    sum / a.len() as f64
}

/// Peak signal-to-noise ratio in dB for peak 1: `10 log10(1 / max(mse, MIN_MSE))`.
pub fn psnr_from_mse(mse: f64) -> f64 {
    -10.0 * mse.max(MIN_MSE).log10()
}

/// Normalised 1-D Gaussian of `size` taps with standard deviation `sigma`.
fn gaussian_taps(size: usize, sigma: f64) -> Vec<f64> {
    let center = (size as f64 - 1.0) / 2.0;
    let taps: Vec<f64> = (0..size)
        .map(|i| (-((i as f64 - center).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    taps.into_iter().map(|t| t / total).collect()
}

/// Filters an image with a separable window, keeping only positions where the window fits
/// ("valid" filtering). Returns `(values, out_height, out_width)`.
fn filter_valid(
    image: &[f64],
    height: usize,
    width: usize,
    taps: &[f64],
) -> (Vec<f64>, usize, usize) {
    let k = taps.len();
    let (out_h, out_w) = (height + 1 - k, width + 1 - k);
    let mut rows = vec![0.0; height * out_w];
    for y in 0..height {
        for x in 0..out_w {
            rows[y * out_w + x] = (0..k).map(|i| taps[i] * image[y * width + x + i]).sum();
        }
    }
    let mut out = vec![0.0; out_h * out_w];
    for y in 0..out_h {
        for x in 0..out_w {
            out[y * out_w + x] = (0..k).map(|i| taps[i] * rows[(y + i) * out_w + x]).sum();
        }
    }
    (out, out_h, out_w)
}

/// Structural similarity of two single-channel images (Wang, Bovik, Sheikh, Simoncelli 2004):
/// the mean over all window positions of
///
/// ```text
/// SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))
/// ```
///
/// with local statistics from an 11x11 Gaussian window (sigma 1.5) applied where it fits inside
/// the image, as in the authors' reference code. Images smaller than 11 pixels use the largest
/// odd window that fits.
///
/// # Panics
/// Panics when a buffer does not hold `height * width` values or either side is zero.
pub fn ssim(a: &[f32], b: &[f32], height: usize, width: usize) -> f64 {
    assert!(height > 0, "ssim of an empty image");
    assert!(width > 0, "ssim of an empty image");
    assert_eq!(
        a.len(),
        height * width,
        "ssim: first image has the wrong size"
    );
    assert_eq!(
        b.len(),
        height * width,
        "ssim: second image has the wrong size"
    );
    let mut size = SSIM_WINDOW.min(height).min(width);
    if size.is_multiple_of(2) {
        size -= 1;
    }
    let taps = gaussian_taps(size, SSIM_SIGMA);
    let x: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    let product = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(u, v)| u * v).collect::<Vec<f64>>();

    let (mu_x, out_h, out_w) = filter_valid(&x, height, width, &taps);
    let (mu_y, ..) = filter_valid(&y, height, width, &taps);
    let (xx, ..) = filter_valid(&product(&x, &x), height, width, &taps);
    let (yy, ..) = filter_valid(&product(&y, &y), height, width, &taps);
    let (xy, ..) = filter_valid(&product(&x, &y), height, width, &taps);

    let c1 = SSIM_K1 * SSIM_K1;
    let c2 = SSIM_K2 * SSIM_K2;
    let count = out_h * out_w;
    let total: f64 = (0..count)
        .map(|i| {
            let (mx, my) = (mu_x[i], mu_y[i]);
            let var_x = xx[i] - mx * mx;
            let var_y = yy[i] - my * my;
            let cov = xy[i] - mx * my;
            ((2.0 * mx * my + c1) * (2.0 * cov + c2))
                / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
        })
        .sum();
    total / count as f64
}

/// SSIM of multi-channel images (`channels * height * width` values, channel-major): the mean
/// of the per-channel SSIM.
pub fn ssim_channels(a: &[f32], b: &[f32], channels: usize, height: usize, width: usize) -> f64 {
    let plane = height * width;
    (0..channels)
        .map(|c| {
            ssim(
                &a[c * plane..(c + 1) * plane],
                &b[c * plane..(c + 1) * plane],
                height,
                width,
            )
        })
        .sum::<f64>()
        / channels as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_mse() {
        assert!((psnr_from_mse(0.01) - 20.0).abs() < 1e-12);
        assert!((psnr_from_mse(1e-3) - 30.0).abs() < 1e-12);
        assert!(
            (psnr_from_mse(0.0) - 100.0).abs() < 1e-12,
            "perfect match is capped"
        );
    }

    #[test]
    fn mse_hand_value() {
        // Differences 0.5, 0, -0.25, 0.25: squares sum to 0.375, mean 0.09375.
        let a = [0.5f32, 0.0, 0.0, 1.0];
        let b = [0.0f32, 0.0, 0.25, 0.75];
        assert!((mse(&a, &b) - 0.09375).abs() < 1e-12);
    }

    #[test]
    fn ssim_of_image_with_itself_is_one() {
        let image: Vec<f32> = (0..28 * 28)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        assert!((ssim(&image, &image, 28, 28) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ssim_of_constant_images_hand_value() {
        // Constant images a and b: zero variances, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
        let (a, b) = (0.2f32, 0.6f32);
        let expected = (2.0 * 0.2 * 0.6 + 1e-4) / (0.04 + 0.36 + 1e-4);
        let value = ssim(&vec![a; 16 * 16], &vec![b; 16 * 16], 16, 16);
        assert!((value - expected).abs() < 1e-6, "{value} vs {expected}");
    }

    #[test]
    fn ssim_falls_with_noise() {
        let image: Vec<f32> = (0..28 * 28)
            .map(|i| if (i / 28 + i % 28) % 7 < 3 { 1.0 } else { 0.0 })
            .collect();
        let noisy: Vec<f32> = image
            .iter()
            .enumerate()
            .map(|(i, &v)| (v + if i % 3 == 0 { 0.3 } else { -0.3 }).clamp(0.0, 1.0))
            .collect();
        let value = ssim(&image, &noisy, 28, 28);
        assert!(value < 0.9, "{value}");
        assert!(value > 0.0, "{value}");
    }

    #[test]
    fn gaussian_taps_sum_to_one() {
        let taps = gaussian_taps(11, 1.5);
        assert!((taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((taps[5] - taps.iter().cloned().fold(0.0, f64::max)).abs() < 1e-15);
    }
}

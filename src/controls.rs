//! Control conditions for the sleep report: a small sleep effect counts only where it beats an
//! input gain and a random weight change of the same size.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_spiking::{CsvaeLayers, SpikingConv2d, SpikingConvTranspose2d, SpikingLinear};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::CsvaeError;

fn host<const D: usize>(tensor: &Tensor<D>) -> Result<Vec<f32>, CsvaeError> {
    tensor
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| CsvaeError::TensorData {
            message: format!("{e:?}"),
        })
}

fn norm(values: impl Iterator<Item = f64>) -> f64 {
    values.map(|v| v * v).sum::<f64>().sqrt()
}

/// Returns `before + R`, where `R` is Gaussian noise scaled so that `||R|| = ||after - before||`
/// (Frobenius norm), and the norm of that change.
fn matched_noise<const D: usize>(
    before: &Tensor<D>,
    after: &Tensor<D>,
    rng: &mut StdRng,
    device: &Device,
) -> Result<(Tensor<D>, f64), CsvaeError> {
    let (b, a) = (host(before)?, host(after)?);
    let change = norm(b.iter().zip(&a).map(|(x, y)| f64::from(y - x)));
    let noise: Vec<f64> = (0..b.len()).map(|_| StandardNormal.sample(rng)).collect();
    let noise_norm = norm(noise.iter().copied()).max(f64::MIN_POSITIVE);
    let values: Vec<f32> = b
        .iter()
        .zip(&noise)
        .map(|(&w, n)| (f64::from(w) + n * change / noise_norm) as f32)
        .collect();
    Ok((
        Tensor::from_data(TensorData::new(values, before.dims()), device),
        change,
    ))
}

/// Builds the random-change control: every layer of `before` moves by Gaussian noise whose
/// Frobenius norm equals that layer's change between `before` and `after`. Biases stay.
/// Returns the layers and the per-layer change norms.
///
/// # Errors
/// [`CsvaeError::TensorData`] and layer construction errors.
pub fn random_matched_change(
    before: &CsvaeLayers,
    after: &CsvaeLayers,
    seed: u64,
    device: &Device,
) -> Result<(CsvaeLayers, Vec<(String, f64)>), CsvaeError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut norms = Vec::new();
    let mut conv = |b: &SpikingConv2d, a: &SpikingConv2d| -> Result<SpikingConv2d, CsvaeError> {
        let (weight, change) = matched_noise(b.weight(), a.weight(), &mut rng, device)?;
        norms.push((b.name().to_string(), change));
        Ok(SpikingConv2d::new(
            b.name(),
            weight,
            b.bias().clone(),
            b.stride(),
            b.padding(),
        )?)
    };
    let conv0 = conv(&before.conv0, &after.conv0)?;
    let conv1 = conv(&before.conv1, &after.conv1)?;
    let conv2 = conv(&before.conv2, &after.conv2)?;
    let conv3 = conv(&before.conv3, &after.conv3)?;
    let mut linear = |b: &SpikingLinear, a: &SpikingLinear| -> Result<SpikingLinear, CsvaeError> {
        let (weight, change) = matched_noise(b.weight(), a.weight(), &mut rng, device)?;
        norms.push((b.name().to_string(), change));
        Ok(SpikingLinear::new(b.name(), weight, b.bias().clone())?)
    };
    let fc21 = linear(&before.fc21, &after.fc21)?;
    let fc22 = linear(&before.fc22, &after.fc22)?;
    let fc3 = linear(&before.fc3, &after.fc3)?;
    let mut deconv = |b: &SpikingConvTranspose2d,
                      a: &SpikingConvTranspose2d|
     -> Result<SpikingConvTranspose2d, CsvaeError> {
        let (weight, change) = matched_noise(b.weight(), a.weight(), &mut rng, device)?;
        norms.push((b.name().to_string(), change));
        Ok(SpikingConvTranspose2d::new(
            b.name(),
            weight,
            b.bias().clone(),
            b.stride(),
            b.padding(),
        )?)
    };
    let layers = CsvaeLayers {
        conv0,
        conv1,
        conv2,
        conv3,
        fc21,
        fc22,
        fc3,
        deconv1: deconv(&before.deconv1, &after.deconv1)?,
        deconv2: deconv(&before.deconv2, &after.deconv2)?,
        deconv3: deconv(&before.deconv3, &after.deconv3)?,
        deconv4: deconv(&before.deconv4, &after.deconv4)?,
    };
    Ok((layers, norms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use csvae_spiking::CsvaeArchitecture;

    #[test]
    fn matched_change_has_same_norm() {
        let device = Device::flex();
        let architecture = CsvaeArchitecture {
            input_channels: 1,
            channels: [4, 4, 8, 8],
            latent_size: 4,
            image_size: [28, 28],
        };
        let before = CsvaeLayers::random(&architecture, 1.0, 1, &device).expect("layers");
        let after = CsvaeLayers::random(&architecture, 1.0, 2, &device).expect("layers");
        let (control, norms) = random_matched_change(&before, &after, 3, &device).expect("control");
        let b = host(before.conv1.weight()).expect("host");
        let a = host(after.conv1.weight()).expect("host");
        let c = host(control.conv1.weight()).expect("host");
        let sleep_change = norm(b.iter().zip(&a).map(|(x, y)| f64::from(y - x)));
        let control_change = norm(b.iter().zip(&c).map(|(x, y)| f64::from(y - x)));
        assert!((sleep_change - control_change).abs() < 1e-4 * sleep_change);
        assert_eq!(norms.len(), 11);
        assert_eq!(norms[1].0, "conv1");
        // Biases are untouched.
        assert_eq!(
            host(control.fc3.bias()).expect("host"),
            host(before.fc3.bias()).expect("host")
        );
    }
}

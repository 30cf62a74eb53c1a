//! The CSVAE network: its architecture, its named layers and their validation.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::{NeuronThresholds, ReadoutScales};
use crate::error::SpikingError;
use crate::layers::{SpikingConv2d, SpikingConvTranspose2d, SpikingLinear};

/// Kernel size, stride and padding of a square convolution or transposed convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvGeometry {
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride along both axes.
    pub stride: usize,
    /// Padding along both axes.
    pub padding: usize,
}

impl ConvGeometry {
    const fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Self {
            kernel,
            stride,
            padding,
        }
    }
}

/// Geometry of conv0, conv1, conv2 and conv3 (28 -> 28 -> 16 -> 8 -> 4 for a 28x28 image).
pub const ENCODER_GEOMETRY: [ConvGeometry; 4] = [
    ConvGeometry::new(5, 1, 2),
    ConvGeometry::new(4, 2, 3),
    ConvGeometry::new(4, 2, 1),
    ConvGeometry::new(4, 2, 1),
];

/// Geometry of deconv1, deconv2, deconv3 and deconv4 (4 -> 8 -> 16 -> 28 -> 28).
pub const DECODER_GEOMETRY: [ConvGeometry; 4] = [
    ConvGeometry::new(4, 2, 1),
    ConvGeometry::new(4, 2, 1),
    ConvGeometry::new(4, 2, 3),
    ConvGeometry::new(5, 1, 2),
];

/// Sizes of a CSVAE with the VAE18 layer geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvaeArchitecture {
    /// Channels of the input images. Default: 1.
    pub input_channels: usize,
    /// Output channels `[c0, c1, c2, c3]` of conv0..conv3; the decoder mirrors them.
    /// Default: `[64, 64, 128, 256]`.
    pub channels: [usize; 4],
    /// Size of the latent code. Default: 128.
    pub latent_size: usize,
    /// Image size `[height, width]`. Default: `[28, 28]`.
    pub image_size: [usize; 2],
}

impl Default for CsvaeArchitecture {
    fn default() -> Self {
        Self::vae18()
    }
}

impl CsvaeArchitecture {
    /// Returns the VAE18 preset for 1x28x28 images: widths `[64, 64, 128, 256]`, latent 128.
    pub fn vae18() -> Self {
        Self {
            input_channels: 1,
            channels: [64, 64, 128, 256],
            latent_size: 128,
            image_size: [28, 28],
        }
    }
}

/// The synaptic layers of a CSVAE, named as in the analog CVAE.
#[derive(Debug, Clone)]
pub struct CsvaeLayers {
    /// Encoder convolution, input channels -> c0.
    pub conv0: SpikingConv2d,
    /// Encoder convolution, c0 -> c1.
    pub conv1: SpikingConv2d,
    /// Encoder convolution, c1 -> c2.
    pub conv2: SpikingConv2d,
    /// Encoder convolution, c2 -> c3.
    pub conv3: SpikingConv2d,
    /// Readout of `mu` from the flattened conv3 spikes.
    pub fc21: SpikingLinear,
    /// Readout of `logvar` from the flattened conv3 spikes.
    pub fc22: SpikingLinear,
    /// Decoder input, latent -> c3 * h3 * w3, driven by `z` as a constant current.
    pub fc3: SpikingLinear,
    /// Decoder transposed convolution, c3 -> c2.
    pub deconv1: SpikingConvTranspose2d,
    /// Decoder transposed convolution, c2 -> c1.
    pub deconv2: SpikingConvTranspose2d,
    /// Decoder transposed convolution, c1 -> c0.
    pub deconv3: SpikingConvTranspose2d,
    /// Image readout, c0 -> input channels.
    pub deconv4: SpikingConvTranspose2d,
}

impl CsvaeLayers {
    /// Creates layers with random weights for tests and benchmarks, drawn on the host from a
    /// seeded `StdRng` so that every backend gets the same weights.
    ///
    /// Weights are uniform in `[-a, a]` with `a = gain * sqrt(3 / fan_in)`, so their standard
    /// deviation is `gain / sqrt(fan_in)`; biases are 0. `fan_in` is `in * kernel * kernel` for
    /// a convolution, `in * kernel * kernel / stride^2` (the taps that reach one output on
    /// average) for a transposed convolution, and `in_features` for a linear layer.
    ///
    /// # Errors
    ///
    /// None for valid sizes; a zero stride in the geometry tables would return
    /// [`SpikingError::ZeroStride`].
    pub fn random(
        architecture: &CsvaeArchitecture,
        gain: f32,
        seed: u64,
        device: &Device,
    ) -> Result<Self, SpikingError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let [c0, c1, c2, c3] = architecture.channels;
        let input_channels = architecture.input_channels;
        let latent = architecture.latent_size;
        let flat = c3
            * encoder_sizes(architecture.image_size)[3]
                .iter()
                .product::<usize>();

        let mut conv = |name: &str, index: usize, input: usize, output: usize| {
            let geometry = ENCODER_GEOMETRY[index];
            let k = geometry.kernel;
            let fan_in = (input * k * k) as f32;
            let weight = uniform(&mut rng, [output, input, k, k], gain, fan_in, device);
            let bias = Tensor::zeros([output], device);
            let stride = [geometry.stride; 2];
            let padding = [geometry.padding; 2];
            SpikingConv2d::new(name, weight, bias, stride, padding)
        };
        let conv0 = conv("conv0", 0, input_channels, c0)?;
        let conv1 = conv("conv1", 1, c0, c1)?;
        let conv2 = conv("conv2", 2, c1, c2)?;
        let conv3 = conv("conv3", 3, c2, c3)?;

        let mut dense = |name: &str, input: usize, output: usize| {
            let weight = uniform(&mut rng, [input, output], gain, input as f32, device);
            SpikingLinear::new(name, weight, Tensor::zeros([output], device))
        };
        let fc21 = dense("fc21", flat, latent)?;
        let fc22 = dense("fc22", flat, latent)?;
        let fc3 = dense("fc3", latent, flat)?;

        let mut deconv = |name: &str, index: usize, input: usize, output: usize| {
            let geometry = DECODER_GEOMETRY[index];
            let k = geometry.kernel;
            let fan_in = (input * k * k) as f32 / (geometry.stride * geometry.stride) as f32;
            let weight = uniform(&mut rng, [input, output, k, k], gain, fan_in, device);
            let bias = Tensor::zeros([output], device);
            let stride = [geometry.stride; 2];
            let padding = [geometry.padding; 2];
            SpikingConvTranspose2d::new(name, weight, bias, stride, padding)
        };
        let deconv1 = deconv("deconv1", 0, c3, c2)?;
        let deconv2 = deconv("deconv2", 1, c2, c1)?;
        let deconv3 = deconv("deconv3", 2, c1, c0)?;
        let deconv4 = deconv("deconv4", 3, c0, input_channels)?;

        Ok(Self {
            conv0,
            conv1,
            conv2,
            conv3,
            fc21,
            fc22,
            fc3,
            deconv1,
            deconv2,
            deconv3,
            deconv4,
        })
    }

    /// Returns the encoder convolutions conv0..conv3 in order.
    pub fn encoder_convolutions(&self) -> [&SpikingConv2d; 4] {
        [&self.conv0, &self.conv1, &self.conv2, &self.conv3]
    }

    /// Returns the decoder transposed convolutions deconv1..deconv4 in order.
    pub fn decoder_convolutions(&self) -> [&SpikingConvTranspose2d; 4] {
        [&self.deconv1, &self.deconv2, &self.deconv3, &self.deconv4]
    }
}

fn uniform<const D: usize>(
    rng: &mut StdRng,
    shape: [usize; D],
    gain: f32,
    fan_in: f32,
    device: &Device,
) -> Tensor<D> {
    let bound = gain * (3.0 / fan_in.max(1.0)).sqrt();
    let length = shape.iter().product();
    let values: Vec<f32> = (0..length)
        .map(|_| rng.random_range(-1.0f32..1.0) * bound)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Returns the output sizes of conv0..conv3 for an image size, with the VAE18 geometry.
fn encoder_sizes(image_size: [usize; 2]) -> [[usize; 2]; 4] {
    let mut sizes = [[0; 2]; 4];
    let mut size = image_size;
    for (output, geometry) in sizes.iter_mut().zip(ENCODER_GEOMETRY) {
        size = size.map(|n| {
            (n + 2 * geometry.padding).saturating_sub(geometry.kernel) / geometry.stride + 1
        });
        *output = size;
    }
    sizes
}

/// A convolutional spiking VAE of IF neurons: validated layers, thresholds and readout scales.
///
/// Build it with [`Csvae::new`], then simulate it with [`Csvae::run`], [`Csvae::encode`] or
/// [`Csvae::decode`] (see the crate docs for the dynamics).
#[derive(Debug, Clone)]
pub struct Csvae {
    pub(crate) layers: CsvaeLayers,
    pub(crate) thresholds: NeuronThresholds,
    pub(crate) readout_scales: ReadoutScales,
    /// `[channels, height, width]` of the input images.
    pub(crate) image_shape: [usize; 3],
    /// `[channels, height, width]` of the outputs of conv0..conv3.
    pub(crate) encoder_shapes: [[usize; 3]; 4],
    /// `[channels, height, width]` of the outputs of deconv1..deconv4.
    pub(crate) decoder_shapes: [[usize; 3]; 4],
}

impl Csvae {
    /// Builds the network for images of size `[height, width]`, with every threshold and
    /// readout scale at 1.
    ///
    /// # Errors
    ///
    /// [`SpikingError::WeightShape`] naming the first layer whose weight does not fit its
    /// neighbours (channels, flattened size, latent size or image size), and
    /// [`SpikingError::Geometry`] when an image of this size gives an empty feature map.
    pub fn new(layers: CsvaeLayers, image_size: [usize; 2]) -> Result<Self, SpikingError> {
        let input_channels = layers.conv0.in_channels();
        let mut size = image_size;
        let mut channels = input_channels;
        let mut encoder_shapes = [[0; 3]; 4];
        for (shape, conv) in encoder_shapes.iter_mut().zip(layers.encoder_convolutions()) {
            check_channels(conv.name(), conv.weight().dims(), 1, channels)?;
            size = conv.output_size(size)?;
            channels = conv.out_channels();
            *shape = [channels, size[0], size[1]];
        }

        let flat = encoder_shapes[3].iter().product::<usize>();
        let latent = layers.fc21.out_features();
        check_linear(&layers.fc21, flat, latent)?;
        check_linear(&layers.fc22, flat, latent)?;
        check_linear(&layers.fc3, latent, flat)?;

        let mut decoder_shapes = [[0; 3]; 4];
        for (shape, deconv) in decoder_shapes.iter_mut().zip(layers.decoder_convolutions()) {
            check_channels(deconv.name(), deconv.weight().dims(), 0, channels)?;
            size = deconv.output_size(size)?;
            channels = deconv.out_channels();
            *shape = [channels, size[0], size[1]];
        }
        let image_shape = [input_channels, image_size[0], image_size[1]];
        if decoder_shapes[3] != image_shape {
            let dims = layers.deconv4.weight().dims();
            return Err(SpikingError::WeightShape {
                layer: "deconv4".to_string(),
                expected: vec![dims[0], input_channels, dims[2], dims[3]],
                actual: dims.to_vec(),
            });
        }

        Ok(Self {
            layers,
            thresholds: NeuronThresholds::default(),
            readout_scales: ReadoutScales::default(),
            image_shape,
            encoder_shapes,
            decoder_shapes,
        })
    }

    /// Replaces the firing thresholds.
    ///
    /// # Errors
    ///
    /// The errors of [`NeuronThresholds::validate`].
    pub fn with_thresholds(mut self, thresholds: NeuronThresholds) -> Result<Self, SpikingError> {
        thresholds.validate()?;
        self.thresholds = thresholds;
        Ok(self)
    }

    /// Replaces the readout scales.
    ///
    /// # Errors
    ///
    /// The errors of [`ReadoutScales::validate`].
    pub fn with_readout_scales(
        mut self,
        readout_scales: ReadoutScales,
    ) -> Result<Self, SpikingError> {
        readout_scales.validate()?;
        self.readout_scales = readout_scales;
        Ok(self)
    }

    /// Returns the layers.
    pub fn layers(&self) -> &CsvaeLayers {
        &self.layers
    }

    /// Returns the layers, consuming the network.
    pub fn into_layers(self) -> CsvaeLayers {
        self.layers
    }

    /// Returns the firing thresholds.
    pub fn thresholds(&self) -> &NeuronThresholds {
        &self.thresholds
    }

    /// Returns the readout scales.
    pub fn readout_scales(&self) -> &ReadoutScales {
        &self.readout_scales
    }

    /// Returns the input image shape `[channels, height, width]`.
    pub fn image_shape(&self) -> [usize; 3] {
        self.image_shape
    }

    /// Returns the size of the latent code.
    pub fn latent_size(&self) -> usize {
        self.layers.fc21.out_features()
    }

    /// Returns the `[channels, height, width]` of the spikes after conv0, conv1, conv2 and conv3.
    pub fn encoder_shapes(&self) -> [[usize; 3]; 4] {
        self.encoder_shapes
    }
}

/// Checks that `weight` has `channels` input channels on `axis` (1 for a convolution, 0 for a
/// transposed convolution).
fn check_channels(
    layer: &str,
    dims: [usize; 4],
    axis: usize,
    channels: usize,
) -> Result<(), SpikingError> {
    if dims[axis] != channels {
        let mut expected = dims;
        expected[axis] = channels;
        return Err(SpikingError::WeightShape {
            layer: layer.to_string(),
            expected: expected.to_vec(),
            actual: dims.to_vec(),
        });
    }
    Ok(())
}

fn check_linear(layer: &SpikingLinear, input: usize, output: usize) -> Result<(), SpikingError> {
    let dims = layer.weight().dims();
    if dims != [input, output] {
        return Err(SpikingError::WeightShape {
            layer: layer.name().to_string(),
            expected: vec![input, output],
            actual: dims.to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: CsvaeArchitecture = CsvaeArchitecture {
        input_channels: 1,
        channels: [4, 4, 8, 8],
        latent_size: 8,
        image_size: [28, 28],
    };

    #[test]
    fn encoder_sizes_match_vae18() {
        assert_eq!(
            encoder_sizes([28, 28]),
            [[28, 28], [16, 16], [8, 8], [4, 4]]
        );
    }

    #[test]
    fn new_derives_shapes() {
        let device = Device::flex();
        let layers = CsvaeLayers::random(&SMALL, 1.0, 0, &device).expect("valid sizes");
        let csvae = Csvae::new(layers, [28, 28]).expect("consistent layers");
        assert_eq!(
            csvae.encoder_shapes(),
            [[4, 28, 28], [4, 16, 16], [8, 8, 8], [8, 4, 4]]
        );
        assert_eq!(
            csvae.decoder_shapes,
            [[8, 8, 8], [4, 16, 16], [4, 28, 28], [1, 28, 28]]
        );
        assert_eq!(csvae.latent_size(), 8);
    }

    #[test]
    fn new_rejects_mismatched_channels() {
        let device = Device::flex();
        let mut layers = CsvaeLayers::random(&SMALL, 1.0, 0, &device).expect("valid sizes");
        let other = CsvaeArchitecture {
            channels: [4, 4, 16, 8],
            ..SMALL
        };
        layers.conv3 = CsvaeLayers::random(&other, 1.0, 0, &device)
            .expect("valid sizes")
            .conv3;
        let error = Csvae::new(layers, [28, 28]).expect_err("conv3 expects 16 channels");
        assert_eq!(
            error,
            SpikingError::WeightShape {
                layer: "conv3".to_string(),
                expected: vec![8, 8, 4, 4],
                actual: vec![8, 16, 4, 4],
            }
        );
    }

    #[test]
    fn new_rejects_wrong_image_size() {
        let device = Device::flex();
        let layers = CsvaeLayers::random(&SMALL, 1.0, 0, &device).expect("valid sizes");
        // 36x36 images give a 5x5 conv3 output (36 -> 36 -> 20 -> 10 -> 5): 8 * 5 * 5 = 200 features, not 128.
        let error = Csvae::new(layers, [36, 36]).expect_err("fc21 expects 128 features");
        assert_eq!(
            error,
            SpikingError::WeightShape {
                layer: "fc21".to_string(),
                expected: vec![200, 8],
                actual: vec![128, 8],
            }
        );
    }
}

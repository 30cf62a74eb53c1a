//! The convolutional VAE: encoder, reparameterisation and decoder.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{BOTTLENECK_SIZE, CvaeConfig, IMAGE_SIZE};
use crate::error::{AnalogError, Result};

/// The analog convolutional VAE.
///
/// Field names follow the PyTorch reference model (`conv0`, `conv0_bn`, ..., `fc21`, `fc22`,
/// `fc3`, `deconv1`, `deconv1_bn`, ..., `deconv4`), so that checkpoint keys and the spiking
/// twin's layers match by name. Linear weights are stored as `[d_input, d_output]` (burn's
/// layout; PyTorch uses `[out, in]`).
#[derive(Module, Debug)]
pub struct Cvae {
    /// Conv2d c_in -> c0, kernel 5, stride 1, padding 2, no bias.
    pub conv0: Conv2d,
    /// Batch norm after conv0.
    pub conv0_bn: BatchNorm,
    /// Conv2d c0 -> c1, kernel 4, stride 2, padding 3, no bias.
    pub conv1: Conv2d,
    /// Batch norm after conv1.
    pub conv1_bn: BatchNorm,
    /// Conv2d c1 -> c2, kernel 4, stride 2, padding 1, no bias.
    pub conv2: Conv2d,
    /// Batch norm after conv2.
    pub conv2_bn: BatchNorm,
    /// Conv2d c2 -> c3, kernel 4, stride 2, padding 1, no bias.
    pub conv3: Conv2d,
    /// Batch norm after conv3.
    pub conv3_bn: BatchNorm,
    /// Linear head for the posterior mean.
    pub fc21: Linear,
    /// Linear head for the posterior log-variance.
    pub fc22: Linear,
    /// Linear map from z to the decoder's first feature maps.
    pub fc3: Linear,
    /// ConvTranspose2d c3 -> c2, kernel 4, stride 2, padding 1, no bias.
    pub deconv1: ConvTranspose2d,
    /// Batch norm after deconv1.
    pub deconv1_bn: BatchNorm,
    /// ConvTranspose2d c2 -> c1, kernel 4, stride 2, padding 1, no bias.
    pub deconv2: ConvTranspose2d,
    /// Batch norm after deconv2.
    pub deconv2_bn: BatchNorm,
    /// ConvTranspose2d c1 -> c0, kernel 4, stride 2, padding 3, no bias.
    pub deconv3: ConvTranspose2d,
    /// Batch norm after deconv3.
    pub deconv3_bn: BatchNorm,
    /// ConvTranspose2d c0 -> c_in, kernel 5, stride 1, padding 2, no bias; a sigmoid follows.
    pub deconv4: ConvTranspose2d,
    /// Output channels of conv3, kept to reshape the fc3 output.
    pub bottleneck_channels: usize,
}

/// The Gaussian posterior q(z | x) returned by the encoder.
///
/// # Shapes
/// `mu`, `logvar`: `[batch, latent_dim]`
#[derive(Debug, Clone)]
pub struct Posterior {
    /// Mean of the posterior.
    pub mu: Tensor<2>,
    /// Log-variance of the posterior.
    pub logvar: Tensor<2>,
}

impl Posterior {
    /// Draws z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) from a seeded host generator, so
    /// the same seed gives the same z on every backend.
    pub fn sample(&self, seed: u64) -> Tensor<2> {
        let eps = standard_normal(self.mu.dims(), seed, &self.mu.device());
        self.sample_with(eps)
    }

    /// Returns mu + exp(logvar / 2) * eps for a given noise tensor of the same shape.
    pub fn sample_with(&self, eps: Tensor<2>) -> Tensor<2> {
        self.mu.clone() + self.logvar.clone().mul_scalar(0.5).exp() * eps
    }
}

/// Returns a tensor of N(0, 1) samples drawn on the host from `seed`.
pub fn standard_normal<const D: usize>(dims: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let count: usize = dims.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// The post-ReLU activations of every hidden layer for one batch, with z = mu, in network order.
/// Used to calibrate the firing thresholds of the spiking twin.
#[derive(Debug, Clone)]
pub struct LayerActivations {
    /// `(layer name, activation)` pairs: conv0..conv3 as `[batch, channels, h, w]` and fc3,
    /// deconv1..deconv3 likewise (fc3 reshaped to `[batch, c3, 4, 4]`).
    pub layers: Vec<(&'static str, Tensor<4>)>,
    /// The posterior of the batch.
    pub posterior: Posterior,
    /// The decoder's pre-sigmoid output.
    pub logits: Tensor<4>,
}

/// Everything one forward pass produces.
#[derive(Debug, Clone)]
pub struct CvaeOutput {
    /// Pre-sigmoid outputs of deconv4, `[batch, c_in, 28, 28]`.
    pub logits: Tensor<4>,
    /// The encoder's posterior.
    pub posterior: Posterior,
}

impl CvaeOutput {
    /// Returns the reconstructed images, sigmoid of the logits, in (0, 1).
    pub fn images(&self) -> Tensor<4> {
        sigmoid(self.logits.clone())
    }
}

fn conv(c_in: usize, c_out: usize, k: usize, s: usize, p: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([s, s])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

fn deconv(
    c_in: usize,
    c_out: usize,
    k: usize,
    s: usize,
    p: usize,
    device: &Device,
) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([c_in, c_out], [k, k])
        .with_stride([s, s])
        .with_padding([p, p])
        .with_bias(false)
        .init(device)
}

impl CvaeConfig {
    /// Builds a freshly initialised network on `device` (PyTorch's default uniform
    /// initialisation with bound 1 / sqrt(fan_in)). Seed the device first for a reproducible
    /// initialisation: `device.seed(seed)`.
    ///
    /// # Errors
    /// [`AnalogError::InvalidConfig`] from [`CvaeConfig::validate`].
    pub fn init(&self, device: &Device) -> Result<Cvae> {
        self.validate()?;
        let [c0, c1, c2, c3] = self.channels;
        let bn = |features| {
            BatchNormConfig::new(features)
                .with_epsilon(self.bn_epsilon)
                .with_momentum(self.bn_momentum)
                .init(device)
        };
        Ok(Cvae {
            conv0: conv(self.input_channels, c0, 5, 1, 2, device),
            conv0_bn: bn(c0),
            conv1: conv(c0, c1, 4, 2, 3, device),
            conv1_bn: bn(c1),
            conv2: conv(c1, c2, 4, 2, 1, device),
            conv2_bn: bn(c2),
            conv3: conv(c2, c3, 4, 2, 1, device),
            conv3_bn: bn(c3),
            fc21: LinearConfig::new(self.flat_dim(), self.latent_dim).init(device),
            fc22: LinearConfig::new(self.flat_dim(), self.latent_dim).init(device),
            fc3: LinearConfig::new(self.latent_dim, self.flat_dim()).init(device),
            deconv1: deconv(c3, c2, 4, 2, 1, device),
            deconv1_bn: bn(c2),
            deconv2: deconv(c2, c1, 4, 2, 1, device),
            deconv2_bn: bn(c1),
            deconv3: deconv(c1, c0, 4, 2, 3, device),
            deconv3_bn: bn(c0),
            deconv4: deconv(c0, self.input_channels, 5, 1, 2, device),
            bottleneck_channels: c3,
        })
    }
}

impl Cvae {
    /// Encodes images into the Gaussian posterior.
    ///
    /// # Shapes
    /// `images`: `[batch, c_in, 28, 28]` with values in [0, 1]; returns `[batch, latent_dim]` twice.
    ///
    /// # Errors
    /// [`AnalogError::ShapeMismatch`] for another image size or channel count.
    pub fn encode(&self, images: Tensor<4>) -> Result<Posterior> {
        self.check_images(&images.dims())?;
        let h = self.encoder_features(images);
        let flat: Tensor<2> = h.flatten(1, 3);
        Ok(Posterior {
            mu: self.fc21.forward(flat.clone()),
            logvar: self.fc22.forward(flat),
        })
    }

    /// Runs conv0..conv3 with batch norm and ReLU, returning the conv3 activations
    /// `[batch, c3, 4, 4]`.
    pub fn encoder_features(&self, images: Tensor<4>) -> Tensor<4> {
        let h = relu(self.conv0_bn.forward(self.conv0.forward(images)));
        let h = relu(self.conv1_bn.forward(self.conv1.forward(h)));
        let h = relu(self.conv2_bn.forward(self.conv2.forward(h)));
        relu(self.conv3_bn.forward(self.conv3.forward(h)))
    }

    /// Decodes latent codes into pre-sigmoid logits.
    ///
    /// # Shapes
    /// `z`: `[batch, latent_dim]`; returns `[batch, c_in, 28, 28]`.
    ///
    /// # Errors
    /// [`AnalogError::ShapeMismatch`] when the latent size differs from the network's.
    pub fn decode_logits(&self, z: Tensor<2>) -> Result<Tensor<4>> {
        let [batch, latent] = z.dims();
        let expected = self.latent_dim();
        if latent != expected || batch == 0 {
            return Err(AnalogError::ShapeMismatch {
                what: "latent code z".into(),
                found: vec![batch, latent],
                expected: format!("[batch >= 1, {expected}]"),
            });
        }
        let h = relu(self.fc3.forward(z));
        let h: Tensor<4> = h.reshape([
            batch,
            self.bottleneck_channels,
            BOTTLENECK_SIZE,
            BOTTLENECK_SIZE,
        ]);
        let h = relu(self.deconv1_bn.forward(self.deconv1.forward(h)));
        let h = relu(self.deconv2_bn.forward(self.deconv2.forward(h)));
        let h = relu(self.deconv3_bn.forward(self.deconv3.forward(h)));
        Ok(self.deconv4.forward(h))
    }

    /// Decodes latent codes into images in (0, 1).
    ///
    /// # Errors
    /// As for [`Cvae::decode_logits`].
    pub fn decode(&self, z: Tensor<2>) -> Result<Tensor<4>> {
        self.decode_logits(z).map(sigmoid)
    }

    /// Encodes, samples z (with `Some(seed)`) or takes z = mu (with `None`), and decodes.
    ///
    /// # Errors
    /// As for [`Cvae::encode`].
    pub fn forward(&self, images: Tensor<4>, sample_seed: Option<u64>) -> Result<CvaeOutput> {
        let posterior = self.encode(images)?;
        let z = match sample_seed {
            Some(seed) => posterior.sample(seed),
            None => posterior.mu.clone(),
        };
        let logits = self.decode_logits(z)?;
        Ok(CvaeOutput { logits, posterior })
    }

    /// Runs the network with z = mu and keeps every ReLU layer's output.
    ///
    /// # Errors
    /// As for [`Cvae::encode`].
    pub fn layer_activations(&self, images: Tensor<4>) -> Result<LayerActivations> {
        self.check_images(&images.dims())?;
        let mut layers = Vec::with_capacity(8);
        let h = relu(self.conv0_bn.forward(self.conv0.forward(images)));
        layers.push(("conv0", h.clone()));
        let h = relu(self.conv1_bn.forward(self.conv1.forward(h)));
        layers.push(("conv1", h.clone()));
        let h = relu(self.conv2_bn.forward(self.conv2.forward(h)));
        layers.push(("conv2", h.clone()));
        let h = relu(self.conv3_bn.forward(self.conv3.forward(h)));
        layers.push(("conv3", h.clone()));
        let flat: Tensor<2> = h.flatten(1, 3);
        let posterior = Posterior {
            mu: self.fc21.forward(flat.clone()),
            logvar: self.fc22.forward(flat),
        };
        let batch = posterior.mu.dims()[0];
        let h: Tensor<4> = relu(self.fc3.forward(posterior.mu.clone())).reshape([
            batch,
            self.bottleneck_channels,
            BOTTLENECK_SIZE,
            BOTTLENECK_SIZE,
        ]);
        layers.push(("fc3", h.clone()));
        let h = relu(self.deconv1_bn.forward(self.deconv1.forward(h)));
        layers.push(("deconv1", h.clone()));
        let h = relu(self.deconv2_bn.forward(self.deconv2.forward(h)));
        layers.push(("deconv2", h.clone()));
        let h = relu(self.deconv3_bn.forward(self.deconv3.forward(h)));
        layers.push(("deconv3", h.clone()));
        let logits = self.deconv4.forward(h);
        Ok(LayerActivations {
            layers,
            posterior,
            logits,
        })
    }

    /// Size of the latent code.
    pub fn latent_dim(&self) -> usize {
        self.fc21.weight.dims()[1]
    }

    /// Number of input channels.
    pub fn input_channels(&self) -> usize {
        self.conv0.weight.dims()[1]
    }

    fn check_images(&self, dims: &[usize; 4]) -> Result<()> {
        let channels = self.input_channels();
        if dims[0] == 0 || dims[1] != channels || dims[2] != IMAGE_SIZE || dims[3] != IMAGE_SIZE {
            return Err(AnalogError::ShapeMismatch {
                what: "images".into(),
                found: dims.to_vec(),
                expected: format!("[batch >= 1, {channels}, {IMAGE_SIZE}, {IMAGE_SIZE}]"),
            });
        }
        Ok(())
    }
}

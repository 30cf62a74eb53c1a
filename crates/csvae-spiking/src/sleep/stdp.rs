//! The STDP weight update of one step, for linear, convolution and transposed convolution
//! layers, computed with tensor operations on the weights' device.
//!
//! For a synapse `w` from pre-synaptic neuron `j` to post-synaptic neuron `i`, a step in which
//! `i` learns (it fired, and won the competition when there is one) changes `w` by
//!
//! ```text
//! dw = f(w) * a_plus    if j fired within the window (pre_recent[j] = 1)
//! dw = -f(w) * a_minus  otherwise
//! ```
//!
//! A shared weight collects these changes over every pair `(i, j)` that it connects, so
//! `dW = f(W) * (a_plus * P - a_minus * D) / n`. Here `P` counts the pairs with a learning
//! post-synaptic neuron and a recent pre-synaptic spike, `D` those with a learning
//! post-synaptic neuron and no recent pre-synaptic spike, and `n` is 1
//! ([`SharedWeightUpdate::Sum`]) or the number of positions sharing the weight
//! ([`SharedWeightUpdate::Mean`]). Pairs that reach into the zero padding of a convolution, or
//! into the cropped border of a transposed convolution, are not synapses and count in neither.
//! `P` is the weight gradient of the layer for input `pre_recent` and output gradient
//! `post`, which burn computes with `conv2d_weight_backward`.

use burn::tensor::activation::sigmoid;
use burn::tensor::module::conv2d_weight_backward;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::config::{LearningRates, SharedWeightUpdate, WeightDependence};

/// The smallest and largest weight of a layer at the start of sleep, which normalise the
/// weights for [`WeightDependence::SoftBound`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightRange {
    /// Smallest weight.
    pub min: f32,
    /// Largest weight.
    pub max: f32,
}

/// The settings of one STDP update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StdpRule {
    /// Learning rates of this step.
    pub rates: LearningRates,
    /// Weight dependence `f(w)`.
    pub weight_dependence: WeightDependence,
    /// Range of the layer's weights at the start of sleep; only
    /// [`WeightDependence::SoftBound`] uses it.
    pub weight_range: WeightRange,
    /// Combination of the updates of a shared weight.
    pub shared_weight_update: SharedWeightUpdate,
    /// Whether depression is scaled so that the additive updates of the step sum to zero, as
    /// [`super::StdpConfig::balance_depression`] describes. `rates.a_minus` is then unused.
    pub balance_depression: bool,
}

/// The weight change of one step and the event counts behind it.
#[derive(Debug, Clone)]
pub struct StdpUpdate<const D: usize> {
    /// `dW`, with the shape of the weight.
    pub delta: Tensor<D>,
    /// Potentiation events: pairs of a learning post-synaptic neuron and a recent
    /// pre-synaptic spike (the sum of `P`), shape `[1]`.
    pub potentiation_events: Tensor<1>,
    /// Depression events: pairs of a learning post-synaptic neuron and a silent pre-synaptic
    /// neuron (the sum of `D`), shape `[1]`.
    pub depression_events: Tensor<1>,
}

/// Computes `f(W)` elementwise, or returns `None` for [`WeightDependence::Additive`] (`f = 1`).
pub fn weight_factor<const D: usize>(
    weight: &Tensor<D>,
    dependence: WeightDependence,
    range: WeightRange,
) -> Option<Tensor<D>> {
    match dependence {
        WeightDependence::Additive => None,
        WeightDependence::SoftBound => {
            let width = range.max - range.min;
            if width > 0.0 && width.is_finite() {
                let normalised = weight.clone().sub_scalar(range.min).div_scalar(width);
                let factor = normalised.clone() * normalised.neg().add_scalar(1.0);
                Some(factor.clamp_min(0.0))
            } else {
                Some(weight.zeros_like())
            }
        }
        WeightDependence::Sigmoid => Some(sigmoid(weight.clone())),
    }
}

/// Combines the counts `P` and `D` into `dW = f(W) * (a_plus * P - a_minus * D) / n`.
fn combine<const D: usize>(
    weight: &Tensor<D>,
    potentiation: Tensor<D>,
    depression: Tensor<D>,
    rule: &StdpRule,
    positions: usize,
) -> StdpUpdate<D> {
    let potentiation_events = potentiation.clone().sum();
    let depression_events = depression.clone().sum();
    let mut delta = if rule.balance_depression {
        // a_minus = a_plus * P / D stays on the device. A step without depression events
        // divides by 1 instead of 0, and its depression term is 0 anyway.
        let ratio = potentiation_events.clone() / depression_events.clone().clamp_min(1.0);
        let ratio = ratio.reshape([1; D]);
        (potentiation - depression * ratio).mul_scalar(rule.rates.a_plus)
    } else {
        potentiation.mul_scalar(rule.rates.a_plus) - depression.mul_scalar(rule.rates.a_minus)
    };
    if let Some(factor) = weight_factor(weight, rule.weight_dependence, rule.weight_range) {
        delta = delta * factor;
    }
    if rule.shared_weight_update == SharedWeightUpdate::Mean {
        delta = delta.div_scalar(positions.max(1) as f32);
    }
    StdpUpdate {
        delta,
        potentiation_events,
        depression_events,
    }
}

/// Computes the STDP update of a linear layer.
///
/// # Shapes
///
/// - `weight`: `[in_features, out_features]`
/// - `pre_recent`: `[batch, in_features]`, 1.0 where the input fired within the window
/// - `post`: `[batch, out_features]`, 1.0 where the output neuron learns
///
/// # Panics
///
/// Panics when the shapes do not fit the weight.
pub fn linear_stdp(
    weight: &Tensor<2>,
    pre_recent: Tensor<2>,
    post: Tensor<2>,
    rule: &StdpRule,
) -> StdpUpdate<2> {
    let [in_features, out_features] = weight.dims();
    let [batch, pre_features] = pre_recent.dims();
    assert_eq!(
        [pre_features, post.dims()[1]],
        [in_features, out_features],
        "linear STDP: pre {:?} and post {:?} do not fit weight {:?}",
        pre_recent.dims(),
        post.dims(),
        weight.dims()
    );
    // P[j, i] = sum_b pre_recent[b, j] * post[b, i]; the pairs per synapse are the post
    // spikes of column i, so D = sum_b post[b, i] - P.
    let potentiation = pre_recent.transpose().matmul(post.clone());
    let pairs = post.sum_dim(0).expand([in_features, out_features]);
    let depression = pairs - potentiation.clone();
    combine(weight, potentiation, depression, rule, batch)
}

/// Computes the STDP update of a 2D convolution with zero padding.
///
/// # Shapes
///
/// - `weight`: `[out_channels, in_channels, kernel_height, kernel_width]`
/// - `pre_recent`: `[batch, in_channels, height, width]`, 1.0 where the input fired within the
///   window
/// - `post`: `[batch, out_channels, out_height, out_width]`, 1.0 where the output neuron learns
///
/// # Panics
///
/// Panics when the shapes do not fit the weight and geometry.
pub fn conv2d_stdp(
    weight: &Tensor<4>,
    pre_recent: Tensor<4>,
    post: Tensor<4>,
    stride: [usize; 2],
    padding: [usize; 2],
    rule: &StdpRule,
) -> StdpUpdate<4> {
    let [out_channels, in_channels, kernel_height, kernel_width] = weight.dims();
    let [batch, _, height, width] = pre_recent.dims();
    let [_, _, out_height, out_width] = post.dims();
    let device = weight.device();
    let options = ConvOptions::new(stride, padding, [1, 1], 1);

    let potentiation =
        conv2d_weight_backward(pre_recent, weight.clone(), post.clone(), options.clone());
    // Every input channel has the same in-bounds pairs, so one channel of ones counts them.
    let pairs = conv2d_weight_backward(
        Tensor::ones([batch, 1, height, width], &device),
        Tensor::zeros([out_channels, 1, kernel_height, kernel_width], &device),
        post,
        options,
    )
    .expand([out_channels, in_channels, kernel_height, kernel_width]);
    let depression = pairs - potentiation.clone();
    combine(
        weight,
        potentiation,
        depression,
        rule,
        batch * out_height * out_width,
    )
}

/// Computes the STDP update of a 2D transposed convolution.
///
/// The transposed convolution `y = conv_transpose2d(x, W)` is the adjoint of the convolution
/// with the same weight, stride and padding. Its pair counts are therefore the convolution
/// weight gradient with the roles swapped, `post` as the convolution input and `pre_recent` as
/// the output gradient.
///
/// # Shapes
///
/// - `weight`: `[in_channels, out_channels, kernel_height, kernel_width]`
/// - `pre_recent`: `[batch, in_channels, height, width]`, 1.0 where the input fired within the
///   window
/// - `post`: `[batch, out_channels, out_height, out_width]` with
///   `out = (in - 1) * stride - 2 * padding + kernel`, 1.0 where the output neuron learns
///
/// # Panics
///
/// Panics when the shapes do not fit the weight and geometry.
pub fn conv_transpose2d_stdp(
    weight: &Tensor<4>,
    pre_recent: Tensor<4>,
    post: Tensor<4>,
    stride: [usize; 2],
    padding: [usize; 2],
    rule: &StdpRule,
) -> StdpUpdate<4> {
    let [in_channels, out_channels, kernel_height, kernel_width] = weight.dims();
    let [batch, _, height, width] = pre_recent.dims();
    let [_, _, out_height, out_width] = post.dims();
    for (axis, (input, output)) in [(height, out_height), (width, out_width)]
        .into_iter()
        .enumerate()
    {
        let kernel = [kernel_height, kernel_width][axis];
        let expected =
            ((input.max(1) - 1) * stride[axis] + kernel).saturating_sub(2 * padding[axis]);
        assert_eq!(
            output,
            expected,
            "transposed convolution STDP: post {:?} does not fit pre {:?} and weight {:?}",
            post.dims(),
            pre_recent.dims(),
            weight.dims()
        );
    }
    let device: Device = weight.device();
    let options = ConvOptions::new(stride, padding, [1, 1], 1);

    let potentiation =
        conv2d_weight_backward(post.clone(), weight.clone(), pre_recent, options.clone());
    // Every input channel reaches the same in-bounds outputs, so one channel of ones counts
    // the pairs.
    let pairs = conv2d_weight_backward(
        post,
        Tensor::zeros([1, out_channels, kernel_height, kernel_width], &device),
        Tensor::ones([batch, 1, height, width], &device),
        options,
    )
    .expand([in_channels, out_channels, kernel_height, kernel_width]);
    let depression = pairs - potentiation.clone();
    combine(
        weight,
        potentiation,
        depression,
        rule,
        batch * height * width,
    )
}

//! Event-driven execution of the spiking layers on the CPU.
//!
//! The dense path computes the current `I[t] = W * s_in[t] + b` as a full convolution at every
//! step, whatever the number of spikes. Here each input spike adds its weight column (its
//! weights to every output neuron it reaches) to the currents of those outputs. Silent inputs
//! cost nothing, so the work of a step is its synaptic operations (SOP) plus one pass over the
//! neurons. Images of a batch run in parallel on rayon's thread pool; a batch of one
//! image runs on one thread.
//!
//! # Layout
//!
//! Host buffers are channels-last, `[batch, height, width, channels]`, so that the column of
//! one spike through one kernel tap (every output channel at one output position) is
//! contiguous. The layers' weights are copied once into `[in_channels, kernel_height,
//! kernel_width, out_channels]` and kept by the layer. Tensors at the API boundary keep burn's
//! `[batch, channels, height, width]`.
//!
//! # Agreement with the dense path
//!
//! Both paths compute the same equations: the current without bias, plus the bias, is added to
//! the membrane potential, then the neuron fires and resets as in [`crate::neuron`]. Only the
//! order of the sum over input spikes differs, so currents agree to float rounding (relative
//! differences near 1e-7), and a spike can differ only where a membrane potential lands within
//! that rounding of the threshold.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::error::SpikingError;
use crate::layers::{EventWeights, SpikingConv2d, SpikingConvTranspose2d, SpikingLinear, read_f32};
use crate::neuron::{IfParams, InitialMembrane, ResetMode};

/// The spikes of one time step, stored per image as the channels-last indices of the neurons
/// that fired.
///
/// The index of the neuron `(channel, y, x)` is `(y * width + x) * channels + channel`. A
/// linear layer's input `[batch, features]` uses the shape `[batch, features, 1, 1]`, so its
/// index is the feature.
///
/// The lists keep their capacity when refilled, so a simulation that reuses one value
/// allocates only while the spike count still grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpikeEvents {
    shape: [usize; 4],
    active: Vec<Vec<u32>>,
}

impl SpikeEvents {
    /// Creates an empty set of events for spikes of shape `[batch, channels, height, width]`.
    ///
    /// # Panics
    ///
    /// Panics when one image has more than `u32::MAX` neurons.
    pub fn new(shape: [usize; 4]) -> Self {
        let [batch, channels, height, width] = shape;
        let neurons = channels * height * width;
        assert!(
            u32::try_from(neurons).is_ok(),
            "{neurons} neurons per image do not fit a u32 spike index"
        );
        Self {
            shape,
            active: vec![Vec::new(); batch],
        }
    }

    /// Reads a spike tensor of 0.0 and 1.0 values into events.
    ///
    /// # Shapes
    ///
    /// - `spikes`: `[batch, channels, height, width]`
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when the tensor cannot be read back from its device.
    ///
    /// # Panics
    ///
    /// Panics when a value is neither 0.0 nor 1.0.
    pub fn from_tensor(spikes: Tensor<4>) -> Result<Self, SpikingError> {
        let mut events = Self::new(spikes.dims());
        events.fill_from_tensor(spikes)?;
        Ok(events)
    }

    /// Replaces the events with those of a spike tensor, reusing the lists.
    ///
    /// # Shapes
    ///
    /// - `spikes`: the shape of these events, `[batch, channels, height, width]`
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when the tensor cannot be read back from its device.
    ///
    /// # Panics
    ///
    /// Panics when the shape differs or a value is neither 0.0 nor 1.0.
    pub fn fill_from_tensor(&mut self, spikes: Tensor<4>) -> Result<(), SpikingError> {
        assert_eq!(
            spikes.dims(),
            self.shape,
            "spike tensor shape does not match the events"
        );
        let values = read_f32(spikes.into_data(), "input spikes")?;
        self.fill_from_values(&values);
        Ok(())
    }

    /// Replaces the events with the spikes in `values`, row-major
    /// `[batch, channels, height, width]`.
    fn fill_from_values(&mut self, values: &[f32]) {
        let [_, channels, height, width] = self.shape;
        let positions = height * width;
        for (active, image) in self
            .active
            .iter_mut()
            .zip(values.chunks_exact(channels * positions))
        {
            active.clear();
            for (channel, plane) in image.chunks_exact(positions).enumerate() {
                for (position, &value) in plane.iter().enumerate() {
                    if value == 0.0 {
                        continue;
                    }
                    assert!(
                        value == 1.0,
                        "spike value {value} at channel {channel}, position {position} is neither 0 nor 1"
                    );
                    active.push((position * channels + channel) as u32);
                }
            }
        }
    }

    /// Returns the shape `[batch, channels, height, width]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Returns the channels-last indices of the neurons of `image` that fired, in no set order.
    ///
    /// # Panics
    ///
    /// Panics when `image` is not below the batch size.
    pub fn active(&self, image: usize) -> &[u32] {
        &self.active[image]
    }

    /// Returns the number of spikes over the batch.
    pub fn count(&self) -> usize {
        self.active.iter().map(Vec::len).sum()
    }

    /// Removes every spike and keeps the capacity.
    pub fn clear(&mut self) {
        self.active.iter_mut().for_each(Vec::clear);
    }

    /// Adds the spikes to `counts`, row-major `[height, width]`, summed over batch and channels.
    pub(crate) fn add_position_counts(&self, counts: &mut [u64]) {
        let channels = self.shape[1];
        for &index in self.active.iter().flatten() {
            counts[index as usize / channels] += 1;
        }
    }

    /// Returns the spikes as a tensor of 0.0 and 1.0 values.
    ///
    /// # Shapes
    ///
    /// - output: `[batch, channels, height, width]`
    pub fn to_tensor(&self, device: &Device) -> Tensor<4> {
        let [batch, channels, height, width] = self.shape;
        let mut values = vec![0.0; batch * channels * height * width];
        for (image, active) in values
            .chunks_exact_mut(channels * height * width)
            .zip(&self.active)
        {
            for &index in active {
                let index = index as usize;
                let (position, channel) = (index / channels, index % channels);
                image[channel * height * width + position] = 1.0;
            }
        }
        Tensor::from_data(TensorData::new(values, self.shape), device)
    }
}

/// Converts row-major `[batch, channels, positions]` values to `[batch, positions, channels]`.
fn channels_last(values: &[f32], [batch, channels, positions]: [usize; 3]) -> Vec<f32> {
    let mut output = vec![0.0; values.len()];
    for image in 0..batch {
        let source = &values[image * channels * positions..][..channels * positions];
        let target = &mut output[image * channels * positions..][..channels * positions];
        for (channel, plane) in source.chunks_exact(positions).enumerate() {
            for (position, &value) in plane.iter().enumerate() {
                target[position * channels + channel] = value;
            }
        }
    }
    output
}

/// Converts row-major `[batch, positions, channels]` values to `[batch, channels, positions]`.
fn channels_first(values: &[f32], [batch, channels, positions]: [usize; 3]) -> Vec<f32> {
    let mut output = vec![0.0; values.len()];
    for image in 0..batch {
        let source = &values[image * channels * positions..][..channels * positions];
        let target = &mut output[image * channels * positions..][..channels * positions];
        for (position, row) in source.chunks_exact(channels).enumerate() {
            for (channel, &value) in row.iter().enumerate() {
                target[channel * positions + position] = value;
            }
        }
    }
    output
}

/// Reads a `[batch, channels, height, width]` tensor into a channels-last host buffer.
pub(crate) fn tensor_channels_last(
    tensor: Tensor<4>,
    name: &str,
) -> Result<Vec<f32>, SpikingError> {
    let [batch, channels, height, width] = tensor.dims();
    let values = read_f32(tensor.into_data(), name)?;
    Ok(channels_last(&values, [batch, channels, height * width]))
}

/// Builds a `[batch, channels, height, width]` tensor from a channels-last host buffer.
pub(crate) fn channels_last_tensor(
    values: &[f32],
    shape: [usize; 4],
    device: &Device,
) -> Tensor<4> {
    let [batch, channels, height, width] = shape;
    let values = channels_first(values, [batch, channels, height * width]);
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// For each input index along one axis of a convolution, the `(kernel index, output index)`
/// pairs with `output * stride + kernel - padding = input`.
fn conv_axis_targets(
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Vec<Vec<(usize, usize)>> {
    (0..input)
        .map(|i| {
            (0..kernel)
                .filter_map(|k| {
                    let shifted = (i + padding).checked_sub(k)?;
                    (shifted % stride == 0 && shifted / stride < output)
                        .then_some((k, shifted / stride))
                })
                .collect()
        })
        .collect()
}

/// For each input index along one axis of a transposed convolution, the `(kernel index, output
/// index)` pairs with `output = input * stride + kernel - padding` inside the cropped output.
fn conv_transpose_axis_targets(
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Vec<Vec<(usize, usize)>> {
    (0..input)
        .map(|i| {
            (0..kernel)
                .filter_map(|k| {
                    let o = (i * stride + k).checked_sub(padding)?;
                    (o < output).then_some((k, o))
                })
                .collect()
        })
        .collect()
}

/// A synaptic layer prepared for event-driven steps at one input size.
///
/// It stores, for every input position, the kernel taps and output positions that a spike
/// there reaches (exact at padded and strided borders), and shares the layer's host copy of the
/// weights. Build it once per input size and reuse it for every step.
#[derive(Debug, Clone)]
pub struct EventLayer {
    name: String,
    input_shape: [usize; 3],
    output_shape: [usize; 3],
    taps: usize,
    weights: Arc<EventWeights>,
    /// `(tap, output position)` pairs of input position `p` in `targets[offsets[p]..offsets[p + 1]]`.
    targets: Vec<(u32, u32)>,
    offsets: Vec<usize>,
}

impl EventLayer {
    /// Prepares a convolution for inputs of size `[height, width]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] when the input is smaller than the kernel, and
    /// [`SpikingError::DataRead`] when the weights cannot be read back from their device.
    pub fn conv2d(layer: &SpikingConv2d, input_size: [usize; 2]) -> Result<Self, SpikingError> {
        let output_size = layer.output_size(input_size)?;
        let kernel = layer.kernel_size();
        let [rows, columns] = [0, 1].map(|axis| {
            conv_axis_targets(
                input_size[axis],
                output_size[axis],
                kernel[axis],
                layer.stride()[axis],
                layer.padding()[axis],
            )
        });
        Ok(Self::from_axis_targets(
            layer.name(),
            [layer.in_channels(), input_size[0], input_size[1]],
            [layer.out_channels(), output_size[0], output_size[1]],
            kernel,
            [&rows, &columns],
            layer.event_weights()?,
        ))
    }

    /// Prepares a transposed convolution for inputs of size `[height, width]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] when the input gives no output, and
    /// [`SpikingError::DataRead`] when the weights cannot be read back from their device.
    pub fn conv_transpose2d(
        layer: &SpikingConvTranspose2d,
        input_size: [usize; 2],
    ) -> Result<Self, SpikingError> {
        let output_size = layer.output_size(input_size)?;
        let kernel = layer.kernel_size();
        let [rows, columns] = [0, 1].map(|axis| {
            conv_transpose_axis_targets(
                input_size[axis],
                output_size[axis],
                kernel[axis],
                layer.stride()[axis],
                layer.padding()[axis],
            )
        });
        Ok(Self::from_axis_targets(
            layer.name(),
            [layer.in_channels(), input_size[0], input_size[1]],
            [layer.out_channels(), output_size[0], output_size[1]],
            kernel,
            [&rows, &columns],
            layer.event_weights()?,
        ))
    }

    /// Prepares a linear layer, whose input `[batch, in_features]` is treated as
    /// `[batch, in_features, 1, 1]` and whose output as `[batch, out_features, 1, 1]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when the weights cannot be read back from their device.
    pub fn linear(layer: &SpikingLinear) -> Result<Self, SpikingError> {
        let only_position = vec![vec![(0, 0)]];
        Ok(Self::from_axis_targets(
            layer.name(),
            [layer.in_features(), 1, 1],
            [layer.out_features(), 1, 1],
            [1, 1],
            [&only_position, &only_position],
            layer.event_weights()?,
        ))
    }

    fn from_axis_targets(
        name: &str,
        input_shape: [usize; 3],
        output_shape: [usize; 3],
        kernel: [usize; 2],
        [rows, columns]: [&[Vec<(usize, usize)>]; 2],
        weights: Arc<EventWeights>,
    ) -> Self {
        let output_width = output_shape[2];
        let mut targets = Vec::new();
        let mut offsets = Vec::with_capacity(rows.len() * columns.len() + 1);
        offsets.push(0);
        for row in rows {
            for column in columns {
                for &(ky, oy) in row {
                    for &(kx, ox) in column {
                        let tap = ky * kernel[1] + kx;
                        let position = oy * output_width + ox;
                        targets.push((tap as u32, position as u32));
                    }
                }
                offsets.push(targets.len());
            }
        }
        Self {
            name: name.to_string(),
            input_shape,
            output_shape,
            taps: kernel[0] * kernel[1],
            weights,
            targets,
            offsets,
        }
    }

    /// Returns the layer name, such as `conv1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the input shape `[channels, height, width]` of one image.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    /// Returns the output shape `[channels, height, width]` of one image.
    pub fn output_shape(&self) -> [usize; 3] {
        self.output_shape
    }

    /// Returns the synapses that one spike at input position `y * width + x` reaches.
    pub fn fan_out(&self, position: usize) -> u64 {
        let pairs = self.offsets[position + 1] - self.offsets[position];
        (pairs * self.output_shape[0]) as u64
    }

    /// Writes `W * s` (no bias) for the spikes `active` of one image into `current`, channels-last
    /// `[out_height, out_width, out_channels]`.
    fn accumulate(&self, active: &[u32], current: &mut [f32]) {
        current.fill(0.0);
        let in_channels = self.input_shape[0];
        let out_channels = self.output_shape[0];
        let columns = &self.weights.columns;
        for &index in active {
            let index = index as usize;
            let (position, channel) = (index / in_channels, index % in_channels);
            let first_column = channel * self.taps;
            for &(tap, output) in &self.targets[self.offsets[position]..self.offsets[position + 1]]
            {
                let column =
                    &columns[(first_column + tap as usize) * out_channels..][..out_channels];
                let target = &mut current[output as usize * out_channels..][..out_channels];
                for (sum, weight) in target.iter_mut().zip(column) {
                    *sum += weight;
                }
            }
        }
    }

    fn check_input(&self, spikes: &SpikeEvents) {
        let [_, channels, height, width] = spikes.shape();
        assert_eq!(
            [channels, height, width],
            self.input_shape,
            "layer {}: spikes {:?} do not match the input shape",
            self.name,
            spikes.shape()
        );
    }

    /// Computes the current `W * s + b` of the next layer of neurons from input events.
    ///
    /// This allocates its output; simulations use [`EventNeurons::step`], which reuses buffers.
    ///
    /// # Shapes
    ///
    /// - output: `[batch, out_channels, out_height, out_width]` (`[batch, out_features, 1, 1]`
    ///   for a linear layer)
    ///
    /// # Panics
    ///
    /// Panics when the spikes do not have the layer's input shape.
    pub fn current(&self, spikes: &SpikeEvents, device: &Device) -> Tensor<4> {
        self.check_input(spikes);
        let [channels, height, width] = self.output_shape;
        let per_image = channels * height * width;
        let batch = spikes.shape()[0];
        let mut current = vec![0.0; batch * per_image];
        current
            .par_chunks_mut(per_image)
            .zip(spikes.active.par_iter())
            .for_each(|(current, active)| {
                self.accumulate(active, current);
                for row in current.chunks_exact_mut(channels) {
                    for (value, bias) in row.iter_mut().zip(&self.weights.bias) {
                        *value += bias;
                    }
                }
            });
        channels_last_tensor(&current, [batch, channels, height, width], device)
    }
}

/// A layer of IF neurons whose membrane potentials live in a host buffer, advanced by events.
///
/// The potentials and a scratch buffer for the current are allocated once, so a step allocates
/// nothing once the output event lists have grown to their largest size.
#[derive(Debug, Clone)]
pub struct EventNeurons {
    params: IfParams,
    shape: [usize; 4],
    /// Membrane potentials, channels-last `[batch, height, width, channels]`.
    v: Vec<f32>,
    /// Current of the running step, channels-last like `v`.
    current: Vec<f32>,
}

impl EventNeurons {
    /// Creates neurons of shape `[batch, channels, height, width]` at their initial potential.
    pub fn new(params: IfParams, shape: [usize; 4], initial: InitialMembrane) -> Self {
        let length = shape.iter().product();
        Self {
            params,
            shape,
            v: vec![params.initial_potential(initial); length],
            current: vec![0.0; length],
        }
    }

    /// Returns the shape `[batch, channels, height, width]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Advances the neurons by one step driven by `input` through `layer`: charge with
    /// `W * s_in + b`, fire, reset. The spikes replace the events in `output`.
    ///
    /// # Panics
    ///
    /// Panics when `input` does not match the layer's input shape or the layer's output does
    /// not match the neurons or `output`.
    pub fn step(&mut self, layer: &EventLayer, input: &SpikeEvents, output: &mut SpikeEvents) {
        layer.check_input(input);
        let [batch, channels, height, width] = self.shape;
        assert_eq!(
            [
                input.shape()[0],
                layer.output_shape[0],
                layer.output_shape[1],
                layer.output_shape[2]
            ],
            self.shape,
            "layer {}: its output for a batch of {} does not match neurons {:?}",
            layer.name,
            input.shape()[0],
            self.shape
        );
        assert_eq!(
            output.shape(),
            self.shape,
            "output events do not match the neurons"
        );

        let per_image = channels * height * width;
        let params = self.params;
        let bias = &layer.weights.bias;
        self.v
            .par_chunks_mut(per_image)
            .zip(self.current.par_chunks_mut(per_image))
            .zip(input.active.par_iter())
            .zip(output.active.par_iter_mut())
            .for_each(|(((v, current), active), fired)| {
                layer.accumulate(active, current);
                charge_fire_reset(params, v, current, bias, fired);
            });
        debug_assert_eq!(self.v.len(), batch * per_image);
    }

    /// Advances the neurons by one step with a current given channels-last,
    /// `[batch, height, width, channels]`, that already includes any bias.
    pub(crate) fn step_with_current(&mut self, current: &[f32], output: &mut SpikeEvents) {
        let [_, channels, height, width] = self.shape;
        assert_eq!(
            current.len(),
            self.v.len(),
            "current does not match the neurons"
        );
        let per_image = channels * height * width;
        let params = self.params;
        // Adding a zero bias leaves the current unchanged, so the update matches the dense
        // `v + I` exactly.
        let zero_bias = vec![0.0; channels];
        self.v
            .par_chunks_mut(per_image)
            .zip(current.par_chunks(per_image))
            .zip(output.active.par_iter_mut())
            .for_each(|((v, current), fired)| {
                charge_fire_reset(params, v, current, &zero_bias, fired);
            });
    }

    /// Returns the membrane potentials.
    ///
    /// # Shapes
    ///
    /// - output: `[batch, channels, height, width]`
    pub fn potential(&self, device: &Device) -> Tensor<4> {
        channels_last_tensor(&self.v, self.shape, device)
    }
}

/// Charges `v` with `current + bias`, records the neurons at or above the threshold in `fired`
/// and resets them, for one channels-last image.
fn charge_fire_reset(
    params: IfParams,
    v: &mut [f32],
    current: &[f32],
    bias: &[f32],
    fired: &mut Vec<u32>,
) {
    fired.clear();
    let channels = bias.len();
    let v_threshold = params.v_threshold;
    let rows = v
        .chunks_exact_mut(channels)
        .zip(current.chunks_exact(channels));
    for (position, (v, current)) in rows.enumerate() {
        for (channel, ((v, &current), &bias)) in v.iter_mut().zip(current).zip(bias).enumerate() {
            // The same association as the dense path: v + (W * s + b).
            *v += current + bias;
            if *v >= v_threshold {
                fired.push((position * channels + channel) as u32);
                *v = match params.reset {
                    ResetMode::Subtract => *v - v_threshold,
                    ResetMode::Zero => 0.0,
                };
            }
        }
    }
}

//! Synaptic layers of the spiking network: each turns input spikes into the current
//! `I[t] = W * s_in[t] + b` of the next layer of neurons.
//!
//! The layers take plain weights and biases, with batch norm already folded in. Their fan-out
//! maps ([`FanOut`]) count the synapses that one input position reaches, including the partial
//! windows at padded and strided borders; synaptic operations (SOP) and the analog network's
//! multiply-accumulates (MAC) are both counted from these maps.

use std::fmt;
use std::sync::{Arc, OnceLock};

use burn::tensor::module::{conv_transpose2d, conv2d, linear};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Tensor, TensorData};

use crate::error::SpikingError;

/// The number of synapses that each input position of a layer reaches.
///
/// In a convolution the fan-out of an input value depends on its spatial position only, so the
/// map stores one count per `(y, x)`, shared by all input channels. A linear layer has one
/// position (height = width = 1) whose fan-out is its number of output features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOut {
    channels: usize,
    height: usize,
    width: usize,
    per_position: Vec<u64>,
}

impl FanOut {
    /// Returns the input shape `[channels, height, width]` that the map describes.
    pub fn input_shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Returns the synapses reached by the input value at `(channel, y, x)`.
    ///
    /// # Panics
    ///
    /// Panics when the position lies outside [`FanOut::input_shape`].
    pub fn get(&self, channel: usize, y: usize, x: usize) -> u64 {
        assert!(
            channel < self.channels && y < self.height && x < self.width,
            "position ({channel}, {y}, {x}) is outside the input shape {:?}",
            self.input_shape()
        );
        self.per_position[y * self.width + x]
    }

    /// Returns the fan-out of every spatial position, row-major `[height, width]`.
    pub fn per_position(&self) -> &[u64] {
        &self.per_position
    }

    /// Returns the synapse count of the layer for one input image: the sum of the fan-out over
    /// all input values. This is also the MAC count of the analog layer, without its bias.
    pub fn total(&self) -> u64 {
        self.channels as u64 * self.per_position.iter().sum::<u64>()
    }

    /// Returns the synaptic operations caused by spikes counted per spatial position.
    ///
    /// `counts` is row-major `[height, width]`, each entry summed over batch, channels and steps.
    ///
    /// # Panics
    ///
    /// Panics when `counts` does not have `height * width` entries.
    pub fn synaptic_operations(&self, counts: &[u64]) -> u64 {
        assert_eq!(
            counts.len(),
            self.per_position.len(),
            "spike counts have {} positions but the fan-out map has {}",
            counts.len(),
            self.per_position.len()
        );
        counts
            .iter()
            .zip(&self.per_position)
            .map(|(count, fan_out)| count * fan_out)
            .sum()
    }
}

/// Counts, for each input index along one axis of a convolution, the (output, kernel) pairs
/// that read it.
fn conv_axis_fan_out(
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Vec<u64> {
    let mut counts = vec![0; input];
    for o in 0..output {
        for k in 0..kernel {
            // Input index o * stride + k - padding, when it lies inside the unpadded input.
            if let Some(i) = (o * stride + k).checked_sub(padding)
                && i < input
            {
                counts[i] += 1;
            }
        }
    }
    counts
}

/// Counts, for each input index along one axis of a transposed convolution, the kernel taps that
/// write to an output inside the cropped output.
fn conv_transpose_axis_fan_out(
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Vec<u64> {
    let mut counts = vec![0; input];
    for (i, count) in counts.iter_mut().enumerate() {
        for k in 0..kernel {
            // Output index i * stride + k - padding, when it lies inside the cropped output.
            if let Some(o) = (i * stride + k).checked_sub(padding)
                && o < output
            {
                *count += 1;
            }
        }
    }
    counts
}

fn spatial_fan_out(out_channels: usize, rows: &[u64], columns: &[u64]) -> Vec<u64> {
    rows.iter()
        .flat_map(|row| {
            columns
                .iter()
                .map(move |column| out_channels as u64 * row * column)
        })
        .collect()
}

/// Sums spikes over batch and channels and reads the `[height, width]` counts to the host.
pub(crate) fn spatial_spike_counts(
    spikes: Tensor<4>,
    tensor: &str,
) -> Result<Vec<u64>, SpikingError> {
    let [_, _, height, width] = spikes.dims();
    let summed = spikes.sum_dim(0).sum_dim(1).reshape([height * width]);
    read_counts(summed, tensor)
}

pub(crate) fn read_counts(counts: Tensor<1>, tensor: &str) -> Result<Vec<u64>, SpikingError> {
    let values = read_f32(counts.into_data(), tensor)?;
    Ok(values
        .into_iter()
        .map(|count| count.round() as u64)
        .collect())
}

pub(crate) fn read_f32(data: TensorData, tensor: &str) -> Result<Vec<f32>, SpikingError> {
    data.try_into_vec_as::<f32>()
        .map_err(|error| SpikingError::DataRead {
            tensor: tensor.to_string(),
            message: format!("{error:?}"),
        })
}

fn check_bias(
    layer: &str,
    weight: &[usize],
    bias: &[usize],
    expected: usize,
) -> Result<(), SpikingError> {
    if bias != [expected] {
        return Err(SpikingError::BiasShape {
            layer: layer.to_string(),
            weight: weight.to_vec(),
            bias: bias.to_vec(),
            expected,
        });
    }
    Ok(())
}

fn check_stride(layer: &str, stride: [usize; 2]) -> Result<(), SpikingError> {
    if stride.contains(&0) {
        return Err(SpikingError::ZeroStride {
            layer: layer.to_string(),
        });
    }
    Ok(())
}

/// A spiking 2D convolution: `I[t] = conv2d(s_in[t], W) + b`, with PyTorch's conventions.
///
/// # Shapes
///
/// - weight: `[out_channels, in_channels, kernel_height, kernel_width]`
/// - bias: `[out_channels]`
/// - input: `[batch, in_channels, height, width]`
/// - output: `[batch, out_channels, out_height, out_width]`, where
///   `out = (in + 2 * padding - kernel) / stride + 1` (integer division)
#[derive(Debug, Clone)]
pub struct SpikingConv2d {
    name: String,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    event_weights: EventWeightCache,
}

impl SpikingConv2d {
    /// Builds the layer from a weight and a bias.
    ///
    /// # Errors
    ///
    /// [`SpikingError::BiasShape`] when the bias is not `[out_channels]`, and
    /// [`SpikingError::ZeroStride`] for a zero stride.
    pub fn new(
        name: impl Into<String>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Self, SpikingError> {
        let name = name.into();
        check_bias(&name, &weight.dims(), &bias.dims(), weight.dims()[0])?;
        check_stride(&name, stride)?;
        Ok(Self {
            name,
            weight,
            bias,
            stride,
            padding,
            event_weights: EventWeightCache::default(),
        })
    }

    /// Returns the layer name, such as `conv1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the weight, `[out_channels, in_channels, kernel_height, kernel_width]`.
    pub fn weight(&self) -> &Tensor<4> {
        &self.weight
    }

    /// Returns the bias, `[out_channels]`.
    pub fn bias(&self) -> &Tensor<1> {
        &self.bias
    }

    /// Returns the stride `[height, width]`.
    pub fn stride(&self) -> [usize; 2] {
        self.stride
    }

    /// Returns the zero padding `[height, width]` added to both sides.
    pub fn padding(&self) -> [usize; 2] {
        self.padding
    }

    /// Returns the number of input channels.
    pub fn in_channels(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Returns the number of output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Returns the kernel size `[height, width]`.
    pub fn kernel_size(&self) -> [usize; 2] {
        let [_, _, height, width] = self.weight.dims();
        [height, width]
    }

    /// Returns the output size `[height, width]` for an input size `[height, width]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] when the kernel is larger than the padded input.
    pub fn output_size(&self, input_size: [usize; 2]) -> Result<[usize; 2], SpikingError> {
        let kernel = self.kernel_size();
        let mut output = [0; 2];
        for axis in 0..2 {
            let padded = input_size[axis] + 2 * self.padding[axis];
            if padded < kernel[axis] {
                return Err(self.geometry_error(input_size));
            }
            output[axis] = (padded - kernel[axis]) / self.stride[axis] + 1;
        }
        Ok(output)
    }

    fn geometry_error(&self, input_size: [usize; 2]) -> SpikingError {
        SpikingError::Geometry {
            layer: self.name.clone(),
            kernel: self.kernel_size(),
            stride: self.stride,
            padding: self.padding,
            input_size,
        }
    }

    /// Computes the fan-out map for an input size `[height, width]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] as for [`SpikingConv2d::output_size`].
    pub fn fan_out(&self, input_size: [usize; 2]) -> Result<FanOut, SpikingError> {
        let output = self.output_size(input_size)?;
        let kernel = self.kernel_size();
        let rows = conv_axis_fan_out(
            input_size[0],
            output[0],
            kernel[0],
            self.stride[0],
            self.padding[0],
        );
        let columns = conv_axis_fan_out(
            input_size[1],
            output[1],
            kernel[1],
            self.stride[1],
            self.padding[1],
        );
        Ok(FanOut {
            channels: self.in_channels(),
            height: input_size[0],
            width: input_size[1],
            per_position: spatial_fan_out(self.out_channels(), &rows, &columns),
        })
    }

    /// Computes the input current `W * s_in + b` of the next layer of neurons.
    ///
    /// # Shapes
    ///
    /// - input: `[batch, in_channels, height, width]`
    /// - output: `[batch, out_channels, out_height, out_width]`
    ///
    /// # Panics
    ///
    /// Panics when the input does not have `in_channels` channels.
    pub fn current(&self, input: Tensor<4>) -> Tensor<4> {
        assert_eq!(
            input.dims()[1],
            self.in_channels(),
            "layer {}: input {:?} does not have {} channels",
            self.name,
            input.dims(),
            self.in_channels()
        );
        let options = ConvOptions::new(self.stride, self.padding, [1, 1], 1);
        conv2d(input, self.weight.clone(), Some(self.bias.clone()), options)
    }

    /// Counts the synaptic operations of one step: for each input spike, the synapses it reaches.
    ///
    /// # Shapes
    ///
    /// - spikes: `[batch, in_channels, height, width]`, values 0.0 or 1.0
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] for an input smaller than the kernel, and
    /// [`SpikingError::DataRead`] when the spikes cannot be read back from the device.
    pub fn synaptic_operations(&self, spikes: Tensor<4>) -> Result<u64, SpikingError> {
        let [_, _, height, width] = spikes.dims();
        let fan_out = self.fan_out([height, width])?;
        let counts = spatial_spike_counts(spikes, &self.name)?;
        Ok(fan_out.synaptic_operations(&counts))
    }
}

/// A spiking 2D transposed convolution: `I[t] = conv_transpose2d(s_in[t], W) + b`, with
/// PyTorch's conventions (no output padding).
///
/// # Shapes
///
/// - weight: `[in_channels, out_channels, kernel_height, kernel_width]`
/// - bias: `[out_channels]`
/// - input: `[batch, in_channels, height, width]`
/// - output: `[batch, out_channels, out_height, out_width]`, where
///   `out = (in - 1) * stride - 2 * padding + kernel`
#[derive(Debug, Clone)]
pub struct SpikingConvTranspose2d {
    name: String,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    event_weights: EventWeightCache,
}

impl SpikingConvTranspose2d {
    /// Builds the layer from a weight and a bias.
    ///
    /// # Errors
    ///
    /// [`SpikingError::BiasShape`] when the bias is not `[out_channels]`, and
    /// [`SpikingError::ZeroStride`] for a zero stride.
    pub fn new(
        name: impl Into<String>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Result<Self, SpikingError> {
        let name = name.into();
        check_bias(&name, &weight.dims(), &bias.dims(), weight.dims()[1])?;
        check_stride(&name, stride)?;
        Ok(Self {
            name,
            weight,
            bias,
            stride,
            padding,
            event_weights: EventWeightCache::default(),
        })
    }

    /// Returns the layer name, such as `deconv1`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the weight, `[in_channels, out_channels, kernel_height, kernel_width]`.
    pub fn weight(&self) -> &Tensor<4> {
        &self.weight
    }

    /// Returns the bias, `[out_channels]`.
    pub fn bias(&self) -> &Tensor<1> {
        &self.bias
    }

    /// Returns the stride `[height, width]`.
    pub fn stride(&self) -> [usize; 2] {
        self.stride
    }

    /// Returns the padding `[height, width]` cropped from both sides of the output.
    pub fn padding(&self) -> [usize; 2] {
        self.padding
    }

    /// Returns the number of input channels.
    pub fn in_channels(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Returns the number of output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Returns the kernel size `[height, width]`.
    pub fn kernel_size(&self) -> [usize; 2] {
        let [_, _, height, width] = self.weight.dims();
        [height, width]
    }

    /// Returns the output size `[height, width]` for an input size `[height, width]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] when the padding crops the whole output or the input is empty.
    pub fn output_size(&self, input_size: [usize; 2]) -> Result<[usize; 2], SpikingError> {
        let kernel = self.kernel_size();
        let mut output = [0; 2];
        for axis in 0..2 {
            let uncropped = match input_size[axis].checked_sub(1) {
                Some(last) => last * self.stride[axis] + kernel[axis],
                None => 0,
            };
            output[axis] = uncropped.saturating_sub(2 * self.padding[axis]);
            if output[axis] == 0 {
                return Err(SpikingError::Geometry {
                    layer: self.name.clone(),
                    kernel,
                    stride: self.stride,
                    padding: self.padding,
                    input_size,
                });
            }
        }
        Ok(output)
    }

    /// Computes the fan-out map for an input size `[height, width]`.
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] as for [`SpikingConvTranspose2d::output_size`].
    pub fn fan_out(&self, input_size: [usize; 2]) -> Result<FanOut, SpikingError> {
        let output = self.output_size(input_size)?;
        let kernel = self.kernel_size();
        let rows = conv_transpose_axis_fan_out(
            input_size[0],
            output[0],
            kernel[0],
            self.stride[0],
            self.padding[0],
        );
        let columns = conv_transpose_axis_fan_out(
            input_size[1],
            output[1],
            kernel[1],
            self.stride[1],
            self.padding[1],
        );
        Ok(FanOut {
            channels: self.in_channels(),
            height: input_size[0],
            width: input_size[1],
            per_position: spatial_fan_out(self.out_channels(), &rows, &columns),
        })
    }

    /// Computes the input current `W * s_in + b` of the next layer of neurons.
    ///
    /// # Shapes
    ///
    /// - input: `[batch, in_channels, height, width]`
    /// - output: `[batch, out_channels, out_height, out_width]`
    ///
    /// # Panics
    ///
    /// Panics when the input does not have `in_channels` channels.
    pub fn current(&self, input: Tensor<4>) -> Tensor<4> {
        assert_eq!(
            input.dims()[1],
            self.in_channels(),
            "layer {}: input {:?} does not have {} channels",
            self.name,
            input.dims(),
            self.in_channels()
        );
        let options = ConvTransposeOptions::new(self.stride, self.padding, [0, 0], [1, 1], 1);
        conv_transpose2d(input, self.weight.clone(), Some(self.bias.clone()), options)
    }

    /// Counts the synaptic operations of one step: for each input spike, the synapses it reaches.
    ///
    /// # Shapes
    ///
    /// - spikes: `[batch, in_channels, height, width]`, values 0.0 or 1.0
    ///
    /// # Errors
    ///
    /// [`SpikingError::Geometry`] for an input that gives no output, and
    /// [`SpikingError::DataRead`] when the spikes cannot be read back from the device.
    pub fn synaptic_operations(&self, spikes: Tensor<4>) -> Result<u64, SpikingError> {
        let [_, _, height, width] = spikes.dims();
        let fan_out = self.fan_out([height, width])?;
        let counts = spatial_spike_counts(spikes, &self.name)?;
        Ok(fan_out.synaptic_operations(&counts))
    }
}

/// A spiking linear layer: `I[t] = s_in[t] W + b`.
///
/// The weight uses burn's layout `[in_features, out_features]`, the transpose of PyTorch's
/// `nn.Linear` weight `[out_features, in_features]`.
///
/// # Shapes
///
/// - weight: `[in_features, out_features]`
/// - bias: `[out_features]`
/// - input: `[batch, in_features]`
/// - output: `[batch, out_features]`
#[derive(Debug, Clone)]
pub struct SpikingLinear {
    name: String,
    weight: Tensor<2>,
    bias: Tensor<1>,
    event_weights: EventWeightCache,
}

impl SpikingLinear {
    /// Builds the layer from a weight `[in_features, out_features]` and a bias.
    ///
    /// # Errors
    ///
    /// [`SpikingError::BiasShape`] when the bias is not `[out_features]`.
    pub fn new(
        name: impl Into<String>,
        weight: Tensor<2>,
        bias: Tensor<1>,
    ) -> Result<Self, SpikingError> {
        let name = name.into();
        check_bias(&name, &weight.dims(), &bias.dims(), weight.dims()[1])?;
        Ok(Self {
            name,
            weight,
            bias,
            event_weights: EventWeightCache::default(),
        })
    }

    /// Returns the layer name, such as `fc21`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the weight, `[in_features, out_features]`.
    pub fn weight(&self) -> &Tensor<2> {
        &self.weight
    }

    /// Returns the bias, `[out_features]`.
    pub fn bias(&self) -> &Tensor<1> {
        &self.bias
    }

    /// Returns the number of input features.
    pub fn in_features(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Returns the number of output features.
    pub fn out_features(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Returns the fan-out map: one position whose fan-out is `out_features`.
    pub fn fan_out(&self) -> FanOut {
        FanOut {
            channels: self.in_features(),
            height: 1,
            width: 1,
            per_position: vec![self.out_features() as u64],
        }
    }

    /// Computes the input current `s_in W + b` of the next layer of neurons.
    ///
    /// # Shapes
    ///
    /// - input: `[batch, in_features]`
    /// - output: `[batch, out_features]`
    ///
    /// # Panics
    ///
    /// Panics when the input does not have `in_features` features.
    pub fn current(&self, input: Tensor<2>) -> Tensor<2> {
        assert_eq!(
            input.dims()[1],
            self.in_features(),
            "layer {}: input {:?} does not have {} features",
            self.name,
            input.dims(),
            self.in_features()
        );
        linear(input, self.weight.clone(), Some(self.bias.clone()))
    }

    /// Counts the synaptic operations of one step: `out_features` for each input spike.
    ///
    /// # Shapes
    ///
    /// - spikes: `[batch, in_features]`, values 0.0 or 1.0
    ///
    /// # Errors
    ///
    /// [`SpikingError::DataRead`] when the spikes cannot be read back from the device.
    pub fn synaptic_operations(&self, spikes: Tensor<2>) -> Result<u64, SpikingError> {
        let counts = read_counts(spikes.sum(), &self.name)?;
        Ok(self.fan_out().synaptic_operations(&counts))
    }
}

/// Host copy of a layer's weights in the event-driven layout, and its bias.
///
/// `columns` is `[in_channels, kernel_height, kernel_width, out_channels]` (a linear layer has a
/// 1x1 kernel), so the weights from one input neuron through one kernel tap to every output
/// channel, the column that one input spike adds, are contiguous.
pub(crate) struct EventWeights {
    pub(crate) columns: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

impl fmt::Debug for EventWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWeights")
            .field("columns", &self.columns.len())
            .field("bias", &self.bias.len())
            .finish()
    }
}

/// The [`EventWeights`] of a layer, built on first use and shared by clones of the layer.
///
/// The weights of a layer never change after [`SpikingConv2d::new`] (or its siblings), so the
/// copy stays valid for the life of the layer.
#[derive(Clone, Default)]
struct EventWeightCache(OnceLock<Arc<EventWeights>>);

impl fmt::Debug for EventWeightCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWeightCache")
            .field("built", &self.0.get().is_some())
            .finish()
    }
}

impl EventWeightCache {
    fn get_or_build(
        &self,
        build: impl FnOnce() -> Result<EventWeights, SpikingError>,
    ) -> Result<Arc<EventWeights>, SpikingError> {
        if let Some(weights) = self.0.get() {
            return Ok(Arc::clone(weights));
        }
        // Two threads may both build the copy; the first one stored wins and both are equal.
        let built = Arc::new(build()?);
        Ok(Arc::clone(self.0.get_or_init(|| built)))
    }
}

/// Reorders kernel values into `[in_channels, taps, out_channels]`, where `source_index(ci, co,
/// tap)` locates a value in the original layout and `taps = kernel_height * kernel_width`.
fn kernel_columns(
    values: &[f32],
    [in_channels, out_channels, taps]: [usize; 3],
    source_index: impl Fn(usize, usize, usize) -> usize,
) -> Vec<f32> {
    let mut columns = vec![0.0; values.len()];
    for ci in 0..in_channels {
        for tap in 0..taps {
            let column = &mut columns[(ci * taps + tap) * out_channels..][..out_channels];
            for (co, value) in column.iter_mut().enumerate() {
                *value = values[source_index(ci, co, tap)];
            }
        }
    }
    columns
}

impl SpikingConv2d {
    /// Returns the weights in the event-driven layout, reading them to the host on first use.
    pub(crate) fn event_weights(&self) -> Result<Arc<EventWeights>, SpikingError> {
        self.event_weights.get_or_build(|| {
            let [out_channels, in_channels, height, width] = self.weight.dims();
            let taps = height * width;
            let values = read_f32(self.weight.clone().into_data(), &self.name)?;
            // Source layout [out, in, kh, kw].
            let columns =
                kernel_columns(&values, [in_channels, out_channels, taps], |ci, co, tap| {
                    (co * in_channels + ci) * taps + tap
                });
            let bias = read_f32(self.bias.clone().into_data(), &self.name)?;
            Ok(EventWeights { columns, bias })
        })
    }
}

impl SpikingConvTranspose2d {
    /// Returns the weights in the event-driven layout, reading them to the host on first use.
    pub(crate) fn event_weights(&self) -> Result<Arc<EventWeights>, SpikingError> {
        self.event_weights.get_or_build(|| {
            let [in_channels, out_channels, height, width] = self.weight.dims();
            let taps = height * width;
            let values = read_f32(self.weight.clone().into_data(), &self.name)?;
            // Source layout [in, out, kh, kw].
            let columns =
                kernel_columns(&values, [in_channels, out_channels, taps], |ci, co, tap| {
                    (ci * out_channels + co) * taps + tap
                });
            let bias = read_f32(self.bias.clone().into_data(), &self.name)?;
            Ok(EventWeights { columns, bias })
        })
    }
}

impl SpikingLinear {
    /// Returns the weights in the event-driven layout, reading them to the host on first use.
    ///
    /// burn's `[in_features, out_features]` already stores each input's column contiguously.
    pub(crate) fn event_weights(&self) -> Result<Arc<EventWeights>, SpikingError> {
        self.event_weights.get_or_build(|| {
            let columns = read_f32(self.weight.clone().into_data(), &self.name)?;
            let bias = read_f32(self.bias.clone().into_data(), &self.name)?;
            Ok(EventWeights { columns, bias })
        })
    }
}

//! The seam between the simulation loop and the computation of one layer step.
//!
//! The simulation calls layer steps only through [`StepEngine`], so that another
//! implementation, such as an event-driven CPU path that adds one weight column per input
//! spike, can replace the dense one without touching the loop.

use burn::tensor::Tensor;

use crate::layers::{SpikingConv2d, SpikingConvTranspose2d};
use crate::neuron::{IfParams, IfState};

/// Computes the synaptic currents and neuron updates of one time step.
pub(crate) trait StepEngine {
    /// Current of a convolution for one step of input.
    fn conv2d(&self, layer: &SpikingConv2d, input: Tensor<4>) -> Tensor<4>;

    /// Current of a transposed convolution for one step of input spikes.
    fn conv_transpose2d(&self, layer: &SpikingConvTranspose2d, input: Tensor<4>) -> Tensor<4>;

    /// One charge-fire-reset update; returns the spikes.
    fn neuron_step(
        &self,
        params: &IfParams,
        state: &mut IfState<4>,
        current: Tensor<4>,
    ) -> Tensor<4>;
}

/// The dense path: every step is a full tensor operation on the burn device, whatever the
/// number of spikes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DenseEngine;

impl StepEngine for DenseEngine {
    fn conv2d(&self, layer: &SpikingConv2d, input: Tensor<4>) -> Tensor<4> {
        layer.current(input)
    }

    fn conv_transpose2d(&self, layer: &SpikingConvTranspose2d, input: Tensor<4>) -> Tensor<4> {
        layer.current(input)
    }

    fn neuron_step(
        &self,
        params: &IfParams,
        state: &mut IfState<4>,
        current: Tensor<4>,
    ) -> Tensor<4> {
        params.step(state, current)
    }
}

//! Integrate-and-fire (IF) neurons without leak.
//!
//! At every time step `t`, a layer of IF neurons with input current `I[t]` updates its membrane
//! potential `v` in three phases:
//!
//! ```text
//! charge:  v <- v + I[t]
//! fire:    s[t] = 1 if v >= v_threshold, else 0
//! reset:   v <- v - s[t] * v_threshold      (ResetMode::Subtract)
//!          v <- (1 - s[t]) * v              (ResetMode::Zero)
//! ```
//!
//! The initial potential is `v0 = 0` or `v0 = v_threshold / 2` ([`InitialMembrane`]). With a
//! constant current `I` in `[0, v_threshold]` and reset by subtraction, a neuron fires
//! `floor((T * I + v0) / v_threshold)` times in `T` steps, so its rate approximates
//! `I / v_threshold`, and `v0 = v_threshold / 2` turns the truncation of that count into
//! rounding (Rueckauer et al. 2017, "Conversion of continuous-valued deep networks to efficient
//! event-driven networks for image classification").
//!
//! Parameters ([`IfParams`]) and state ([`IfState`]) are separate types, so that one parameter
//! set serves any number of simulations.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Reset of the membrane potential after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetMode {
    /// `v <- v - v_threshold`: the charge above the threshold is kept. Default, because it makes
    /// firing rates proportional to the input current, which ANN-to-SNN conversion needs.
    #[default]
    Subtract,
    /// `v <- 0`: the charge above the threshold is lost.
    Zero,
}

/// The initial membrane potential `v0` of every neuron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialMembrane {
    /// `v0 = 0`. Default.
    #[default]
    Zero,
    /// `v0 = v_threshold / 2`, which halves the expected quantisation error of the spike count.
    HalfThreshold,
}

/// Parameters of a layer of IF neurons.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IfParams {
    /// Firing threshold, in the units of the input current (above 0). Default: 1.0.
    pub v_threshold: f32,
    /// Reset after a spike. Default: [`ResetMode::Subtract`].
    pub reset: ResetMode,
}

impl Default for IfParams {
    fn default() -> Self {
        Self {
            v_threshold: 1.0,
            reset: ResetMode::Subtract,
        }
    }
}

impl IfParams {
    /// Returns the initial membrane potential `v0` for this threshold.
    pub fn initial_potential(&self, initial: InitialMembrane) -> f32 {
        match initial {
            InitialMembrane::Zero => 0.0,
            InitialMembrane::HalfThreshold => self.v_threshold / 2.0,
        }
    }

    /// Creates the state of a layer of neurons of the given shape at its initial potential.
    ///
    /// # Shapes
    ///
    /// - `shape`: the neuron layout, such as `[batch, channels, height, width]`
    pub fn init_state<const D: usize>(
        &self,
        shape: [usize; D],
        initial: InitialMembrane,
        device: &Device,
    ) -> IfState<D> {
        IfState {
            v: Tensor::full(shape, self.initial_potential(initial), device),
        }
    }

    /// Advances the neurons by one step with input `current` (charge, fire, reset) and returns
    /// the spikes, 0.0 or 1.0 per neuron.
    ///
    /// # Shapes
    ///
    /// - `current`, `state.v` and output: the same shape, such as
    ///   `[batch, channels, height, width]`
    pub fn step<const D: usize>(&self, state: &mut IfState<D>, current: Tensor<D>) -> Tensor<D> {
        let v = state.v.clone() + current;
        let fired = v.clone().greater_equal_elem(self.v_threshold);
        let spikes = fired.clone().float();
        state.v = match self.reset {
            ResetMode::Subtract => v - spikes.clone().mul_scalar(self.v_threshold),
            ResetMode::Zero => v.mask_fill(fired, 0.0),
        };
        spikes
    }
}

/// The state of a layer of IF neurons.
///
/// # Shapes
///
/// - `v`: the neuron layout, such as `[batch, channels, height, width]` or `[batch, features]`
#[derive(Debug, Clone)]
pub struct IfState<const D: usize> {
    /// Membrane potential of every neuron, in the units of the input current.
    pub v: Tensor<D>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the spikes of one neuron driven by a constant current for `time_steps` steps.
    fn count_spikes(params: IfParams, initial: InitialMembrane, current: f32, steps: usize) -> u32 {
        let device = Device::flex();
        let mut state = params.init_state([1, 1], initial, &device);
        let mut count = 0.0;
        for _ in 0..steps {
            let spikes = params.step(&mut state, Tensor::full([1, 1], current, &device));
            count += spikes.into_scalar::<f32>();
        }
        count as u32
    }

    // The currents below are sums of powers of two, so every membrane sum is exact in f32.
    const CURRENTS: [f32; 5] = [0.0, 0.125, 0.25, 0.5, 1.0];
    const TIME_STEPS: [usize; 3] = [1, 7, 16];

    #[test]
    fn subtract_reset_counts_floor() {
        let params = IfParams::default();
        for current in CURRENTS {
            for steps in TIME_STEPS {
                for (initial, v0) in [
                    (InitialMembrane::Zero, 0.0),
                    (InitialMembrane::HalfThreshold, 0.5),
                ] {
                    let expected = (steps as f32 * current + v0).floor() as u32;
                    assert_eq!(
                        count_spikes(params, initial, current, steps),
                        expected,
                        "I = {current}, T = {steps}, v0 = {v0}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_reset_counts_period() {
        let params = IfParams {
            v_threshold: 1.0,
            reset: ResetMode::Zero,
        };
        for current in CURRENTS.into_iter().filter(|&i| i > 0.0) {
            // The neuron reaches the threshold every ceil(1 / I) steps and then restarts at 0.
            let period = (1.0 / current).ceil() as usize;
            for steps in TIME_STEPS {
                let expected = (steps / period) as u32;
                assert_eq!(
                    count_spikes(params, InitialMembrane::Zero, current, steps),
                    expected,
                    "I = {current}, T = {steps}"
                );
            }
        }
    }

    #[test]
    fn zero_reset_drops_surplus() {
        // I = 0.75: subtraction fires 3 times in 4 steps, reset to zero only twice
        // (v = 0.75, 1.5 -> fire -> 0, 0.75, 1.5 -> fire).
        let subtract = IfParams::default();
        let zero = IfParams {
            v_threshold: 1.0,
            reset: ResetMode::Zero,
        };
        assert_eq!(count_spikes(subtract, InitialMembrane::Zero, 0.75, 4), 3);
        assert_eq!(count_spikes(zero, InitialMembrane::Zero, 0.75, 4), 2);
    }

    #[test]
    fn threshold_scales_rate() {
        // v_threshold = 2 and I = 0.5 fire every 4 steps: 4 spikes in 16 steps.
        let params = IfParams {
            v_threshold: 2.0,
            reset: ResetMode::Subtract,
        };
        assert_eq!(count_spikes(params, InitialMembrane::Zero, 0.5, 16), 4);
        // v0 = 1 adds half a period: floor((16 * 0.5 + 1) / 2) = 4, and T = 14 gives 4 too.
        assert_eq!(
            count_spikes(params, InitialMembrane::HalfThreshold, 0.5, 14),
            4
        );
        assert_eq!(count_spikes(params, InitialMembrane::Zero, 0.5, 14), 3);
    }
}

//! Spike counts, firing rates, synaptic operations and energy estimates of a simulation.
//!
//! A synaptic operation (SOP) is one accumulate `v += w` caused by one input spike at one
//! synapse. The SOP of a layer is the sum, over steps and input spikes, of each spike's fan-out
//! ([`crate::FanOut`]). The analog network's multiply-accumulates (MAC) are counted with the
//! same fan-out maps, each input value counted as active, so SOP / MAC compares like with like.
//! Bias additions are counted in neither.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::SpikingError;
use crate::layers::read_counts;

/// Energy per operation used for the estimates.
///
/// The defaults are Horowitz's figures for 45 nm CMOS (M. Horowitz, "Computing's energy
/// problem (and what we can do about it)", ISSCC 2014): 0.9 pJ for a 32-bit float add and
/// 4.6 pJ for a 32-bit float multiply (3.7 pJ) plus add. They exclude memory access, so the
/// results are estimates for comparison, not measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyModel {
    /// Energy of one accumulate (a synaptic operation), in picojoules. Default: 0.9.
    pub accumulate_pj: f64,
    /// Energy of one multiply-accumulate, in picojoules. Default: 4.6.
    pub mac_pj: f64,
}

impl Default for EnergyModel {
    fn default() -> Self {
        Self {
            accumulate_pj: 0.9,
            mac_pj: 4.6,
        }
    }
}

/// Estimated energy of the synaptic operations of both networks for one batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyEstimate {
    /// Spiking network: SOP times the accumulate energy plus the MACs of layers with analog
    /// input times the MAC energy, in picojoules.
    pub spiking_pj: f64,
    /// Analog network: MACs times the MAC energy, in picojoules.
    pub analog_pj: f64,
}

/// Whether a layer receives spikes or analog values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Binary spikes: each spike costs its fan-out in accumulates.
    Spikes,
    /// Analog values (constant-current input, or `z` into fc3): the layer performs MACs.
    Analog,
}

/// Statistics of one synaptic layer and of the IF neurons it drives, over a whole batch and
/// all time steps of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerStatistics {
    /// Layer name, such as `conv1`.
    pub layer: String,
    /// Kind of the layer's input.
    pub input: InputKind,
    /// Input spikes that arrived, summed over batch and steps (0 for analog input).
    pub input_spike_count: u64,
    /// IF neurons driven by the layer, per image (0 for a readout accumulator).
    pub neurons: usize,
    /// Spikes of those neurons, summed over batch and steps.
    pub spike_count: u64,
    /// `spike_count / (neurons * batch_size * time_steps)`, spikes per neuron per step
    /// (0 without neurons).
    pub firing_rate: f64,
    /// Accumulates caused by input spikes (0 for analog input).
    pub synaptic_operations: u64,
    /// MACs that the spiking layer performs on analog input. The input is constant over the
    /// steps, so its current is computed once and counted once per image.
    pub spiking_macs: u64,
    /// MACs of the analog network's layer for the same batch.
    pub analog_macs: u64,
}

/// Statistics of a simulation, one entry per synaptic layer in network order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationStatistics {
    /// Images in the batch.
    pub batch_size: usize,
    /// Time steps of each phase (encoder and decoder).
    pub time_steps: usize,
    /// Per-layer statistics.
    pub layers: Vec<LayerStatistics>,
}

impl SimulationStatistics {
    /// Returns the statistics of the layer called `name`, if present.
    pub fn layer(&self, name: &str) -> Option<&LayerStatistics> {
        self.layers.iter().find(|layer| layer.layer == name)
    }

    /// Returns the SOP summed over layers.
    pub fn total_synaptic_operations(&self) -> u64 {
        self.layers
            .iter()
            .map(|layer| layer.synaptic_operations)
            .sum()
    }

    /// Returns the MACs of the spiking network's analog-input layers, summed over layers.
    pub fn total_spiking_macs(&self) -> u64 {
        self.layers.iter().map(|layer| layer.spiking_macs).sum()
    }

    /// Returns the analog network's MACs summed over layers.
    pub fn total_analog_macs(&self) -> u64 {
        self.layers.iter().map(|layer| layer.analog_macs).sum()
    }

    /// Returns the spikes of all IF neurons, summed over layers.
    pub fn total_spike_count(&self) -> u64 {
        self.layers.iter().map(|layer| layer.spike_count).sum()
    }

    /// Returns the estimated energy of both networks for this batch.
    pub fn energy_estimate(&self, model: &EnergyModel) -> EnergyEstimate {
        EnergyEstimate {
            spiking_pj: self.total_synaptic_operations() as f64 * model.accumulate_pj
                + self.total_spiking_macs() as f64 * model.mac_pj,
            analog_pj: self.total_analog_macs() as f64 * model.mac_pj,
        }
    }

    /// Appends the layers of `other`, such as the decoder's after the encoder's.
    pub(crate) fn extend(&mut self, other: SimulationStatistics) {
        self.layers.extend(other.layers);
    }
}

/// Accumulates the spikes of one population per spatial position, summed over batch and
/// channels, and moves the sums to host integers before f32 could lose a count.
#[derive(Debug)]
pub(crate) struct SpikeCounter {
    population: String,
    pending: Option<Tensor<2>>,
    pending_steps: usize,
    flush_interval: usize,
    counts: Vec<u64>,
}

impl SpikeCounter {
    /// Creates a counter for spikes of shape `[batch, channels, height, width]`.
    pub(crate) fn new(population: &str, dims: [usize; 4]) -> Self {
        let [batch, channels, height, width] = dims;
        // One step adds at most batch * channels to a position, and f32 counts integers exactly
        // up to 2^24, so the device sums are flushed before they can pass that.
        let per_step = (batch * channels).max(1);
        Self {
            population: population.to_string(),
            pending: None,
            pending_steps: 0,
            flush_interval: ((1 << 24) / per_step).max(1),
            counts: vec![0; height * width],
        }
    }

    /// Adds one step of spikes.
    pub(crate) fn add(&mut self, spikes: Tensor<4>) -> Result<(), SpikingError> {
        let [_, _, height, width] = spikes.dims();
        let summed = spikes.sum_dim(0).sum_dim(1).reshape([height, width]);
        self.pending = Some(match self.pending.take() {
            Some(pending) => pending + summed,
            None => summed,
        });
        self.pending_steps += 1;
        if self.pending_steps >= self.flush_interval {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SpikingError> {
        if let Some(pending) = self.pending.take() {
            let length = self.counts.len();
            let counts = read_counts(pending.reshape([length]), &self.population)?;
            for (total, count) in self.counts.iter_mut().zip(counts) {
                *total += count;
            }
        }
        self.pending_steps = 0;
        Ok(())
    }

    /// Returns the counts per position, row-major `[height, width]`.
    pub(crate) fn finish(mut self) -> Result<Vec<u64>, SpikingError> {
        self.flush()?;
        Ok(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str, sop: u64, spiking_macs: u64, analog_macs: u64) -> LayerStatistics {
        LayerStatistics {
            layer: name.to_string(),
            input: InputKind::Spikes,
            input_spike_count: 0,
            neurons: 0,
            spike_count: 0,
            firing_rate: 0.0,
            synaptic_operations: sop,
            spiking_macs,
            analog_macs,
        }
    }

    #[test]
    fn energy_estimate_uses_model() {
        let statistics = SimulationStatistics {
            batch_size: 1,
            time_steps: 4,
            layers: vec![layer("conv0", 0, 100, 100), layer("conv1", 1000, 0, 500)],
        };
        let estimate = statistics.energy_estimate(&EnergyModel::default());
        // 1000 * 0.9 + 100 * 4.6 = 1360; 600 * 4.6 = 2760.
        assert!((estimate.spiking_pj - 1360.0).abs() < 1e-9);
        assert!((estimate.analog_pj - 2760.0).abs() < 1e-9);
        assert_eq!(statistics.layer("conv1").map(|l| l.analog_macs), Some(500));
    }
}

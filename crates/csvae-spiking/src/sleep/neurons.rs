//! IF neurons during sleep: the STDP window trace, thresholds, competition and spike counts.

use burn::tensor::{Device, Tensor, TensorData};

use super::competition::{pointwise_inhibition, select_top_k, select_winners};
use super::config::{SleepConfig, Winners};
use crate::error::SpikingError;
use crate::layers::read_f32;
use crate::neuron::ResetMode;

/// Reads a one-value tensor to the host.
pub(super) fn read_scalar(tensor: Tensor<1>, name: &str) -> Result<f64, SpikingError> {
    let values = read_f32(tensor.into_data(), name)?;
    Ok(values.first().copied().map_or(0.0, f64::from))
}

/// The steps since each neuron last fired, capped at the STDP window.
#[derive(Debug, Clone)]
pub(super) struct Trace<const D: usize> {
    age: Tensor<D>,
    window: f32,
}

impl<const D: usize> Trace<D> {
    pub(super) fn new(shape: [usize; D], window: usize, device: &Device) -> Self {
        let window = window as f32;
        Self {
            age: Tensor::full(shape, window, device),
            window,
        }
    }

    pub(super) fn restart(&mut self) {
        self.age = self.age.zeros_like().add_scalar(self.window);
    }

    /// Records this step's spikes and returns 1.0 where a neuron fired within the window.
    pub(super) fn update(&mut self, spikes: &Tensor<D>) -> Tensor<D> {
        let silent = spikes.clone().neg().add_scalar(1.0);
        self.age = (self.age.clone().add_scalar(1.0) * silent).clamp_max(self.window);
        self.age.clone().lower_elem(self.window).float()
    }
}

/// Competition between the neurons of one layer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Competition {
    None,
    Spatial {
        winners: Winners,
        pointwise_inhibition: bool,
    },
    TopK(usize),
}

/// A layer of IF neurons during sleep, with batch 1.
#[derive(Debug, Clone)]
pub(super) struct Neurons<const D: usize> {
    name: &'static str,
    v_threshold: f32,
    reset: ResetMode,
    v: Tensor<D>,
    pub(super) trace: Trace<D>,
    competition: Competition,
    input_spikes: Tensor<1>,
    pub(super) total_spikes: u64,
    pub(super) silent_inputs: usize,
}

impl<const D: usize> Neurons<D> {
    pub(super) fn new(
        name: &'static str,
        v_threshold: f32,
        shape: [usize; D],
        config: &SleepConfig,
        competition: Competition,
        device: &Device,
    ) -> Self {
        Self {
            name,
            v_threshold,
            reset: config.reset,
            v: Tensor::zeros(shape, device),
            trace: Trace::new(shape, config.stdp.window, device),
            competition,
            input_spikes: Tensor::zeros([1], device),
            total_spikes: 0,
            silent_inputs: 0,
        }
    }

    pub(super) fn size(&self) -> usize {
        self.v.dims().iter().product()
    }

    pub(super) fn restart(&mut self) {
        self.v = self.v.zeros_like();
        self.trace.restart();
        self.input_spikes = self.input_spikes.zeros_like();
    }

    /// Charges the neurons with `current`, fires and resets them, and returns the spikes and
    /// the neurons that learn this step (the spikes, or the winners under competition).
    pub(super) fn step(
        &mut self,
        current: Tensor<D>,
    ) -> Result<(Tensor<D>, Tensor<D>), SpikingError> {
        let v = self.v.clone() + current;
        let (spikes, learners) = match self.competition {
            Competition::None => {
                let fired = v.clone().greater_equal_elem(self.v_threshold);
                let spikes = fired.clone().float();
                self.v = match self.reset {
                    ResetMode::Subtract => v - spikes.clone().mul_scalar(self.v_threshold),
                    ResetMode::Zero => v.mask_fill(fired, 0.0),
                };
                (spikes.clone(), spikes)
            }
            competition => self.step_on_host(v, competition)?,
        };
        self.input_spikes = self.input_spikes.clone() + spikes.clone().sum();
        Ok((spikes, learners))
    }

    /// Fires with competition: the potentials go to the host, where point-wise inhibition and
    /// winner selection run, and the spikes, learners and new potentials come back.
    fn step_on_host(
        &mut self,
        v: Tensor<D>,
        competition: Competition,
    ) -> Result<(Tensor<D>, Tensor<D>), SpikingError> {
        let shape = v.dims();
        let device = v.device();
        let mut potentials = read_f32(v.into_data(), self.name)?;
        // Batch 1: the layer is [1, channels, height, width] or [1, features].
        let layout = match D {
            4 => [shape[1], shape[2], shape[3]],
            _ => [potentials.len(), 1, 1],
        };
        let (spikes, chosen) = match competition {
            Competition::Spatial {
                winners,
                pointwise_inhibition: true,
            } => {
                let spikes = pointwise_inhibition(&potentials, layout, self.v_threshold);
                let chosen = select_winners(&potentials, &spikes, layout, winners);
                (spikes, chosen)
            }
            Competition::Spatial { winners, .. } => {
                let spikes = self.threshold(&potentials);
                let chosen = select_winners(&potentials, &spikes, layout, winners);
                (spikes, chosen)
            }
            Competition::TopK(k) => {
                let spikes = self.threshold(&potentials);
                let chosen = select_top_k(&potentials, &spikes, k);
                (spikes, chosen)
            }
            Competition::None => {
                let spikes = self.threshold(&potentials);
                let chosen = (0..spikes.len()).filter(|&i| spikes[i]).collect();
                (spikes, chosen)
            }
        };

        if let Competition::Spatial {
            pointwise_inhibition: true,
            ..
        } = competition
        {
            silence_other_maps(&mut potentials, &spikes, layout);
        }
        for (v, &fired) in potentials.iter_mut().zip(&spikes) {
            if fired {
                *v = match self.reset {
                    ResetMode::Subtract => *v - self.v_threshold,
                    ResetMode::Zero => 0.0,
                };
            }
        }
        let mut learners = vec![0.0f32; spikes.len()];
        for index in chosen {
            learners[index] = 1.0;
        }
        let spikes: Vec<f32> = spikes.into_iter().map(f32::from).collect();

        self.v = Tensor::from_data(TensorData::new(potentials, shape), &device);
        Ok((
            Tensor::from_data(TensorData::new(spikes, shape), &device),
            Tensor::from_data(TensorData::new(learners, shape), &device),
        ))
    }

    fn threshold(&self, potentials: &[f32]) -> Vec<bool> {
        potentials.iter().map(|&v| v >= self.v_threshold).collect()
    }

    /// Reads this input's spike count, adds it to the total and returns the firing rate.
    pub(super) fn finish_input(&mut self, steps: usize) -> Result<f64, SpikingError> {
        let count = read_scalar(self.input_spikes.clone(), self.name)?;
        let count = count.round().max(0.0) as u64;
        self.total_spikes += count;
        if count == 0 {
            self.silent_inputs += 1;
        } else {
            self.silent_inputs = 0;
        }
        Ok(count as f64 / (self.size() * steps) as f64)
    }
}

/// Sets to 0 the potentials of the other feature maps at each position where a map fired.
fn silence_other_maps(potentials: &mut [f32], spikes: &[bool], layout: [usize; 3]) {
    let [channels, height, width] = layout;
    let plane = height * width;
    for position in 0..plane {
        let fired = (0..channels).any(|channel| spikes[channel * plane + position]);
        if fired {
            for channel in 0..channels {
                let index = channel * plane + position;
                if !spikes[index] {
                    potentials[index] = 0.0;
                }
            }
        }
    }
}

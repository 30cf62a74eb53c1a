//! The encoder choice ([`Encoder`]) and the streaming encoder itself ([`SpikeEncoder`]).

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::EncodingError;

/// The way pixel values in `[0, 1]` become inputs of a spiking network.
///
/// Serialised with a `kind` tag, for example `{"kind": "bernoulli", "max_rate": 1.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoder {
    /// A spike with probability `p = x * max_rate` at every step, independently over steps.
    Bernoulli {
        /// Spike probability per step of a pixel at 1.0, in `[0, 1]`. Default: 1.0.
        max_rate: f32,
    },
    /// Poisson spikes at rate `x * max_frequency_hz`, sampled per step with probability
    /// `p = min(1, x * max_frequency_hz * dt_s)`.
    Poisson {
        /// Firing rate of a pixel at 1.0, in hertz (0 or more).
        max_frequency_hz: f32,
        /// Duration of one time step, in seconds (0 or more).
        dt_s: f32,
    },
    /// The analog pixel value injected as a current at every step. The output is not binary.
    ConstantCurrent,
    /// One spike per pixel at step `t = round((1 - x) * (T - 1))`, and none for `x = 0`.
    Latency,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::Bernoulli { max_rate: 1.0 }
    }
}

impl Encoder {
    /// Checks the encoder parameters.
    ///
    /// # Errors
    ///
    /// [`EncodingError::InvalidMaxRate`] for a Bernoulli `max_rate` outside `[0, 1]` or NaN;
    /// [`EncodingError::InvalidMaxFrequency`] or [`EncodingError::InvalidTimeStep`] for a
    /// negative or non-finite Poisson parameter.
    pub fn validate(&self) -> Result<(), EncodingError> {
        match *self {
            Self::Bernoulli { max_rate } => {
                if !(0.0..=1.0).contains(&max_rate) {
                    return Err(EncodingError::InvalidMaxRate { max_rate });
                }
            }
            Self::Poisson {
                max_frequency_hz,
                dt_s,
            } => {
                if !max_frequency_hz.is_finite() || max_frequency_hz < 0.0 {
                    return Err(EncodingError::InvalidMaxFrequency { max_frequency_hz });
                }
                if !dt_s.is_finite() || dt_s < 0.0 {
                    return Err(EncodingError::InvalidTimeStep { dt_s });
                }
            }
            Self::ConstantCurrent | Self::Latency => {}
        }
        Ok(())
    }

    /// Returns true when the encoder outputs analog values instead of binary spikes
    /// (only [`Encoder::ConstantCurrent`]).
    pub fn is_analog(&self) -> bool {
        matches!(self, Self::ConstantCurrent)
    }
}

/// Per-pixel data that the encoder keeps between steps; its size does not depend on `T`.
#[derive(Debug, Clone)]
enum Source {
    /// Spike probability per step of every pixel (Bernoulli and Poisson).
    Probability(Vec<f32>),
    /// The input itself, already on the device (constant current).
    Analog(Box<Tensor<4>>),
    /// The step at which each pixel fires, or `None` for a pixel that never fires (latency).
    SpikeStep(Vec<Option<usize>>),
}

/// A streaming encoder: it produces one `[batch, channels, height, width]` tensor per step.
///
/// It keeps per-pixel data and a random number generator, never the whole train, so memory does
/// not depend on the number of time steps. [`SpikeEncoder::reset`] restarts it at step 0 with
/// its seed, so it then repeats the same train. It also implements [`Iterator`], which yields
/// exactly `time_steps` tensors.
///
/// # Shapes
///
/// - input: `[batch, channels, height, width]`, values in `[0, 1]`
/// - each step: `[batch, channels, height, width]`, values 0.0 or 1.0 (spikes), or the input
///   values for [`Encoder::ConstantCurrent`]
/// - [`SpikeEncoder::spike_train`]: `[time_steps, batch, channels, height, width]`
#[derive(Debug, Clone)]
pub struct SpikeEncoder {
    encoder: Encoder,
    dims: [usize; 4],
    device: Device,
    time_steps: usize,
    seed: u64,
    step: usize,
    rng: StdRng,
    source: Source,
}

impl SpikeEncoder {
    /// Builds an encoder for `input` that runs for `time_steps` steps.
    ///
    /// The input is copied to the host once to check its range and to precompute per-pixel
    /// probabilities or spike steps. Every step is built on the host and moved to the input's
    /// device.
    ///
    /// # Shapes
    ///
    /// - `input`: `[batch, channels, height, width]`, values in `[0, 1]`
    ///
    /// # Errors
    ///
    /// [`EncodingError::ZeroTimeSteps`] for `time_steps = 0`, the errors of
    /// [`Encoder::validate`], [`EncodingError::InputNan`] or [`EncodingError::InputOutOfRange`]
    /// for the first invalid input value, and [`EncodingError::DataRead`] when the input cannot
    /// be read back from its device.
    pub fn new(
        encoder: Encoder,
        input: Tensor<4>,
        time_steps: usize,
        seed: u64,
    ) -> Result<Self, EncodingError> {
        if time_steps == 0 {
            return Err(EncodingError::ZeroTimeSteps);
        }
        encoder.validate()?;

        let dims = input.dims();
        let device = input.device();
        let values = input
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|error| EncodingError::DataRead {
                message: format!("{error:?}"),
            })?;
        check_range(&values)?;

        let source = match encoder {
            Encoder::Bernoulli { max_rate } => {
                Source::Probability(values.iter().map(|&x| x * max_rate).collect())
            }
            Encoder::Poisson {
                max_frequency_hz,
                dt_s,
            } => Source::Probability(
                values
                    .iter()
                    .map(|&x| (x * max_frequency_hz * dt_s).min(1.0))
                    .collect(),
            ),
            Encoder::ConstantCurrent => Source::Analog(Box::new(input)),
            Encoder::Latency => Source::SpikeStep(
                values
                    .iter()
                    .map(|&x| latency_step(x, time_steps))
                    .collect(),
            ),
        };

        Ok(Self {
            encoder,
            dims,
            device,
            time_steps,
            seed,
            step: 0,
            rng: StdRng::seed_from_u64(seed),
            source,
        })
    }

    /// Returns the encoder choice.
    pub fn encoder(&self) -> Encoder {
        self.encoder
    }

    /// Returns the number of steps `T` that the encoder produces.
    pub fn time_steps(&self) -> usize {
        self.time_steps
    }

    /// Returns the number of steps produced since construction or the last reset.
    pub fn current_step(&self) -> usize {
        self.step
    }

    /// Returns the seed of the random number generator.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Returns the shape `[batch, channels, height, width]` of every step.
    pub fn dims(&self) -> [usize; 4] {
        self.dims
    }

    /// Returns the device that the steps are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Returns true when the steps contain analog values instead of spikes.
    pub fn is_analog(&self) -> bool {
        self.encoder.is_analog()
    }

    /// Restarts the encoder at step 0 and reseeds it, so that it repeats the same train.
    pub fn reset(&mut self) {
        self.step = 0;
        self.rng = StdRng::seed_from_u64(self.seed);
    }

    /// Produces the next step, or `None` after `time_steps` steps.
    ///
    /// Bernoulli and Poisson draw one uniform number per pixel in row-major order, and a pixel
    /// fires when that number is below its probability.
    ///
    /// # Shapes
    ///
    /// - output: `[batch, channels, height, width]`
    pub fn next_step(&mut self) -> Option<Tensor<4>> {
        if self.step >= self.time_steps {
            return None;
        }
        let step = self.step;
        self.step += 1;

        let values: Vec<f32> = match &self.source {
            Source::Analog(input) => return Some(input.as_ref().clone()),
            Source::Probability(probabilities) => probabilities
                .iter()
                .map(|&p| spike_value(self.rng.random::<f32>() < p))
                .collect(),
            Source::SpikeStep(steps) => steps
                .iter()
                .map(|&fire_at| spike_value(fire_at == Some(step)))
                .collect(),
        };
        Some(Tensor::from_data(
            TensorData::new(values, self.dims),
            &self.device,
        ))
    }

    /// Materialises the whole train from step 0 and leaves the encoder reset.
    ///
    /// This stores all `time_steps` steps at once; simulations should call
    /// [`SpikeEncoder::next_step`] instead.
    ///
    /// # Shapes
    ///
    /// - output: `[time_steps, batch, channels, height, width]`
    pub fn spike_train(&mut self) -> Tensor<5> {
        self.reset();
        let steps: Vec<Tensor<4>> = std::iter::from_fn(|| self.next_step()).collect();
        self.reset();
        Tensor::stack(steps, 0)
    }
}

impl Iterator for SpikeEncoder {
    type Item = Tensor<4>;

    fn next(&mut self) -> Option<Tensor<4>> {
        self.next_step()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.time_steps - self.step;
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for SpikeEncoder {}

fn spike_value(fires: bool) -> f32 {
    if fires { 1.0 } else { 0.0 }
}

/// Returns the latency spike step `round((1 - x) * (T - 1))`, or `None` for `x = 0`.
fn latency_step(x: f32, time_steps: usize) -> Option<usize> {
    if x == 0.0 {
        return None;
    }
    let last_step = (time_steps - 1) as f64;
    Some(((1.0 - f64::from(x)) * last_step).round() as usize)
}

fn check_range(values: &[f32]) -> Result<(), EncodingError> {
    for (index, &value) in values.iter().enumerate() {
        if value.is_nan() {
            return Err(EncodingError::InputNan { index });
        }
        if !(0.0..=1.0).contains(&value) {
            return Err(EncodingError::InputOutOfRange { index, value });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(values: Vec<f32>, dims: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, dims), &Device::flex())
    }

    fn host(tensor: Tensor<4>) -> Vec<f32> {
        tensor
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("f32 tensor data")
    }

    #[test]
    fn latency_step_rounds() {
        // T = 5: (1 - x) * 4 for x = 1, 0.5, 0.25, 0.1 is 0, 2, 3, 3.6.
        assert_eq!(latency_step(1.0, 5), Some(0));
        assert_eq!(latency_step(0.5, 5), Some(2));
        assert_eq!(latency_step(0.25, 5), Some(3));
        assert_eq!(latency_step(0.1, 5), Some(4));
        assert_eq!(latency_step(0.0, 5), None);
        assert_eq!(latency_step(0.3, 1), Some(0));
    }

    #[test]
    fn encoder_validate_rejects_parameters() {
        assert_eq!(
            Encoder::Bernoulli { max_rate: 1.5 }.validate(),
            Err(EncodingError::InvalidMaxRate { max_rate: 1.5 })
        );
        assert!(matches!(
            Encoder::Bernoulli { max_rate: f32::NAN }.validate(),
            Err(EncodingError::InvalidMaxRate { .. })
        ));
        assert_eq!(
            Encoder::Poisson {
                max_frequency_hz: -1.0,
                dt_s: 0.001
            }
            .validate(),
            Err(EncodingError::InvalidMaxFrequency {
                max_frequency_hz: -1.0
            })
        );
        assert_eq!(
            Encoder::Poisson {
                max_frequency_hz: 100.0,
                dt_s: -0.001
            }
            .validate(),
            Err(EncodingError::InvalidTimeStep { dt_s: -0.001 })
        );
        assert_eq!(Encoder::default().validate(), Ok(()));
    }

    #[test]
    fn new_rejects_invalid_input() {
        let out_of_range = image(vec![0.0, 0.5, 1.25, 0.0], [1, 1, 2, 2]);
        let error = SpikeEncoder::new(Encoder::default(), out_of_range, 4, 0).expect_err("1.25");
        assert_eq!(
            error,
            EncodingError::InputOutOfRange {
                index: 2,
                value: 1.25
            }
        );

        let negative = image(vec![-0.5, 0.5], [1, 1, 1, 2]);
        let error = SpikeEncoder::new(Encoder::Latency, negative, 4, 0).expect_err("-0.5");
        assert_eq!(
            error,
            EncodingError::InputOutOfRange {
                index: 0,
                value: -0.5
            }
        );

        let nan = image(vec![0.5, f32::NAN], [1, 1, 1, 2]);
        let error = SpikeEncoder::new(Encoder::ConstantCurrent, nan, 4, 0).expect_err("NaN");
        assert_eq!(error, EncodingError::InputNan { index: 1 });

        let valid = image(vec![0.5, 0.5], [1, 1, 1, 2]);
        let error = SpikeEncoder::new(Encoder::default(), valid, 0, 0).expect_err("T = 0");
        assert_eq!(error, EncodingError::ZeroTimeSteps);
    }

    #[test]
    fn encoder_stops_after_time_steps() {
        let input = image(vec![1.0; 4], [1, 1, 2, 2]);
        let mut encoder = SpikeEncoder::new(Encoder::default(), input, 3, 1).expect("valid");
        assert_eq!(encoder.len(), 3);
        assert!(encoder.next_step().is_some());
        assert_eq!(encoder.current_step(), 1);
        assert!(encoder.next_step().is_some());
        assert!(encoder.next_step().is_some());
        assert!(encoder.next_step().is_none());
        encoder.reset();
        assert_eq!(encoder.current_step(), 0);
        assert_eq!(encoder.count(), 3);
    }

    #[test]
    fn bernoulli_extremes_are_deterministic() {
        // p = 1 always fires (a uniform draw in [0, 1) is below 1), p = 0 never fires.
        let input = image(vec![1.0, 0.0, 1.0, 0.0], [1, 1, 2, 2]);
        let encoder = SpikeEncoder::new(Encoder::default(), input, 4, 9).expect("valid");
        for step in encoder {
            assert_eq!(host(step), vec![1.0, 0.0, 1.0, 0.0]);
        }
    }

    #[test]
    fn constant_current_repeats_input() {
        let values = vec![0.0, 0.25, 0.5, 1.0];
        let input = image(values.clone(), [1, 1, 2, 2]);
        let encoder = SpikeEncoder::new(Encoder::ConstantCurrent, input, 3, 0).expect("valid");
        assert!(encoder.is_analog());
        let steps: Vec<Vec<f32>> = encoder.map(host).collect();
        assert_eq!(steps, vec![values.clone(), values.clone(), values]);
    }

    #[test]
    fn encoder_serde_round_trip() {
        let encoder = Encoder::Poisson {
            max_frequency_hz: 239.5,
            dt_s: 0.001,
        };
        let json = serde_json::to_string(&encoder).expect("serialise");
        assert_eq!(
            json,
            r#"{"kind":"poisson","max_frequency_hz":239.5,"dt_s":0.001}"#
        );
        let back: Encoder = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, encoder);
    }
}

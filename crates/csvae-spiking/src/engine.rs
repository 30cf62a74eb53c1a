//! The seam between the simulation loop and the computation of its layer steps.
//!
//! A simulation phase (the encoder or the decoder) is a stack of IF populations. The first is
//! driven by input spikes or an analog input through a synaptic layer, or by a fixed current.
//! Each further population is driven by the spikes of the one before it. The
//! simulation builds a [`StackPlan`] and advances it through [`LayerStack`], which runs it on
//! the dense path (burn tensors, any device) or the event-driven path (host buffers, CPU).

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::SpikingError;
use crate::event::{
    EventLayer, EventNeurons, SpikeEvents, channels_last_tensor, tensor_channels_last,
};
use crate::layers::{SpikingConv2d, SpikingConvTranspose2d};
use crate::neuron::{IfParams, IfState, InitialMembrane};
use crate::statistics::SpikeCounter;

/// The implementation that advances the spiking layers of a simulation.
///
/// Both paths compute the same equations and the same statistics. They differ in the order of
/// float sums, so currents agree to rounding (see [`crate::event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionPath {
    /// The event-driven path on the CPU backends `flex` and `ndarray`, the dense path on any
    /// other device. Default.
    #[default]
    Auto,
    /// Full tensor operations on the burn device at every step, whatever the number of spikes.
    Dense,
    /// One weight column added per input spike, on host buffers and rayon's thread pool. On a
    /// GPU device it still works, but copies every input step to the host and the readouts back.
    EventDriven,
}

impl ExecutionPath {
    /// Returns [`ExecutionPath::Dense`] or [`ExecutionPath::EventDriven`]: the path itself, or
    /// for [`ExecutionPath::Auto`] the one chosen for `device`.
    pub fn resolve(self, device: &Device) -> Self {
        match self {
            Self::Auto if is_cpu_device(device) => Self::EventDriven,
            Self::Auto => Self::Dense,
            path => path,
        }
    }
}

/// Checks whether the device runs on the burn CPU backends flex or ndarray.
///
/// burn 0.22's `Device` names its backend only in its `Debug` output, such as
/// `Device<Flex(..)>`. A device with autodiff enabled prints `Device<Autodiff { .. }>` and
/// counts as not a CPU device here.
fn is_cpu_device(device: &Device) -> bool {
    let name = format!("{device:?}");
    name.starts_with("Device<Flex") || name.starts_with("Device<NdArray")
}

/// A synaptic layer that turns the spikes of one population into the current of the next.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Synapse<'a> {
    Conv(&'a SpikingConv2d),
    ConvTranspose(&'a SpikingConvTranspose2d),
}

impl Synapse<'_> {
    fn current(self, input: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Conv(layer) => layer.current(input),
            Self::ConvTranspose(layer) => layer.current(input),
        }
    }

    fn event_layer(self, input_size: [usize; 2]) -> Result<EventLayer, SpikingError> {
        match self {
            Self::Conv(layer) => EventLayer::conv2d(layer, input_size),
            Self::ConvTranspose(layer) => EventLayer::conv_transpose2d(layer, input_size),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Conv(_) => "convolution",
            Self::ConvTranspose(_) => "transposed convolution",
        }
    }
}

/// The input of the first population of a stack.
#[derive(Debug, Clone)]
pub(crate) enum Drive<'a> {
    /// Binary input spikes through a synaptic layer, a new tensor at every step.
    Spikes(Synapse<'a>),
    /// An analog input that does not change over the steps, through a synaptic layer: its
    /// current is computed with tensor operations at the first step and reused.
    Analog(Synapse<'a>),
    /// A current fixed in advance, `[batch, channels, height, width]`.
    Current(Box<Tensor<4>>),
}

/// A population of IF neurons in a stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Population {
    /// Name used in error messages, such as `conv1`.
    pub(crate) name: &'static str,
    pub(crate) params: IfParams,
    /// `[channels, height, width]` of one image.
    pub(crate) shape: [usize; 3],
}

/// Everything a [`LayerStack`] needs to run one phase.
#[derive(Debug, Clone)]
pub(crate) struct StackPlan<'a> {
    pub(crate) batch: usize,
    /// `[channels, height, width]` of one image of the input (unused for a fixed current).
    pub(crate) input_shape: [usize; 3],
    pub(crate) drive: Drive<'a>,
    pub(crate) first: Population,
    /// The further populations, each with the synaptic layer that feeds it.
    pub(crate) rest: Vec<(Synapse<'a>, Population)>,
    pub(crate) initial: InitialMembrane,
    pub(crate) device: Device,
}

impl StackPlan<'_> {
    fn populations(&self) -> impl Iterator<Item = &Population> {
        std::iter::once(&self.first).chain(self.rest.iter().map(|(_, population)| population))
    }

    fn dims(&self, shape: [usize; 3]) -> [usize; 4] {
        [self.batch, shape[0], shape[1], shape[2]]
    }
}

/// Spike counts and readout sum of a finished stack.
#[derive(Debug)]
pub(crate) struct StackRecord {
    /// Input spikes per input position `[height, width]`, or `None` for analog input.
    pub(crate) input_counts: Option<Vec<u64>>,
    /// Spikes of each population per position `[height, width]`, summed over batch, channels
    /// and steps.
    pub(crate) layer_counts: Vec<Vec<u64>>,
    /// Spikes of the last population summed over the readout steps,
    /// `[batch, channels, height, width]`, or `None` when no step was accumulated.
    pub(crate) readout_sum: Option<Tensor<4>>,
}

/// A stack of populations on one execution path.
#[derive(Debug)]
pub(crate) enum LayerStack<'a> {
    Dense(Box<DenseStack<'a>>),
    Event(Box<EventStack<'a>>),
}

impl<'a> LayerStack<'a> {
    /// Prepares the stack on `path` (resolved for the plan's device when it is `Auto`).
    ///
    /// # Errors
    ///
    /// On the event-driven path, [`SpikingError::Geometry`] for a layer that gives no output
    /// and [`SpikingError::DataRead`] when weights cannot be read to the host.
    pub(crate) fn new(plan: StackPlan<'a>, path: ExecutionPath) -> Result<Self, SpikingError> {
        Ok(match path.resolve(&plan.device) {
            ExecutionPath::EventDriven => Self::Event(Box::new(EventStack::new(plan)?)),
            _ => Self::Dense(Box::new(DenseStack::new(plan))),
        })
    }

    /// Advances every population by one step, and adds the last one's spikes to the readout
    /// sum when `accumulate_readout` is set.
    ///
    /// # Panics
    ///
    /// Panics when `input` is `None` for a stack driven by spikes or an analog input.
    pub(crate) fn step(
        &mut self,
        input: Option<Tensor<4>>,
        accumulate_readout: bool,
    ) -> Result<(), SpikingError> {
        match self {
            Self::Dense(stack) => stack.step(input, accumulate_readout),
            Self::Event(stack) => stack.step(input, accumulate_readout),
        }
    }

    /// Returns the spike counts and the readout sum.
    pub(crate) fn finish(self) -> Result<StackRecord, SpikingError> {
        match self {
            Self::Dense(stack) => stack.finish(),
            Self::Event(stack) => Ok(stack.finish()),
        }
    }
}

/// The dense path: every step is a full tensor operation on the burn device.
#[derive(Debug)]
pub(crate) struct DenseStack<'a> {
    drive: Drive<'a>,
    /// The first population's current when it does not change over the steps.
    fixed_current: Option<Tensor<4>>,
    synapses: Vec<Synapse<'a>>,
    params: Vec<IfParams>,
    states: Vec<IfState<4>>,
    input_counter: Option<SpikeCounter>,
    counters: Vec<SpikeCounter>,
    readout_sum: Option<Tensor<4>>,
}

impl<'a> DenseStack<'a> {
    fn new(plan: StackPlan<'a>) -> Self {
        let mut params = Vec::new();
        let mut states = Vec::new();
        let mut counters = Vec::new();
        for population in plan.populations() {
            let dims = plan.dims(population.shape);
            params.push(population.params);
            states.push(
                population
                    .params
                    .init_state(dims, plan.initial, &plan.device),
            );
            counters.push(SpikeCounter::new(
                &format!("{} spikes", population.name),
                dims,
            ));
        }
        let input_counter = matches!(plan.drive, Drive::Spikes(_))
            .then(|| SpikeCounter::new("input spikes", plan.dims(plan.input_shape)));
        let fixed_current = match &plan.drive {
            Drive::Current(current) => Some(current.as_ref().clone()),
            Drive::Spikes(_) | Drive::Analog(_) => None,
        };
        Self {
            drive: plan.drive,
            fixed_current,
            synapses: plan.rest.iter().map(|(synapse, _)| *synapse).collect(),
            params,
            states,
            input_counter,
            counters,
            readout_sum: None,
        }
    }

    fn step(
        &mut self,
        input: Option<Tensor<4>>,
        accumulate_readout: bool,
    ) -> Result<(), SpikingError> {
        let current = match (&self.drive, &mut self.input_counter) {
            (Drive::Spikes(synapse), Some(counter)) => {
                let input = input.expect("a stack driven by spikes needs an input at every step");
                counter.add(input.clone())?;
                synapse.current(input)
            }
            (Drive::Analog(synapse), _) => self
                .fixed_current
                .get_or_insert_with(|| {
                    synapse.current(input.expect("an analog stack needs an input at every step"))
                })
                .clone(),
            _ => self
                .fixed_current
                .clone()
                .expect("a stack with a fixed current stores it at construction"),
        };

        let mut spikes = self.params[0].step(&mut self.states[0], current);
        self.counters[0].add(spikes.clone())?;
        for (index, synapse) in self.synapses.iter().enumerate() {
            let layer = index + 1;
            let current = synapse.current(spikes);
            spikes = self.params[layer].step(&mut self.states[layer], current);
            self.counters[layer].add(spikes.clone())?;
        }

        if accumulate_readout {
            self.readout_sum = Some(match self.readout_sum.take() {
                Some(sum) => sum + spikes,
                None => spikes,
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<StackRecord, SpikingError> {
        let input_counts = self.input_counter.map(SpikeCounter::finish).transpose()?;
        let layer_counts = self
            .counters
            .into_iter()
            .map(SpikeCounter::finish)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StackRecord {
            input_counts,
            layer_counts,
            readout_sum: self.readout_sum,
        })
    }
}

/// The event-driven path: host buffers in channels-last layout, one weight column per spike.
#[derive(Debug)]
pub(crate) struct EventStack<'a> {
    drive: Drive<'a>,
    device: Device,
    /// The event layer of a spike-driven first population.
    input_layer: Option<EventLayer>,
    input_events: SpikeEvents,
    input_counts: Option<Vec<u64>>,
    /// The first population's current, channels-last, when it does not change over the steps.
    fixed_current: Option<Vec<f32>>,
    /// The event layer feeding population `i + 1`.
    layers: Vec<EventLayer>,
    neurons: Vec<EventNeurons>,
    /// The spikes of each population at the running step.
    spikes: Vec<SpikeEvents>,
    counts: Vec<Vec<u64>>,
    /// Spikes of the last population per neuron, channels-last, over the readout steps.
    readout_counts: Vec<u32>,
    readout_steps: usize,
}

impl<'a> EventStack<'a> {
    fn new(plan: StackPlan<'a>) -> Result<Self, SpikingError> {
        let input_dims = plan.dims(plan.input_shape);
        let input_size = [plan.input_shape[1], plan.input_shape[2]];
        let (input_layer, input_counts) = match plan.drive {
            Drive::Spikes(synapse) => (
                Some(checked_event_layer(synapse, input_size, &plan.first)?),
                Some(vec![0; input_size[0] * input_size[1]]),
            ),
            Drive::Analog(_) | Drive::Current(_) => (None, None),
        };
        let fixed_current = match &plan.drive {
            Drive::Current(current) => Some(tensor_channels_last(
                current.as_ref().clone(),
                plan.first.name,
            )?),
            Drive::Spikes(_) | Drive::Analog(_) => None,
        };

        let mut layers = Vec::new();
        let mut input_size = [plan.first.shape[1], plan.first.shape[2]];
        for (synapse, population) in &plan.rest {
            layers.push(checked_event_layer(*synapse, input_size, population)?);
            input_size = [population.shape[1], population.shape[2]];
        }

        let mut neurons = Vec::new();
        let mut spikes = Vec::new();
        let mut counts = Vec::new();
        for population in plan.populations() {
            let dims = plan.dims(population.shape);
            neurons.push(EventNeurons::new(population.params, dims, plan.initial));
            spikes.push(SpikeEvents::new(dims));
            counts.push(vec![0; population.shape[1] * population.shape[2]]);
        }
        let last = spikes
            .last()
            .map_or(0, |events| events.shape().iter().product());

        Ok(Self {
            drive: plan.drive,
            device: plan.device,
            input_layer,
            input_events: SpikeEvents::new(input_dims),
            input_counts,
            fixed_current,
            layers,
            neurons,
            spikes,
            counts,
            readout_counts: vec![0; last],
            readout_steps: 0,
        })
    }

    fn step(
        &mut self,
        input: Option<Tensor<4>>,
        accumulate_readout: bool,
    ) -> Result<(), SpikingError> {
        match &self.drive {
            Drive::Spikes(_) => {
                let input = input.expect("a stack driven by spikes needs an input at every step");
                self.input_events.fill_from_tensor(input)?;
                if let Some(counts) = &mut self.input_counts {
                    self.input_events.add_position_counts(counts);
                }
                let layer = self
                    .input_layer
                    .as_ref()
                    .expect("a spike-driven stack builds its input layer at construction");
                self.neurons[0].step(layer, &self.input_events, &mut self.spikes[0]);
            }
            Drive::Analog(synapse) => {
                if self.fixed_current.is_none() {
                    // Analog input: a dense MAC pass once, as on the dense path.
                    let input = input.expect("an analog stack needs an input at every step");
                    let current = synapse.current(input);
                    self.fixed_current = Some(tensor_channels_last(current, "analog current")?);
                }
                let current = self
                    .fixed_current
                    .as_deref()
                    .expect("the analog current is stored above");
                self.neurons[0].step_with_current(current, &mut self.spikes[0]);
            }
            Drive::Current(_) => {
                let current = self
                    .fixed_current
                    .as_deref()
                    .expect("a stack with a fixed current stores it at construction");
                self.neurons[0].step_with_current(current, &mut self.spikes[0]);
            }
        }
        self.spikes[0].add_position_counts(&mut self.counts[0]);

        for (index, layer) in self.layers.iter().enumerate() {
            let population = index + 1;
            let (before, after) = self.spikes.split_at_mut(population);
            self.neurons[population].step(layer, &before[index], &mut after[0]);
            after[0].add_position_counts(&mut self.counts[population]);
        }

        if accumulate_readout && let Some(last) = self.spikes.last() {
            let [batch, channels, height, width] = last.shape();
            let per_image = channels * height * width;
            for image in 0..batch {
                let counts = &mut self.readout_counts[image * per_image..][..per_image];
                for &index in last.active(image) {
                    counts[index as usize] += 1;
                }
            }
            self.readout_steps += 1;
        }
        Ok(())
    }

    fn finish(self) -> StackRecord {
        let readout_sum = match (self.readout_steps, self.spikes.last()) {
            (1.., Some(last)) => {
                // Counts up to the number of steps are exact in f32 below 2^24 steps.
                let sums: Vec<f32> = self.readout_counts.iter().map(|&n| n as f32).collect();
                Some(channels_last_tensor(&sums, last.shape(), &self.device))
            }
            _ => None,
        };
        StackRecord {
            input_counts: self.input_counts,
            layer_counts: self.counts,
            readout_sum,
        }
    }
}

/// Builds the event layer of `synapse` and checks that its output matches `population`.
fn checked_event_layer(
    synapse: Synapse<'_>,
    input_size: [usize; 2],
    population: &Population,
) -> Result<EventLayer, SpikingError> {
    let layer = synapse.event_layer(input_size)?;
    assert_eq!(
        layer.output_shape(),
        population.shape,
        "{} {} does not produce the shape of population {}",
        synapse.name(),
        layer.name(),
        population.name
    );
    Ok(layer)
}

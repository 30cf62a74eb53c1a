//! Spiking layers against naive references: currents computed with plain loops, and SOP
//! counted by enumerating every synapse.

use burn::tensor::{Device, Tensor, TensorData};
use csvae_spiking::{SpikingConv2d, SpikingConvTranspose2d, SpikingError, SpikingLinear};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A tensor together with its host copy, row-major.
struct HostTensor<const D: usize> {
    values: Vec<f32>,
    dims: [usize; D],
}

impl<const D: usize> HostTensor<D> {
    fn uniform(rng: &mut StdRng, dims: [usize; D]) -> Self {
        let length = dims.iter().product();
        let values = (0..length)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        Self { values, dims }
    }

    fn binary(rng: &mut StdRng, dims: [usize; D], p: f64) -> Self {
        let length = dims.iter().product();
        let values = (0..length)
            .map(|_| if rng.random_bool(p) { 1.0 } else { 0.0 })
            .collect();
        Self { values, dims }
    }

    fn tensor(&self) -> Tensor<D> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), self.dims),
            &Device::flex(),
        )
    }
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 tensor data")
}

/// One geometry case: channels, kernel, stride, padding and input size.
#[derive(Debug, Clone, Copy)]
struct Case {
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    size: usize,
}

const CONV_CASES: [Case; 4] = [
    // conv0: k5 s1 p2, and conv1: k4 s2 p3 (the 16 -> ... border case), at reduced sizes.
    Case {
        in_channels: 2,
        out_channels: 3,
        kernel: 5,
        stride: 1,
        padding: 2,
        size: 7,
    },
    Case {
        in_channels: 2,
        out_channels: 3,
        kernel: 4,
        stride: 2,
        padding: 3,
        size: 10,
    },
    Case {
        in_channels: 3,
        out_channels: 2,
        kernel: 4,
        stride: 2,
        padding: 1,
        size: 8,
    },
    // An odd size where the last row and column are never read (floor in the output size).
    Case {
        in_channels: 1,
        out_channels: 2,
        kernel: 3,
        stride: 2,
        padding: 0,
        size: 8,
    },
];

const TRANSPOSE_CASES: [Case; 4] = [
    Case {
        in_channels: 3,
        out_channels: 2,
        kernel: 4,
        stride: 2,
        padding: 1,
        size: 4,
    },
    Case {
        in_channels: 2,
        out_channels: 3,
        kernel: 4,
        stride: 2,
        padding: 3,
        size: 6,
    },
    Case {
        in_channels: 2,
        out_channels: 1,
        kernel: 5,
        stride: 1,
        padding: 2,
        size: 6,
    },
    Case {
        in_channels: 1,
        out_channels: 2,
        kernel: 3,
        stride: 3,
        padding: 0,
        size: 3,
    },
];

const BATCH: usize = 2;

fn conv_output_size(case: Case) -> usize {
    (case.size + 2 * case.padding - case.kernel) / case.stride + 1
}

fn transpose_output_size(case: Case) -> usize {
    (case.size - 1) * case.stride + case.kernel - 2 * case.padding
}

/// Calls `visit(input_index, output_index, weight_index)` for every synapse of a convolution,
/// with indices into the row-major input [b, ci, y, x], output [b, co, oy, ox] and weight
/// [co, ci, ky, kx].
fn for_each_conv_synapse(case: Case, mut visit: impl FnMut(usize, usize, usize)) {
    let n = case.size;
    let out = conv_output_size(case);
    for b in 0..BATCH {
        for co in 0..case.out_channels {
            for oy in 0..out {
                for ox in 0..out {
                    for ci in 0..case.in_channels {
                        for ky in 0..case.kernel {
                            for kx in 0..case.kernel {
                                let y = (oy * case.stride + ky) as isize - case.padding as isize;
                                let x = (ox * case.stride + kx) as isize - case.padding as isize;
                                if y < 0 || x < 0 || y >= n as isize || x >= n as isize {
                                    continue;
                                }
                                let (y, x) = (y as usize, x as usize);
                                let input = ((b * case.in_channels + ci) * n + y) * n + x;
                                let output = ((b * case.out_channels + co) * out + oy) * out + ox;
                                let weight = ((co * case.in_channels + ci) * case.kernel + ky)
                                    * case.kernel
                                    + kx;
                                visit(input, output, weight);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// As [`for_each_conv_synapse`] for a transposed convolution with weight [ci, co, ky, kx]:
/// input (y, x) writes to output (y * stride + ky - padding, x * stride + kx - padding).
fn for_each_transpose_synapse(case: Case, mut visit: impl FnMut(usize, usize, usize)) {
    let n = case.size;
    let out = transpose_output_size(case);
    for b in 0..BATCH {
        for ci in 0..case.in_channels {
            for y in 0..n {
                for x in 0..n {
                    for co in 0..case.out_channels {
                        for ky in 0..case.kernel {
                            for kx in 0..case.kernel {
                                let oy = (y * case.stride + ky) as isize - case.padding as isize;
                                let ox = (x * case.stride + kx) as isize - case.padding as isize;
                                if oy < 0 || ox < 0 || oy >= out as isize || ox >= out as isize {
                                    continue;
                                }
                                let (oy, ox) = (oy as usize, ox as usize);
                                let input = ((b * case.in_channels + ci) * n + y) * n + x;
                                let output = ((b * case.out_channels + co) * out + oy) * out + ox;
                                let weight = ((ci * case.out_channels + co) * case.kernel + ky)
                                    * case.kernel
                                    + kx;
                                visit(input, output, weight);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn assert_close(actual: &[f32], expected: &[f32], context: &str) {
    assert_eq!(actual.len(), expected.len(), "{context}: length");
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-4,
            "{context}: index {index}: {a} vs {e}"
        );
    }
}

#[test]
fn conv2d_current_matches_naive_loop() {
    let mut rng = StdRng::seed_from_u64(1);
    for case in CONV_CASES {
        let weight = HostTensor::uniform(
            &mut rng,
            [
                case.out_channels,
                case.in_channels,
                case.kernel,
                case.kernel,
            ],
        );
        let bias = HostTensor::uniform(&mut rng, [case.out_channels]);
        let spikes = HostTensor::binary(
            &mut rng,
            [BATCH, case.in_channels, case.size, case.size],
            0.4,
        );
        let layer = SpikingConv2d::new(
            "conv",
            weight.tensor(),
            bias.tensor(),
            [case.stride; 2],
            [case.padding; 2],
        )
        .expect("valid layer");

        let out = conv_output_size(case);
        let per_channel = out * out;
        let mut expected: Vec<f32> = (0..BATCH * case.out_channels * per_channel)
            .map(|index| bias.values[(index / per_channel) % case.out_channels])
            .collect();
        for_each_conv_synapse(case, |input, output, w| {
            expected[output] += weight.values[w] * spikes.values[input];
        });

        let current = layer.current(spikes.tensor());
        assert_eq!(
            current.dims(),
            [BATCH, case.out_channels, out, out],
            "{case:?}"
        );
        assert_close(&host(current), &expected, &format!("{case:?}"));
    }
}

#[test]
fn conv_transpose2d_current_matches_naive_loop() {
    let mut rng = StdRng::seed_from_u64(2);
    for case in TRANSPOSE_CASES {
        let weight = HostTensor::uniform(
            &mut rng,
            [
                case.in_channels,
                case.out_channels,
                case.kernel,
                case.kernel,
            ],
        );
        let bias = HostTensor::uniform(&mut rng, [case.out_channels]);
        let spikes = HostTensor::binary(
            &mut rng,
            [BATCH, case.in_channels, case.size, case.size],
            0.4,
        );
        let layer = SpikingConvTranspose2d::new(
            "deconv",
            weight.tensor(),
            bias.tensor(),
            [case.stride; 2],
            [case.padding; 2],
        )
        .expect("valid layer");

        let out = transpose_output_size(case);
        let per_channel = out * out;
        let mut expected: Vec<f32> = (0..BATCH * case.out_channels * per_channel)
            .map(|index| bias.values[(index / per_channel) % case.out_channels])
            .collect();
        for_each_transpose_synapse(case, |input, output, w| {
            expected[output] += weight.values[w] * spikes.values[input];
        });

        let current = layer.current(spikes.tensor());
        assert_eq!(
            current.dims(),
            [BATCH, case.out_channels, out, out],
            "{case:?}"
        );
        assert_close(&host(current), &expected, &format!("{case:?}"));
    }
}

#[test]
fn linear_current_matches_naive_loop() {
    let mut rng = StdRng::seed_from_u64(3);
    let (inputs, outputs) = (6, 4);
    let weight = HostTensor::uniform(&mut rng, [inputs, outputs]);
    let bias = HostTensor::uniform(&mut rng, [outputs]);
    let spikes = HostTensor::binary(&mut rng, [BATCH, inputs], 0.5);
    let layer = SpikingLinear::new("fc", weight.tensor(), bias.tensor()).expect("valid layer");

    let mut expected = vec![0.0; BATCH * outputs];
    for b in 0..BATCH {
        for o in 0..outputs {
            expected[b * outputs + o] = bias.values[o];
            for i in 0..inputs {
                // burn's layout: weight[i, o] at i * outputs + o.
                expected[b * outputs + o] +=
                    spikes.values[b * inputs + i] * weight.values[i * outputs + o];
            }
        }
    }
    assert_close(&host(layer.current(spikes.tensor())), &expected, "linear");
}

#[test]
fn conv2d_sop_matches_brute_force() {
    let mut rng = StdRng::seed_from_u64(4);
    for case in CONV_CASES {
        let weight = Tensor::zeros(
            [
                case.out_channels,
                case.in_channels,
                case.kernel,
                case.kernel,
            ],
            &Device::flex(),
        );
        let bias = Tensor::zeros([case.out_channels], &Device::flex());
        let layer = SpikingConv2d::new("conv", weight, bias, [case.stride; 2], [case.padding; 2])
            .expect("valid");
        let spikes = HostTensor::binary(
            &mut rng,
            [BATCH, case.in_channels, case.size, case.size],
            0.3,
        );

        let mut sop = 0u64;
        let mut synapses = 0u64;
        for_each_conv_synapse(case, |input, _, _| {
            synapses += 1;
            sop += spikes.values[input] as u64;
        });

        assert_eq!(
            layer.synaptic_operations(spikes.tensor()).expect("sop"),
            sop,
            "{case:?}"
        );
        // MAC of one image: every synapse once (the brute force covered the whole batch).
        let fan_out = layer.fan_out([case.size; 2]).expect("fan-out");
        assert_eq!(fan_out.total() * BATCH as u64, synapses, "{case:?}");
    }
}

#[test]
fn conv_transpose2d_sop_matches_brute_force() {
    let mut rng = StdRng::seed_from_u64(5);
    for case in TRANSPOSE_CASES {
        let weight = Tensor::zeros(
            [
                case.in_channels,
                case.out_channels,
                case.kernel,
                case.kernel,
            ],
            &Device::flex(),
        );
        let bias = Tensor::zeros([case.out_channels], &Device::flex());
        let layer = SpikingConvTranspose2d::new(
            "deconv",
            weight,
            bias,
            [case.stride; 2],
            [case.padding; 2],
        )
        .expect("valid");
        let spikes = HostTensor::binary(
            &mut rng,
            [BATCH, case.in_channels, case.size, case.size],
            0.3,
        );

        let mut sop = 0u64;
        let mut synapses = 0u64;
        for_each_transpose_synapse(case, |input, _, _| {
            synapses += 1;
            sop += spikes.values[input] as u64;
        });

        assert_eq!(
            layer.synaptic_operations(spikes.tensor()).expect("sop"),
            sop,
            "{case:?}"
        );
        let fan_out = layer.fan_out([case.size; 2]).expect("fan-out");
        assert_eq!(fan_out.total() * BATCH as u64, synapses, "{case:?}");
    }
}

#[test]
fn fan_out_vae18_borders() {
    // deconv3 of VAE18, k4 s2 p3 from 16x16 to 28x28: input row 0 writes to rows 0 - 3 + k,
    // k = 0..4, of which only row 0 survives the crop, so its fan-out is 1 per axis.
    let weight = Tensor::zeros([1, 2, 4, 4], &Device::flex());
    let layer = SpikingConvTranspose2d::new(
        "deconv3",
        weight,
        Tensor::zeros([2], &Device::flex()),
        [2, 2],
        [3, 3],
    )
    .expect("valid");
    assert_eq!(layer.output_size([16, 16]).expect("size"), [28, 28]);
    let fan_out = layer.fan_out([16, 16]).expect("fan-out");
    assert_eq!(fan_out.get(0, 0, 0), 2);
    // Row 1 writes to rows 2 - 3 + k = -1..3, three of them inside: 3 * 3 * 2 channels.
    assert_eq!(fan_out.get(0, 1, 1), 18);
    // An interior position reaches all 4 x 4 taps of both output channels.
    assert_eq!(fan_out.get(0, 8, 8), 32);
}

#[test]
fn linear_sop_matches_brute_force() {
    let mut rng = StdRng::seed_from_u64(6);
    let (inputs, outputs) = (10, 7);
    let layer = SpikingLinear::new(
        "fc",
        Tensor::zeros([inputs, outputs], &Device::flex()),
        Tensor::zeros([outputs], &Device::flex()),
    )
    .expect("valid");
    let spikes = HostTensor::binary(&mut rng, [BATCH, inputs], 0.5);
    let mut sop = 0u64;
    for b in 0..BATCH {
        for i in 0..inputs {
            for _ in 0..outputs {
                sop += spikes.values[b * inputs + i] as u64;
            }
        }
    }
    assert_eq!(
        layer.synaptic_operations(spikes.tensor()).expect("sop"),
        sop
    );
    assert_eq!(layer.fan_out().total(), (inputs * outputs) as u64);
}

#[test]
fn constructors_reject_bad_shapes() {
    let device = Device::flex();
    let error = SpikingConv2d::new(
        "conv1",
        Tensor::zeros([4, 2, 3, 3], &device),
        Tensor::zeros([3], &device),
        [1, 1],
        [0, 0],
    )
    .expect_err("bias of 3 for 4 channels");
    assert_eq!(
        error,
        SpikingError::BiasShape {
            layer: "conv1".to_string(),
            weight: vec![4, 2, 3, 3],
            bias: vec![3],
            expected: 4,
        }
    );

    // A transposed convolution's output channels are axis 1 of its weight.
    let error = SpikingConvTranspose2d::new(
        "deconv1",
        Tensor::zeros([4, 2, 3, 3], &device),
        Tensor::zeros([4], &device),
        [2, 2],
        [1, 1],
    )
    .expect_err("bias of 4 for 2 channels");
    assert!(matches!(error, SpikingError::BiasShape { expected: 2, .. }));

    let error = SpikingLinear::new(
        "fc21",
        Tensor::zeros([8, 3], &device),
        Tensor::zeros([8], &device),
    )
    .expect_err("bias of 8 for 3 features");
    assert!(matches!(error, SpikingError::BiasShape { expected: 3, .. }));

    let error = SpikingConv2d::new(
        "conv0",
        Tensor::zeros([1, 1, 3, 3], &device),
        Tensor::zeros([1], &device),
        [0, 1],
        [0, 0],
    )
    .expect_err("zero stride");
    assert_eq!(
        error,
        SpikingError::ZeroStride {
            layer: "conv0".to_string()
        }
    );

    let layer = SpikingConv2d::new(
        "conv0",
        Tensor::zeros([1, 1, 5, 5], &device),
        Tensor::zeros([1], &device),
        [1, 1],
        [0, 0],
    )
    .expect("valid");
    assert!(matches!(
        layer.output_size([3, 3]),
        Err(SpikingError::Geometry { .. })
    ));
}

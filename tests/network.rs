//! The network as a whole: gradients against finite differences, GPU against CPU,
//! and the edge cases of batch sizes and buffer limits.

mod common;

use common::{assert_close, context, pattern};
use mlp_wgpu::cpu::CpuBackend;
use mlp_wgpu::gpu::GpuBackend;
use mlp_wgpu::model::{Activation, DenseParams, LayerSpec, Mlp, MlpSpec, Parameters};
use mlp_wgpu::train::{Sgd, SgdConfig};
use mlp_wgpu::{Backend, Error};
use ndarray::{Array1, Array2, ArrayView2, array};

fn gpu_mlp(spec: &MlpSpec, params: &Parameters, batch: usize) -> Mlp<GpuBackend> {
    Mlp::new(GpuBackend::new(context()), spec.clone(), params, batch).unwrap()
}

fn cpu_mlp(spec: &MlpSpec, params: &Parameters, batch: usize) -> Mlp<CpuBackend> {
    Mlp::new(CpuBackend::new(), spec.clone(), params, batch).unwrap()
}

fn flat(features: &Array2<f32>) -> Vec<f32> {
    features.iter().copied().collect()
}

/// An activation in f64, written independently of the crate's f32 code.
fn activate_f64(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu { slope } => {
            if x > 0.0 {
                x
            } else {
                f64::from(slope) * x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => {
            let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3));
            0.5 * x * (1.0 + u.tanh())
        }
    }
}

/// The mean softmax cross-entropy of the network on `x`, in f64.
fn loss_f64(spec: &MlpSpec, params: &Parameters, x: &Array2<f32>, labels: &[u32]) -> f64 {
    let mut h = x.mapv(f64::from);
    for (layer, values) in spec.layers.iter().zip(&params.layers) {
        let z = h.dot(&values.weight.mapv(f64::from)) + values.bias.mapv(f64::from);
        h = z.mapv(|v| activate_f64(layer.activation, v));
    }
    let mut total = 0.0;
    for (row, &label) in h.rows().into_iter().zip(labels) {
        let max = row.fold(f64::MIN, |a, &b| a.max(b));
        let lse = max + row.mapv(|v| (v - max).exp()).sum().ln();
        total += lse - row[label as usize];
    }
    total / labels.len() as f64
}

fn spec_with(activation: Activation) -> MlpSpec {
    MlpSpec {
        inputs: 5,
        layers: vec![
            LayerSpec {
                width: 4,
                activation,
            },
            LayerSpec {
                width: 6,
                activation,
            },
            LayerSpec {
                width: 3,
                activation: Activation::Identity,
            },
        ],
    }
}

#[test]
fn gradients_match_finite_differences_for_each_activation() {
    let x = pattern(8, 5, 51);
    let labels = [0, 1, 2, 1, 0, 2, 2, 1];
    let activations = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
    ];
    for activation in activations {
        let spec = spec_with(activation);
        let mut params = Parameters::init(&spec, None, 5).unwrap();
        // Non-zero biases keep pre-activations off ReLU's kink at 0, where a row whose
        // inputs are all zero would otherwise sit exactly.
        for (index, layer) in params.layers.iter_mut().enumerate() {
            layer.bias = pattern(1, layer.bias.len(), 60 + index as u32)
                .row(0)
                .mapv(|b| 0.3 * b);
        }
        let mut mlp = cpu_mlp(&spec, &params, 8);
        mlp.compute_gradients(&flat(&x), &labels).unwrap();
        let analytic = mlp.gradients().unwrap();

        let h = 1e-4;
        for (index, (values, grads)) in params.layers.iter().zip(&analytic.layers).enumerate() {
            let entries = values.weight.indexed_iter().map(|(at, _)| (Some(at), at.1));
            let bias_entries = (0..values.bias.len()).map(|j| (None, j));
            for (weight_at, j) in entries.chain(bias_entries) {
                let perturbed = |delta: f64| {
                    let mut p = params.clone();
                    let layer: &mut DenseParams = &mut p.layers[index];
                    match weight_at {
                        Some(at) => layer.weight[at] += delta as f32,
                        None => layer.bias[j] += delta as f32,
                    }
                    loss_f64(&spec, &p, &x, &labels)
                };
                // The perturbation is applied in f32, so measure the step actually taken.
                let base = weight_at.map_or(values.bias[j], |at| values.weight[at]);
                let step = f64::from(base + h as f32) - f64::from(base - h as f32);
                let numeric = (perturbed(h) - perturbed(-h)) / step;
                let got = f64::from(weight_at.map_or(grads.bias[j], |at| grads.weight[at]));
                // f32 analytic gradients of O(0.1) are good to about 1e-6; the central
                // difference's truncation error is O(h²) = 1e-8.
                assert!(
                    (got - numeric).abs() <= 2e-5 + 1e-3 * numeric.abs(),
                    "{activation}: layer {index} {} [{weight_at:?}, {j}]: analytic {got}, numeric {numeric}",
                    if weight_at.is_some() {
                        "weight"
                    } else {
                        "bias"
                    },
                );
            }
        }
    }
}

#[test]
fn gpu_gradients_match_cpu() {
    let spec = MlpSpec {
        inputs: 65,
        layers: vec![
            LayerSpec {
                width: 257,
                activation: Activation::Relu,
            },
            LayerSpec {
                width: 7,
                activation: Activation::Gelu,
            },
            LayerSpec {
                width: 33,
                activation: Activation::Sigmoid,
            },
            LayerSpec {
                width: 10,
                activation: Activation::Identity,
            },
        ],
    };
    let params = Parameters::init(&spec, None, 9).unwrap();
    let x = pattern(100, 65, 52);
    let labels: Vec<u32> = (0..100).map(|i| (i % 10) as u32).collect();
    let mut cpu = cpu_mlp(&spec, &params, 128);
    let mut gpu = gpu_mlp(&spec, &params, 128);
    cpu.compute_gradients(&flat(&x), &labels).unwrap();
    gpu.compute_gradients(&flat(&x), &labels).unwrap();
    let (want, got) = (cpu.gradients().unwrap(), gpu.gradients().unwrap());
    let scale = want
        .layers
        .iter()
        .flat_map(|l| l.weight.iter())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    for (index, (w, g)) in want.layers.iter().zip(&got.layers).enumerate() {
        // Reductions of up to 257 terms through four layers, with transcendental
        // activations: 1e-4 of the largest gradient covers k·ε growth per layer.
        let atol = 1e-4 * scale;
        assert_close(
            &format!("layer {index} weight gradient"),
            g.weight.view(),
            w.weight.view(),
            atol,
            1e-3,
        );
        let (gb, wb) = (
            g.bias.view().insert_axis(ndarray::Axis(0)),
            w.bias.view().insert_axis(ndarray::Axis(0)),
        );
        assert_close(&format!("layer {index} bias gradient"), gb, wb, atol, 1e-3);
    }
}

#[test]
fn same_seed_starts_both_backends_from_same_weights() {
    let spec = MlpSpec::classifier(784, &[32], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 42).unwrap();
    let from_cpu = cpu_mlp(&spec, &params, 4).parameters().unwrap();
    let from_gpu = gpu_mlp(&spec, &params, 4).parameters().unwrap();
    assert_eq!(from_cpu, params);
    assert_eq!(from_gpu, params);
    assert_eq!(from_gpu.fingerprint(), from_cpu.fingerprint());
}

/// Case: the logits are the parameters (input 0, so z = bias), label 0, one SGD step.
fn logits_as_parameters_step<B: Backend>(backend: B) -> (Array1<f32>, f64, f64) {
    let spec = MlpSpec {
        inputs: 1,
        layers: vec![LayerSpec {
            width: 2,
            activation: Activation::Identity,
        }],
    };
    let params = Parameters {
        layers: vec![DenseParams {
            weight: Array2::zeros((1, 2)),
            bias: Array1::zeros(2),
        }],
    };
    let mut mlp = Mlp::new(backend, spec, &params, 1).unwrap();
    let mut sgd = Sgd::new(
        &mut mlp,
        SgdConfig {
            learning_rate: 0.1,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    mlp.compute_gradients(&[0.0], &[0]).unwrap();
    let grad = mlp.gradients().unwrap().layers[0].bias.clone();
    sgd.step(&mut mlp, 0.1).unwrap();
    let before = mlp.take_loss_totals().unwrap().loss_sum;
    mlp.compute_gradients(&[0.0], &[0]).unwrap();
    let after = mlp.take_loss_totals().unwrap().loss_sum;
    (grad, before, after)
}

#[test]
fn cross_entropy_step_descends_on_both_backends() {
    for (device, (grad, before, after)) in [
        ("cpu", logits_as_parameters_step(CpuBackend::new())),
        ("gpu", logits_as_parameters_step(GpuBackend::new(context()))),
    ] {
        assert_eq!(grad, array![-0.5, 0.5], "{device} dL/dz");
        assert!(
            (before - std::f64::consts::LN_2).abs() < 1e-6,
            "{device} loss before {before}"
        );
        // The wrong sign would give 0.744397.
        assert!(
            (after - 0.644_397).abs() < 1e-6,
            "{device} loss after {after}"
        );
    }
}

/// Case: one identity layer, x = [1, 2, 3], W = [[1, 2], [3, 4], [5, 6]], dy = [1, -1].
fn layer_gradients<B: Backend>(mut backend: B) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut x = backend.zeros(1, 3, "x").unwrap();
    backend.write(&mut x, &[1.0, 2.0, 3.0]).unwrap();
    let mut w = backend.zeros(3, 2, "w").unwrap();
    backend
        .write(&mut w, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .unwrap();
    let bias = backend.zeros(1, 2, "bias").unwrap();
    let mut dy = backend.zeros(1, 2, "dy").unwrap();
    backend.write(&mut dy, &[1.0, -1.0]).unwrap();
    let (mut y, mut dw, mut dx) = (
        backend.zeros(1, 2, "y").unwrap(),
        backend.zeros(3, 2, "dw").unwrap(),
        backend.zeros(1, 3, "dx").unwrap(),
    );

    backend
        .linear_forward(&x, &w, &bias, Activation::Identity, None, &mut y, 1)
        .unwrap();
    backend.weight_grad(&x, &dy, &mut dw, 1).unwrap();
    backend
        .input_grad(&dy, &w, Activation::Identity, &x, &mut dx, 1)
        .unwrap();
    (
        backend.read(&y, 1).unwrap(),
        backend.read(&dw, 3).unwrap(),
        backend.read(&dx, 1).unwrap(),
    )
}

#[test]
fn weight_gradient_is_not_transposed() {
    for (device, (y, dw, dx)) in [
        ("cpu", layer_gradients(CpuBackend::new())),
        ("gpu", layer_gradients(GpuBackend::new(context()))),
    ] {
        assert_eq!(y, [22.0, 28.0], "{device} y");
        assert_eq!(
            dw,
            [1.0, -1.0, 2.0, -2.0, 3.0, -3.0],
            "{device} dW, [3, 2] row-major"
        );
        assert_eq!(dx, [-1.0, -1.0, -1.0], "{device} dx");
    }
}

#[test]
fn predict_on_zero_rows_returns_empty() {
    let spec = MlpSpec::classifier(784, &[16], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 1).unwrap();
    let empty = Array2::<f32>::zeros((0, 784));
    assert_eq!(
        cpu_mlp(&spec, &params, 8)
            .predict(empty.view())
            .unwrap()
            .dim(),
        (0, 10)
    );
    assert_eq!(
        gpu_mlp(&spec, &params, 8)
            .predict(empty.view())
            .unwrap()
            .dim(),
        (0, 10)
    );
}

#[test]
fn zero_width_layer_is_rejected_at_build() {
    let spec = MlpSpec {
        inputs: 4,
        layers: vec![LayerSpec {
            width: 0,
            activation: Activation::Relu,
        }],
    };
    let params = Parameters {
        layers: vec![DenseParams {
            weight: Array2::zeros((4, 0)),
            bias: Array1::zeros(0),
        }],
    };
    let error = Mlp::new(GpuBackend::new(context()), spec, &params, 8).unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidConfig {
                name: "layer width",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn predict_wrong_width_is_an_error() {
    let spec = MlpSpec::classifier(4, &[3], Activation::Relu, 2);
    let params = Parameters::init(&spec, None, 1).unwrap();
    let error = gpu_mlp(&spec, &params, 8)
        .predict(Array2::zeros((2, 5)).view())
        .unwrap_err();
    assert!(error.to_string().contains("[2, 5]"), "{error}");
}

/// Predicts `rows` rows of 784 features in batches of 4,096 rows on both backends.
fn predict_both(rows: usize) {
    let spec = MlpSpec::classifier(784, &[], Activation::Identity, 10);
    let params = Parameters::init(&spec, None, 3).unwrap();
    let features = Array2::from_shape_fn((rows, 784), |(i, j)| {
        ((i * 31 + j * 17) % 255) as f32 / 255.0
    });
    let want = cpu_mlp(&spec, &params, 4096)
        .predict(features.view())
        .unwrap();
    let got = gpu_mlp(&spec, &params, 4096)
        .predict(features.view())
        .unwrap();
    // One dot product of 784 terms in [0, 1] · [-0.086, 0.086] per output.
    let atol = common::dot_tolerance(784, 784.0 * 0.086);
    assert_close(&format!("{rows} rows"), got.view(), want.view(), atol, 0.0);
}

#[test]
fn predict_just_below_binding_limit_rows() {
    // 42,799 × 784 f32 is 134,217,664 bytes, just under 128 MiB.
    predict_both(42_799);
}

#[test]
fn predict_just_above_binding_limit_rows() {
    // 42,800 × 784 f32 is 134,220,800 bytes, just over 128 MiB.
    predict_both(42_800);
}

#[test]
fn batch_beyond_binding_limit_is_a_typed_error() {
    let spec = MlpSpec::classifier(784, &[], Activation::Identity, 10);
    let params = Parameters::init(&spec, None, 3).unwrap();
    let limit = context().limits().max_storage_buffer_binding_size;
    let rows = (limit / (784 * 4) + 1) as usize;
    match Mlp::new(GpuBackend::new(context()), spec, &params, rows) {
        Err(Error::BufferTooLarge {
            bytes,
            limit: reported,
            ..
        }) => {
            assert_eq!(reported, limit);
            assert!(bytes > limit);
        }
        Err(other) => panic!("expected BufferTooLarge, got {other}"),
        // A device whose buffers may exceed its binding limit cannot bind this batch.
        Ok(_) => panic!("a {rows}-row batch fit under a {limit}-byte binding limit"),
    }
}

#[test]
fn readback_repeats_without_hang() {
    use mlp_wgpu::gpu::kernels::activation_forward;
    let values = array![[1.5f32, -2.0, 3.25]];
    let mut recorder = common::recorder();
    let input = common::upload(&recorder, values.view());
    let output = common::zeros(&recorder, 1, 3);
    for _ in 0..1000 {
        activation_forward(&mut recorder, Activation::Identity, &input, &output).unwrap();
        let got: ArrayView2<'_, f32> = values.view();
        assert_eq!(common::download(&mut recorder, &output), got);
    }
}

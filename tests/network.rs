//! The network as a whole: gradients against finite differences, GPU against CPU,
//! and the edge cases of batch sizes and buffer limits.

mod common;

use common::{assert_close, context, pattern};
use mlp_wgpu::cpu::CpuBackend;
use mlp_wgpu::gpu::GpuBackend;
use mlp_wgpu::model::{
    Activation, DenseParams, LayerSpec, Loss, Mlp, MlpSpec, Parameters, Targets,
};
use mlp_wgpu::train::{Optimizer, SgdConfig};
use mlp_wgpu::{Backend, Error};
use ndarray::{Array1, Array2, ArrayView2, Axis, array};

fn gpu_mlp(spec: &MlpSpec, params: &Parameters, batch: usize) -> Mlp<GpuBackend> {
    Mlp::new(GpuBackend::new(context()), spec.clone(), params, batch).unwrap()
}

fn cpu_mlp(spec: &MlpSpec, params: &Parameters, batch: usize) -> Mlp<CpuBackend> {
    Mlp::new(CpuBackend::new(), spec.clone(), params, batch).unwrap()
}

/// An activation in f64, written independently of the crate's f32 code, applied to a row.
fn activate_row_f64(activation: Activation, row: &mut [f64]) {
    if activation == Activation::Softmax {
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
        row.iter_mut().for_each(|v| *v = (*v - max).exp() / sum);
        return;
    }
    for x in row.iter_mut() {
        *x = match activation {
            Activation::Identity | Activation::Softmax => *x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { slope } => {
                if *x > 0.0 {
                    *x
                } else {
                    f64::from(slope) * *x
                }
            }
            Activation::Sigmoid => 1.0 / (1.0 + (-*x).exp()),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => {
                let u = (2.0 / std::f64::consts::PI).sqrt() * (*x + 0.044715 * x.powi(3));
                0.5 * *x * (1.0 + u.tanh())
            }
        };
    }
}

/// The mean loss of the network on `x`, in f64.
fn loss_f64(
    spec: &MlpSpec,
    params: &Parameters,
    x: &Array2<f32>,
    loss: Loss,
    targets: &Array2<f32>,
) -> f64 {
    let mut h = x.mapv(f64::from);
    for (layer, values) in spec.layers.iter().zip(&params.layers) {
        let mut z = h.dot(&values.weight.mapv(f64::from)) + values.bias.mapv(f64::from);
        for mut row in z.rows_mut() {
            activate_row_f64(layer.activation, row.as_slice_mut().unwrap());
        }
        h = z;
    }
    let t = targets.mapv(f64::from);
    let cols = h.ncols() as f64;
    let mut total = 0.0;
    for (row, target) in h.rows().into_iter().zip(t.rows()) {
        total += match loss {
            Loss::SoftmaxCrossEntropy => {
                let max = row.fold(f64::MIN, |a, &b| a.max(b));
                let lse = max + row.mapv(|v| (v - max).exp()).sum().ln();
                row.iter()
                    .zip(target)
                    .map(|(z, t)| t * (lse - z))
                    .sum::<f64>()
            }
            Loss::MeanSquaredError => {
                row.iter()
                    .zip(target)
                    .map(|(y, t)| (y - t).powi(2))
                    .sum::<f64>()
                    / cols
            }
            Loss::BinaryCrossEntropyWithLogits => {
                row.iter()
                    .zip(target)
                    .map(|(z, t)| z.max(0.0) - z * t + (-z.abs()).exp().ln_1p())
                    .sum::<f64>()
                    / cols
            }
        };
    }
    total / x.nrows() as f64
}

/// Checks the CPU network's gradients against central differences of `loss_f64`.
fn check_finite_differences(spec: &MlpSpec, loss: Loss, x: &Array2<f32>, targets: &Array2<f32>) {
    let mut params = Parameters::init(spec, None, 5).unwrap();
    // Non-zero biases keep pre-activations off ReLU's kink at 0, where a row whose inputs
    // are all zero would otherwise sit exactly.
    for (index, layer) in params.layers.iter_mut().enumerate() {
        layer.bias = pattern(1, layer.bias.len(), 60 + index as u32)
            .row(0)
            .mapv(|b| 0.3 * b);
    }
    let mut mlp = cpu_mlp(spec, &params, x.nrows());
    let labels: Vec<u32>;
    let batch_targets =
        if loss == Loss::SoftmaxCrossEntropy && targets.iter().all(|&t| t == 0.0 || t == 1.0) {
            labels = targets
                .rows()
                .into_iter()
                .map(|r| r.iter().position(|&t| t == 1.0).unwrap() as u32)
                .collect();
            Targets::Labels(&labels)
        } else {
            Targets::Values(targets.view())
        };
    mlp.compute_gradients(x.view(), batch_targets, loss)
        .unwrap();
    let analytic = mlp.gradients().unwrap();

    let h = 1e-4f32;
    for (index, (values, grads)) in params.layers.iter().zip(&analytic.layers).enumerate() {
        let weights = values.weight.indexed_iter().map(|(at, _)| (Some(at), at.1));
        let biases = (0..values.bias.len()).map(|j| (None, j));
        for (weight_at, j) in weights.chain(biases) {
            let perturbed = |delta: f32| {
                let mut p = params.clone();
                let layer: &mut DenseParams = &mut p.layers[index];
                let value = match weight_at {
                    Some(at) => &mut layer.weight[at],
                    None => &mut layer.bias[j],
                };
                *value += delta;
                (f64::from(*value), loss_f64(spec, &p, x, loss, targets))
            };
            // The perturbation is applied in f32, so divide by the step actually taken.
            let ((plus_value, plus), (minus_value, minus)) = (perturbed(h), perturbed(-h));
            let numeric = (plus - minus) / (plus_value - minus_value);
            let got = f64::from(weight_at.map_or(grads.bias[j], |at| grads.weight[at]));
            // f32 analytic gradients of O(0.1) are good to about 1e-6; the central
            // difference's truncation error is O(h²) = 1e-8.
            let kind = if weight_at.is_some() {
                "weight"
            } else {
                "bias"
            };
            assert!(
                (got - numeric).abs() <= 2e-5 + 1e-3 * numeric.abs(),
                "{loss:?} {spec:?}: layer {index} {kind} [{weight_at:?}, {j}]: analytic {got}, numeric {numeric}",
            );
        }
    }
}

fn one_hot(rows: usize, classes: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, classes), |(r, c)| {
        f32::from((r * 7 + 1) % classes == c)
    })
}

#[test]
fn gradients_match_finite_differences_for_each_activation() {
    let x = pattern(8, 5, 51);
    let activations = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Softmax,
    ];
    for activation in activations {
        let spec = MlpSpec {
            inputs: 5,
            layers: vec![
                LayerSpec::new(4, activation),
                LayerSpec::new(6, activation),
                LayerSpec::new(3, Activation::Identity),
            ],
        };
        check_finite_differences(&spec, Loss::SoftmaxCrossEntropy, &x, &one_hot(8, 3));
    }
}

#[test]
fn gradients_match_finite_differences_for_each_loss() {
    let x = pattern(6, 4, 52);
    let hidden = LayerSpec::new(5, Activation::Tanh);
    let logits = MlpSpec {
        inputs: 4,
        layers: vec![hidden, LayerSpec::new(3, Activation::Identity)],
    };
    let soft = pattern(6, 3, 53).mapv(|v| v + 1.0);
    let soft = &soft / &soft.sum_axis(Axis(1)).insert_axis(Axis(1));
    check_finite_differences(&logits, Loss::SoftmaxCrossEntropy, &x, &soft);
    check_finite_differences(&logits, Loss::MeanSquaredError, &x, &pattern(6, 3, 54));
    let bits = pattern(6, 3, 55).mapv(|v| f32::from(v > 0.0));
    check_finite_differences(&logits, Loss::BinaryCrossEntropyWithLogits, &x, &bits);
    // Mean squared error after a non-identity last activation, whose derivative then
    // runs as a kernel of its own.
    for last in [Activation::Sigmoid, Activation::Gelu, Activation::Softmax] {
        let spec = MlpSpec {
            inputs: 4,
            layers: vec![hidden, LayerSpec::new(3, last)],
        };
        check_finite_differences(&spec, Loss::MeanSquaredError, &x, &pattern(6, 3, 56));
    }
}

fn compare_gradients(what: &str, want: &Parameters, got: &Parameters) {
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
            &format!("{what} layer {index} weight gradient"),
            g.weight.view(),
            w.weight.view(),
            atol,
            1e-3,
        );
        let (gb, wb) = (
            g.bias.view().insert_axis(Axis(0)),
            w.bias.view().insert_axis(Axis(0)),
        );
        assert_close(
            &format!("{what} layer {index} bias gradient"),
            gb,
            wb,
            atol,
            1e-3,
        );
    }
}

#[test]
fn gpu_gradients_match_cpu() {
    let spec = MlpSpec {
        inputs: 65,
        layers: vec![
            LayerSpec::new(257, Activation::Relu),
            LayerSpec::new(7, Activation::Gelu),
            LayerSpec::new(33, Activation::Softmax),
            LayerSpec::new(10, Activation::Sigmoid),
        ],
    };
    let params = Parameters::init(&spec, None, 9).unwrap();
    let x = pattern(100, 65, 52);
    let targets = pattern(100, 10, 57);
    let mut cpu = cpu_mlp(&spec, &params, 128);
    let mut gpu = gpu_mlp(&spec, &params, 128);
    cpu.compute_gradients(
        x.view(),
        Targets::Values(targets.view()),
        Loss::MeanSquaredError,
    )
    .unwrap();
    gpu.compute_gradients(
        x.view(),
        Targets::Values(targets.view()),
        Loss::MeanSquaredError,
    )
    .unwrap();
    compare_gradients("mse", &cpu.gradients().unwrap(), &gpu.gradients().unwrap());

    let spec = MlpSpec::classifier(65, &[257, 7], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 10).unwrap();
    let labels: Vec<u32> = (0..100).map(|i| (i % 10) as u32).collect();
    let mut cpu = cpu_mlp(&spec, &params, 128);
    let mut gpu = gpu_mlp(&spec, &params, 128);
    cpu.compute_gradients(
        x.view(),
        Targets::Labels(&labels),
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    gpu.compute_gradients(
        x.view(),
        Targets::Labels(&labels),
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    compare_gradients(
        "cross-entropy",
        &cpu.gradients().unwrap(),
        &gpu.gradients().unwrap(),
    );
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
        layers: vec![LayerSpec::new(2, Activation::Identity)],
    };
    let params = Parameters {
        layers: vec![DenseParams {
            weight: Array2::zeros((1, 2)),
            bias: Array1::zeros(2),
        }],
    };
    let mut mlp = Mlp::new(backend, spec, &params, 1).unwrap();
    let config = SgdConfig {
        learning_rate: 0.1,
        ..SgdConfig::default()
    };
    let mut sgd = Optimizer::new(&mut mlp, config).unwrap();
    let x = array![[0.0f32]];
    mlp.compute_gradients(x.view(), Targets::Labels(&[0]), Loss::SoftmaxCrossEntropy)
        .unwrap();
    let grad = mlp.gradients().unwrap().layers[0].bias.clone();
    sgd.step(&mut mlp, 0.1).unwrap();
    let before = mlp.take_loss_totals().unwrap().loss_sum;
    mlp.compute_gradients(x.view(), Targets::Labels(&[0]), Loss::SoftmaxCrossEntropy)
        .unwrap();
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
    let mut y = backend.zeros(1, 2, "y").unwrap();
    let mut dw = backend.zeros(3, 2, "dw").unwrap();
    let mut dx = backend.zeros(1, 3, "dx").unwrap();

    backend
        .linear_forward(&x, &w, &bias, Activation::Identity, None, &mut y, 1)
        .unwrap();
    backend.weight_grad(&x, &dy, &mut dw, 1, false).unwrap();
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
    let none: [u32; 0] = [];
    let rows = gpu_mlp(&spec, &params, 8).compute_gradients(
        empty.view(),
        Targets::Labels(&none),
        Loss::SoftmaxCrossEntropy,
    );
    assert_eq!(rows.unwrap(), 0);
}

#[test]
fn zero_width_layer_is_rejected_at_build() {
    let spec = MlpSpec {
        inputs: 4,
        layers: vec![LayerSpec::new(0, Activation::Relu)],
    };
    let params = Parameters {
        layers: vec![DenseParams {
            weight: Array2::zeros((4, 0)),
            bias: Array1::zeros(0),
        }],
    };
    for error in [
        Mlp::new(GpuBackend::new(context()), spec.clone(), &params, 8).unwrap_err(),
        Mlp::new(CpuBackend::new(), spec, &params, 8).unwrap_err(),
    ] {
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
}

#[test]
fn wrong_shapes_are_errors() {
    let spec = MlpSpec::classifier(4, &[3], Activation::Relu, 2);
    let params = Parameters::init(&spec, None, 1).unwrap();
    let mut mlp = gpu_mlp(&spec, &params, 8);
    let error = mlp.predict(Array2::zeros((2, 5)).view()).unwrap_err();
    assert!(error.to_string().contains("[2, 5]"), "{error}");
    // Targets of [1, 2] for 2 rows of 2 outputs: named with both shapes, never broadcast.
    let x = Array2::zeros((2, 4));
    let targets = Array2::zeros((1, 2));
    let error = mlp
        .compute_gradients(
            x.view(),
            Targets::Values(targets.view()),
            Loss::MeanSquaredError,
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("[2, 2]") && error.to_string().contains("[1, 2]"),
        "{error}"
    );
    let error = mlp
        .compute_gradients(x.view(), Targets::Labels(&[0]), Loss::SoftmaxCrossEntropy)
        .unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error}");
    let error = mlp
        .compute_gradients(x.view(), Targets::Labels(&[0, 1]), Loss::MeanSquaredError)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidConfig {
                name: "targets",
                ..
            }
        ),
        "{error}"
    );
    let error = mlp
        .compute_gradients(
            Array2::zeros((9, 4)).view(),
            Targets::Labels(&[0; 9]),
            Loss::SoftmaxCrossEntropy,
        )
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidConfig {
                name: "batch size",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn logit_losses_need_identity_output() {
    let spec = MlpSpec {
        inputs: 2,
        layers: vec![LayerSpec::new(2, Activation::Softmax)],
    };
    let params = Parameters::init(&spec, None, 1).unwrap();
    let mut mlp = cpu_mlp(&spec, &params, 4);
    let x = Array2::zeros((1, 2));
    let error = mlp
        .compute_gradients(x.view(), Targets::Labels(&[0]), Loss::SoftmaxCrossEntropy)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("make the last layer's activation identity"),
        "{error}"
    );
}

/// A 784 → 10 network with a batch capacity just past the 128 MiB binding limit for its
/// input, so the GPU must split every batch.
fn wide_batch_networks(rows: usize) -> (Mlp<CpuBackend>, Mlp<GpuBackend>, Array2<f32>) {
    let spec = MlpSpec::classifier(784, &[], Activation::Identity, 10);
    let params = Parameters::init(&spec, None, 3).unwrap();
    let features = Array2::from_shape_fn((rows, 784), |(i, j)| {
        ((i * 31 + j * 17) % 255) as f32 / 255.0
    });
    (
        cpu_mlp(&spec, &params, rows),
        gpu_mlp(&spec, &params, rows),
        features,
    )
}

// One dot product of 784 terms in [0, 1] · [-0.086, 0.086] per output.
fn predict_tolerance() -> f32 {
    common::dot_tolerance(784, 784.0 * 0.086)
}

#[test]
fn predict_just_below_binding_limit_rows() {
    // 42,799 × 784 f32 is 134,217,664 bytes, just under 128 MiB.
    let (mut cpu, mut gpu, features) = wide_batch_networks(42_799);
    let want = cpu.predict(features.view()).unwrap();
    let got = gpu.predict(features.view()).unwrap();
    assert_close(
        "42,799 rows",
        got.view(),
        want.view(),
        predict_tolerance(),
        0.0,
    );
}

#[test]
fn predict_just_above_binding_limit_rows() {
    // 42,800 × 784 f32 is 134,220,800 bytes, just over 128 MiB.
    let (mut cpu, mut gpu, features) = wide_batch_networks(42_800);
    let limit = context().limits().max_storage_buffer_binding_size;
    if limit < 42_800 * 784 * 4 {
        assert!(
            gpu.chunk_rows() < 42_800,
            "{} rows per chunk",
            gpu.chunk_rows()
        );
    }
    let want = cpu.predict(features.view()).unwrap();
    let got = gpu.predict(features.view()).unwrap();
    assert_close(
        "42,800 rows",
        got.view(),
        want.view(),
        predict_tolerance(),
        0.0,
    );

    // Training on the same batch: the chunks' gradients add up to the whole batch's.
    let labels: Vec<u32> = (0..42_800).map(|i| (i % 10) as u32).collect();
    for rows in [&mut cpu as &mut dyn GradientRun, &mut gpu] {
        rows.run(features.view(), &labels);
    }
    let (want, got) = (cpu.gradients().unwrap(), gpu.gradients().unwrap());
    compare_gradients("42,800-row batch", &want, &got);
    let (want_loss, got_loss) = (
        cpu.take_loss_totals().unwrap(),
        gpu.take_loss_totals().unwrap(),
    );
    assert_eq!(got_loss.batches, 1);
    assert!(
        (want_loss.loss_sum - got_loss.loss_sum).abs() < 1e-4 * want_loss.loss_sum,
        "{want_loss:?} {got_loss:?}"
    );
}

/// Computes one batch's gradients, whatever the backend.
trait GradientRun {
    fn run(&mut self, features: ArrayView2<'_, f32>, labels: &[u32]);
}

impl<B: Backend> GradientRun for Mlp<B> {
    fn run(&mut self, features: ArrayView2<'_, f32>, labels: &[u32]) {
        self.compute_gradients(features, Targets::Labels(labels), Loss::SoftmaxCrossEntropy)
            .unwrap();
    }
}

#[test]
fn weight_beyond_binding_limit_is_a_typed_error() {
    let limit = context().limits().max_storage_buffer_binding_size;
    let width = (limit / (784 * 4) + 1) as usize;
    let spec = MlpSpec::classifier(784, &[width], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 3).unwrap();
    match Mlp::new(GpuBackend::new(context()), spec, &params, 4) {
        Err(Error::BufferTooLarge {
            bytes,
            limit: reported,
            label,
            ..
        }) => {
            assert_eq!(reported, limit);
            assert!(bytes > limit);
            assert_eq!(label, "layer0.weight");
        }
        Err(other) => panic!("expected BufferTooLarge, got {other}"),
        Ok(_) => panic!("a [784, {width}] weight fit under a {limit}-byte binding limit"),
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
        assert_eq!(common::download(&mut recorder, &output), values);
    }
}

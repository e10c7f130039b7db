//! Parity of the matmul kernel with the CPU reference, in all three forms, with each
//! epilogue, on shapes that are not multiples of the tile.

mod common;

use common::{assert_close, dot_tolerance, download, pattern, recorder, upload, zeros};
use mlp_wgpu::MatmulForm;
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::kernels::{Epilogue, MatmulSize, matmul};
use mlp_wgpu::model::Activation;
use ndarray::{Array1, Array2, ArrayView2, array};

/// Awkward sizes: one, below a 4-wide block, one past a power of two, one past 256.
const SIZES: [usize; 4] = [1, 7, 65, 257];

/// Stored shapes of A and B for `form`, given the product's m, n, k.
fn operand_shapes(
    form: MatmulForm,
    m: usize,
    n: usize,
    k: usize,
) -> ((usize, usize), (usize, usize)) {
    match form {
        MatmulForm::Nn => ((m, k), (k, n)),
        MatmulForm::Tn => ((k, m), (k, n)),
        MatmulForm::Nt => ((m, k), (n, k)),
    }
}

/// The largest Σ|a·b| over the outputs, the scale of the rounding error.
fn abs_scale(form: MatmulForm, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> f32 {
    let product = cpu::matmul(form, a.mapv(f32::abs).view(), b.mapv(f32::abs).view());
    product.iter().copied().fold(0.0, f32::max)
}

fn gpu_matmul(
    form: MatmulForm,
    a: &Array2<f32>,
    b: &Array2<f32>,
    m: usize,
    n: usize,
    k: usize,
) -> Array2<f32> {
    let mut rec = recorder();
    let (ga, gb, gc) = (
        upload(&rec, a.view()),
        upload(&rec, b.view()),
        zeros(&rec, m, n),
    );
    matmul(
        &mut rec,
        form,
        &ga,
        &gb,
        &gc,
        MatmulSize { m, n, k },
        Epilogue::None,
    )
    .unwrap();
    download(&mut rec, &gc)
}

#[test]
fn matmul_matches_cpu_on_awkward_shapes() {
    for form in [MatmulForm::Nn, MatmulForm::Tn, MatmulForm::Nt] {
        for m in SIZES {
            for n in SIZES {
                for k in SIZES {
                    let (a_shape, b_shape) = operand_shapes(form, m, n, k);
                    let a = pattern(a_shape.0, a_shape.1, 1);
                    let b = pattern(b_shape.0, b_shape.1, 2);
                    let want = cpu::matmul(form, a.view(), b.view());
                    let got = gpu_matmul(form, &a, &b, m, n, k);
                    let atol = dot_tolerance(k, abs_scale(form, a.view(), b.view()));
                    assert_close(
                        &format!("{form:?} m={m} n={n} k={k}"),
                        got.view(),
                        want.view(),
                        atol,
                        0.0,
                    );
                }
            }
        }
    }
}

const ACTIVATIONS: [Activation; 6] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu { slope: 0.1 },
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Gelu,
];

// Both epilogues compare after an activation or its derivative. Every activation here
// has a derivative of at most 1.13 in magnitude (GELU's maximum), so the product's error
// grows by at most that factor, hence 2 × the dot tolerance. The rtol of 1e-5 covers the
// drivers' exp and tanh, which Vulkan allows to be off by 3 + 2|x| ULP.
const EPILOGUE_RTOL: f32 = 1e-5;

#[test]
fn bias_activation_epilogue_matches_cpu() {
    let (m, n, k) = (65, 7, 257);
    let x = pattern(m, k, 3);
    let w = pattern(k, n, 4);
    let bias = pattern(1, n, 5);
    let atol = 2.0 * dot_tolerance(k, abs_scale(MatmulForm::Nn, x.view(), w.view())) + 1e-6;
    for activation in ACTIVATIONS {
        let mut want_pre = Array2::zeros((m, n));
        let mut want = Array2::zeros((m, n));
        cpu::linear_forward(
            x.view(),
            w.view(),
            bias.row(0),
            activation,
            Some(want_pre.view_mut()),
            want.view_mut(),
        );

        let mut rec = recorder();
        let (gx, gw, gb) = (
            upload(&rec, x.view()),
            upload(&rec, w.view()),
            upload(&rec, bias.view()),
        );
        let (gy, gpre) = (zeros(&rec, m, n), zeros(&rec, m, n));
        let epilogue = Epilogue::BiasActivation {
            bias: &gb,
            activation,
            pre: Some(&gpre),
        };
        matmul(
            &mut rec,
            MatmulForm::Nn,
            &gx,
            &gw,
            &gy,
            MatmulSize { m, n, k },
            epilogue,
        )
        .unwrap();
        let got = download(&mut rec, &gy);
        let got_pre = download(&mut rec, &gpre);

        assert_close(
            &format!("{activation} output"),
            got.view(),
            want.view(),
            atol,
            EPILOGUE_RTOL,
        );
        assert_close(
            &format!("{activation} pre-activation"),
            got_pre.view(),
            want_pre.view(),
            atol,
            0.0,
        );
    }
}

#[test]
fn activation_grad_epilogue_matches_cpu() {
    let (m, n, k) = (257, 65, 7);
    let grad_out = pattern(m, k, 6);
    let w = pattern(n, k, 7);
    let atol = 2.0 * dot_tolerance(k, abs_scale(MatmulForm::Nt, grad_out.view(), w.view())) + 1e-6;
    for activation in ACTIVATIONS {
        // The derivative's input: an output of the activation (or, for GELU, its input).
        let act_input = pattern(m, n, 8).mapv(|v| {
            if activation.grad_needs_pre_activation() {
                4.0 * v
            } else {
                activation.apply(4.0 * v)
            }
        });
        let mut want = Array2::zeros((m, n));
        cpu::input_grad(
            grad_out.view(),
            w.view(),
            activation,
            act_input.view(),
            want.view_mut(),
        );

        let mut rec = recorder();
        let (gd, gw, gi) = (
            upload(&rec, grad_out.view()),
            upload(&rec, w.view()),
            upload(&rec, act_input.view()),
        );
        let gout = zeros(&rec, m, n);
        let epilogue = Epilogue::ActivationGrad {
            activation,
            input: &gi,
        };
        matmul(
            &mut rec,
            MatmulForm::Nt,
            &gd,
            &gw,
            &gout,
            MatmulSize { m, n, k },
            epilogue,
        )
        .unwrap();
        let got = download(&mut rec, &gout);
        assert_close(
            &format!("{activation} input gradient"),
            got.view(),
            want.view(),
            atol,
            EPILOGUE_RTOL,
        );
    }
}

fn check_exact(form: MatmulForm, a: Array2<f32>, b: Array2<f32>, want: Array2<f32>) {
    let (m, n) = want.dim();
    let k = match form {
        MatmulForm::Tn => a.nrows(),
        _ => a.ncols(),
    };
    let cpu_result = cpu::matmul(form, a.view(), b.view());
    assert_eq!(cpu_result, want, "CPU {form:?}");
    let gpu_result = gpu_matmul(form, &a, &b, m, n, k);
    assert_eq!(gpu_result, want, "GPU {form:?}");
}

#[test]
fn matmul_4x4_by_ones_keeps_every_row() {
    let a = Array1::range(0.0, 16.0, 1.0)
        .into_shape_with_order((4, 4))
        .unwrap();
    let b = Array2::ones((4, 2));
    check_exact(
        MatmulForm::Nn,
        a,
        b,
        array![[6.0, 6.0], [22.0, 22.0], [38.0, 38.0], [54.0, 54.0]],
    );
}

#[test]
fn matmul_non_square_keeps_every_column() {
    let a = array![[1.0, 2.0], [4.0, 5.0], [7.0, 8.0]];
    let b = array![[1.0, 2.0, 3.0, 4.0], [4.0, 5.0, 6.0, 7.0]];
    let want = array![
        [9.0, 12.0, 15.0, 18.0],
        [24.0, 33.0, 42.0, 51.0],
        [39.0, 54.0, 69.0, 84.0]
    ];
    check_exact(MatmulForm::Nn, a.clone(), b.clone(), want.clone());
    // The same product through the transposed forms, with the operands stored transposed.
    check_exact(MatmulForm::Tn, a.t().to_owned(), b.clone(), want.clone());
    check_exact(MatmulForm::Nt, a, b.t().to_owned(), want);
}

#[test]
fn matmul_row_by_column_is_dot_product() {
    check_exact(
        MatmulForm::Nt,
        array![[1.0, 2.0, 3.0]],
        array![[4.0, 5.0, 6.0]],
        array![[32.0]],
    );
}

#[test]
fn matmul_dyadic_65x67x129_is_bit_exact() {
    // Multiples of 1/16 below 1 whose products and sums are exact in f32 in any order.
    let a = Array2::from_shape_fn((65, 67), |(i, k)| {
        ((7 * i + 3 * k) % 17) as f32 / 16.0 - 0.5
    });
    let b = Array2::from_shape_fn((67, 129), |(k, j)| {
        ((5 * k + 11 * j) % 19) as f32 / 16.0 - 9.0 / 16.0
    });
    let cpu_result = cpu::matmul(MatmulForm::Nn, a.view(), b.view());
    assert_eq!(cpu_result[[0, 0]], 0.453125);
    assert_eq!(cpu_result[[64, 128]], 375.0 / 256.0); // 1.46484375
    assert_eq!(cpu_result.sum(), 279.0 / 256.0); // 1.08984375
    let gpu_result = gpu_matmul(MatmulForm::Nn, &a, &b, 65, 129, 67);
    assert_eq!(gpu_result, cpu_result);
}

#[test]
fn matmul_long_sum_within_rounding_bound() {
    let k = 4096;
    let a = Array2::from_elem((1, k), 0.1f32);
    let b = Array2::ones((k, 1));
    // f32(0.1) · 4096 exactly, computed in f64.
    let exact = f64::from(0.1f32) * k as f64;
    let bound = f64::from(dot_tolerance(k, 409.6));

    let sequential: f32 = a.iter().sum();
    assert!(
        (f64::from(sequential) - 409.615_78).abs() < 1e-4,
        "sequential sum {sequential}"
    );
    assert!(
        (f64::from(sequential) - exact).abs() <= bound,
        "sequential sum {sequential} outside {bound}"
    );
    // A fixed relative tolerance of 1e-7 would reject the plain sequential loop.
    assert!((f64::from(sequential) - exact).abs() > 1e-7 * exact);

    let cpu_result = cpu::matmul(MatmulForm::Nn, a.view(), b.view())[[0, 0]];
    let gpu_result = gpu_matmul(MatmulForm::Nn, &a, &b, 1, 1, k)[[0, 0]];
    for (name, value) in [("cpu", cpu_result), ("gpu", gpu_result)] {
        let error = (f64::from(value) - exact).abs();
        assert!(
            error <= bound,
            "{name} gives {value}, {error} from {exact}, bound {bound}"
        );
    }
}

#[test]
fn matmul_rows_past_workgroup_limit() {
    // 2,100,000 rows need 65,625 row workgroups, more than one dimension allows.
    let m = 2_100_000;
    let a = Array2::from_shape_fn((m, 1), |(i, _)| (i % 1000) as f32);
    let b = array![[2.0f32]];
    let got = gpu_matmul(MatmulForm::Nn, &a, &b, m, 1, 1);
    let want = a.mapv(|v| 2.0 * v);
    assert_eq!(got, want);
}

#[test]
fn matmul_rejects_mismatched_shapes() {
    let mut rec = recorder();
    let a = zeros(&rec, 3, 4);
    let b = zeros(&rec, 5, 2);
    let c = zeros(&rec, 3, 2);
    let error = matmul(
        &mut rec,
        MatmulForm::Nn,
        &a,
        &b,
        &c,
        MatmulSize { m: 3, n: 2, k: 4 },
        Epilogue::None,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("[5, 2]") && message.contains("[4, 2]"),
        "{message}"
    );
}

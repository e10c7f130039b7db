//! Parity of every matmul kernel with the CPU reference, in all three forms, with each
//! epilogue, on shapes that are not multiples of the tile.

mod common;

use std::sync::Arc;

use common::{assert_close, dot_tolerance, download, kernel_contexts, pattern, upload, zeros};
use mlp_wgpu::MatmulForm;
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::kernels::{Epilogue, MatmulKernel, MatmulSize, matmul};
use mlp_wgpu::gpu::{ContextOptions, GpuContext, Recorder};
use mlp_wgpu::model::Activation;
use ndarray::{Array1, Array2, ArrayView2, array};

/// Awkward sizes: one, below a 4-wide block, one past a power of two, one past 256.
const SIZES: [usize; 4] = [1, 7, 65, 257];

/// Row counts on both sides of the tile and block sizes.
const M_SWEEP: [usize; 11] = [1, 63, 64, 65, 255, 256, 257, 511, 512, 513, 1024];

const FORMS: [MatmulForm; 3] = [MatmulForm::Nn, MatmulForm::Tn, MatmulForm::Nt];

/// Stored shapes of A and B for `form`, given the product's m, n, k.
fn operand_shapes(form: MatmulForm, size: MatmulSize) -> ((usize, usize), (usize, usize)) {
    let MatmulSize { m, n, k } = size;
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

/// Runs `f` on every kernel's context.
fn each_kernel(mut f: impl FnMut(MatmulKernel, &Arc<GpuContext>)) {
    for (kernel, ctx) in kernel_contexts() {
        f(*kernel, ctx);
    }
}

fn gpu_matmul(
    ctx: &Arc<GpuContext>,
    form: MatmulForm,
    a: &Array2<f32>,
    b: &Array2<f32>,
    size: MatmulSize,
) -> Array2<f32> {
    let mut rec = Recorder::new(ctx.clone());
    let (ga, gb) = (upload(&rec, a.view()), upload(&rec, b.view()));
    let gc = zeros(&rec, size.m, size.n);
    matmul(&mut rec, form, &ga, &gb, &gc, size, Epilogue::None).unwrap();
    download(&mut rec, &gc)
}

fn check_parity(kernel: MatmulKernel, ctx: &Arc<GpuContext>, form: MatmulForm, size: MatmulSize) {
    let (a_shape, b_shape) = operand_shapes(form, size);
    let a = pattern(a_shape.0, a_shape.1, 1);
    let b = pattern(b_shape.0, b_shape.1, 2);
    let want = cpu::matmul(form, a.view(), b.view());
    let got = gpu_matmul(ctx, form, &a, &b, size);
    let atol = dot_tolerance(size.k, abs_scale(form, a.view(), b.view()));
    let what = format!("{kernel:?} {form:?} {size:?}");
    assert_close(&what, got.view(), want.view(), atol, 0.0);
}

#[test]
fn matmul_matches_cpu_on_awkward_shapes() {
    each_kernel(|kernel, ctx| {
        for form in FORMS {
            for m in SIZES {
                for n in SIZES {
                    for k in SIZES {
                        check_parity(kernel, ctx, form, MatmulSize { m, n, k });
                    }
                }
            }
        }
    });
}

#[test]
fn matmul_matches_cpu_over_row_sweep() {
    // (n, k) pairs: both multiples of 4, neither, and one column with a long reduction.
    let widths = [(64, 128), (10, 65), (1, 257)];
    each_kernel(|kernel, ctx| {
        for form in FORMS {
            for m in M_SWEEP {
                for (n, k) in widths {
                    check_parity(kernel, ctx, form, MatmulSize { m, n, k });
                }
            }
        }
    });
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
    let size = MatmulSize {
        m: 65,
        n: 7,
        k: 257,
    };
    let x = pattern(size.m, size.k, 3);
    let w = pattern(size.k, size.n, 4);
    let bias = pattern(1, size.n, 5);
    let scale = abs_scale(MatmulForm::Nn, x.view(), w.view());
    let atol = 2.0 * dot_tolerance(size.k, scale) + 1e-6;
    for activation in ACTIVATIONS {
        let mut want_pre = Array2::zeros((size.m, size.n));
        let mut want = Array2::zeros((size.m, size.n));
        let pre_view = Some(want_pre.view_mut());
        cpu::linear_forward(
            x.view(),
            w.view(),
            bias.row(0),
            activation,
            pre_view,
            want.view_mut(),
        );

        each_kernel(|kernel, ctx| {
            let mut rec = Recorder::new(ctx.clone());
            let (gx, gw) = (upload(&rec, x.view()), upload(&rec, w.view()));
            let gb = upload(&rec, bias.view());
            let (gy, gpre) = (zeros(&rec, size.m, size.n), zeros(&rec, size.m, size.n));
            let epilogue = Epilogue::BiasActivation {
                bias: &gb,
                activation,
                pre: Some(&gpre),
            };
            matmul(&mut rec, MatmulForm::Nn, &gx, &gw, &gy, size, epilogue).unwrap();
            let got = download(&mut rec, &gy);
            let got_pre = download(&mut rec, &gpre);

            let what = format!("{kernel:?} {activation}");
            assert_close(
                &format!("{what} output"),
                got.view(),
                want.view(),
                atol,
                EPILOGUE_RTOL,
            );
            assert_close(
                &format!("{what} pre-activation"),
                got_pre.view(),
                want_pre.view(),
                atol,
                0.0,
            );
        });
    }
}

#[test]
fn activation_grad_epilogue_matches_cpu() {
    let size = MatmulSize {
        m: 257,
        n: 65,
        k: 7,
    };
    let grad_out = pattern(size.m, size.k, 6);
    let w = pattern(size.n, size.k, 7);
    let scale = abs_scale(MatmulForm::Nt, grad_out.view(), w.view());
    let atol = 2.0 * dot_tolerance(size.k, scale) + 1e-6;
    for activation in ACTIVATIONS {
        // The derivative's input: an output of the activation (or, for GELU, its input).
        let act_input = pattern(size.m, size.n, 8).mapv(|v| {
            if activation.grad_needs_pre_activation() {
                4.0 * v
            } else {
                activation.apply(4.0 * v)
            }
        });
        let mut want = Array2::zeros((size.m, size.n));
        cpu::input_grad(
            grad_out.view(),
            w.view(),
            activation,
            act_input.view(),
            want.view_mut(),
        );

        each_kernel(|kernel, ctx| {
            let mut rec = Recorder::new(ctx.clone());
            let (gd, gw) = (upload(&rec, grad_out.view()), upload(&rec, w.view()));
            let gi = upload(&rec, act_input.view());
            let gout = zeros(&rec, size.m, size.n);
            let epilogue = Epilogue::ActivationGrad {
                activation,
                input: &gi,
            };
            matmul(&mut rec, MatmulForm::Nt, &gd, &gw, &gout, size, epilogue).unwrap();
            let got = download(&mut rec, &gout);
            let what = format!("{kernel:?} {activation} input gradient");
            assert_close(&what, got.view(), want.view(), atol, EPILOGUE_RTOL);
        });
    }
}

#[test]
fn accumulate_epilogue_adds_to_output() {
    let size = MatmulSize {
        m: 65,
        n: 10,
        k: 33,
    };
    let a = pattern(size.k, size.m, 9);
    let b = pattern(size.k, size.n, 10);
    let start = pattern(size.m, size.n, 11);
    let want = &start + &cpu::matmul(MatmulForm::Tn, a.view(), b.view());
    let atol = dot_tolerance(
        size.k + 1,
        abs_scale(MatmulForm::Tn, a.view(), b.view()) + 1.0,
    );
    each_kernel(|kernel, ctx| {
        let mut rec = Recorder::new(ctx.clone());
        let (ga, gb, gc) = (
            upload(&rec, a.view()),
            upload(&rec, b.view()),
            upload(&rec, start.view()),
        );
        matmul(
            &mut rec,
            MatmulForm::Tn,
            &ga,
            &gb,
            &gc,
            size,
            Epilogue::Accumulate,
        )
        .unwrap();
        let got = download(&mut rec, &gc);
        assert_close(
            &format!("{kernel:?} accumulate"),
            got.view(),
            want.view(),
            atol,
            0.0,
        );
    });
}

/// Checks an exact product on the CPU and on every kernel.
fn check_exact(form: MatmulForm, a: Array2<f32>, b: Array2<f32>, want: Array2<f32>) {
    let (m, n) = want.dim();
    let k = match form {
        MatmulForm::Tn => a.nrows(),
        _ => a.ncols(),
    };
    let cpu_result = cpu::matmul(form, a.view(), b.view());
    assert_eq!(cpu_result, want, "CPU {form:?}");
    each_kernel(|kernel, ctx| {
        let gpu_result = gpu_matmul(ctx, form, &a, &b, MatmulSize { m, n, k });
        assert_eq!(gpu_result, want, "GPU {kernel:?} {form:?}");
    });
}

#[test]
fn matmul_4x4_by_ones_keeps_every_row() {
    let a = Array1::range(0.0, 16.0, 1.0)
        .into_shape_with_order((4, 4))
        .unwrap();
    let b = Array2::ones((4, 2));
    let want = array![[6.0, 6.0], [22.0, 22.0], [38.0, 38.0], [54.0, 54.0]];
    check_exact(MatmulForm::Nn, a, b, want);
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
    let a = array![[1.0, 2.0, 3.0]];
    let b = array![[4.0, 5.0, 6.0]];
    check_exact(MatmulForm::Nt, a, b, array![[32.0]]);
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
    each_kernel(|kernel, ctx| {
        let size = MatmulSize {
            m: 65,
            n: 129,
            k: 67,
        };
        let gpu_result = gpu_matmul(ctx, MatmulForm::Nn, &a, &b, size);
        assert_eq!(gpu_result, cpu_result, "{kernel:?}");
    });
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
    let sequential_error = (f64::from(sequential) - exact).abs();
    assert!(
        sequential_error <= bound,
        "sequential sum {sequential} outside {bound}"
    );
    // A fixed relative tolerance of 1e-7 would reject the plain sequential loop.
    assert!(sequential_error > 1e-7 * exact);

    let cpu_result = cpu::matmul(MatmulForm::Nn, a.view(), b.view())[[0, 0]];
    let error = (f64::from(cpu_result) - exact).abs();
    assert!(
        error <= bound,
        "cpu gives {cpu_result}, {error} from {exact}, bound {bound}"
    );
    each_kernel(|kernel, ctx| {
        let size = MatmulSize { m: 1, n: 1, k };
        let value = gpu_matmul(ctx, MatmulForm::Nn, &a, &b, size)[[0, 0]];
        let error = (f64::from(value) - exact).abs();
        assert!(
            error <= bound,
            "{kernel:?} gives {value}, {error} from {exact}, bound {bound}"
        );
    });
}

#[test]
fn matmul_rows_past_workgroup_limit() {
    // 65,536 blocks of 8 rows, plus a few, pass the device's 65,535 workgroups per
    // dimension for the kernel the adapter uses.
    let m = 65_536 * 8 + 5;
    let a = Array2::from_shape_fn((m, 1), |(i, _)| (i % 1000) as f32);
    let b = array![[2.0f32]];
    let want = a.mapv(|v| 2.0 * v);
    let ctx = common::context();
    let got = gpu_matmul(&ctx, MatmulForm::Nn, &a, &b, MatmulSize { m, n: 1, k: 1 });
    assert_eq!(got, want, "{:?}", ctx.matmul_kernel());
}

#[test]
fn every_kernel_splits_dispatch_past_workgroup_limit() {
    // With at most 8 workgroups per dimension, three limits' worth of row blocks (8 rows
    // each, 64 for the tiled kernel), plus a partial one, need a third dimension. Columns
    // are not split, so 16 of them fit in one or two workgroups everywhere.
    const LIMIT: u32 = 8;
    each_kernel(|kernel, _| {
        let rows_per_group = if kernel == MatmulKernel::Tiled { 64 } else { 8 };
        let size = MatmulSize {
            m: rows_per_group * LIMIT as usize * 3 + 5,
            n: 16,
            k: 5,
        };
        let (a, b) = (pattern(size.m, 5, 12), pattern(5, 16, 13));
        let want = cpu::matmul(MatmulForm::Nn, a.view(), b.view());
        let atol = dot_tolerance(5, abs_scale(MatmulForm::Nn, a.view(), b.view()));
        let options = ContextOptions {
            matmul_kernel: Some(kernel),
            max_workgroups_per_dimension: Some(LIMIT),
        };
        let ctx = GpuContext::with_options(options).unwrap();
        let got = gpu_matmul(&ctx, MatmulForm::Nn, &a, &b, size);
        assert_close(&format!("{kernel:?}"), got.view(), want.view(), atol, 0.0);
    });
}

#[test]
fn matmul_rejects_mismatched_shapes() {
    let mut rec = common::recorder();
    let a = zeros(&rec, 3, 4);
    let b = zeros(&rec, 5, 2);
    let c = zeros(&rec, 3, 2);
    let size = MatmulSize { m: 3, n: 2, k: 4 };
    let error = matmul(&mut rec, MatmulForm::Nn, &a, &b, &c, size, Epilogue::None).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("[5, 2]") && message.contains("[4, 2]"),
        "{message}"
    );
}

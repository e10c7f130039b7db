//! The SGD kernel against the CPU reference and against hand-computed updates.

mod common;

use common::{assert_close, download, pattern, recorder, upload};
use mlp_wgpu::SgdStep;
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::kernels::sgd;
use ndarray::{Array2, array};

fn gpu_steps(
    param: &Array2<f32>,
    grad: &Array2<f32>,
    step: SgdStep,
    steps: usize,
) -> (Array2<f32>, Array2<f32>) {
    let mut rec = recorder();
    let gp = upload(&rec, param.view());
    let gg = upload(&rec, grad.view());
    let gv = upload(&rec, Array2::zeros(param.raw_dim()).view());
    for _ in 0..steps {
        sgd(&mut rec, &gg, &gp, &gv, step).unwrap();
    }
    (download(&mut rec, &gp), download(&mut rec, &gv))
}

fn cpu_steps(
    param: &Array2<f32>,
    grad: &Array2<f32>,
    step: SgdStep,
    steps: usize,
) -> (Array2<f32>, Array2<f32>) {
    let (mut p, mut v) = (param.clone(), Array2::zeros(param.raw_dim()));
    for _ in 0..steps {
        cpu::sgd(p.view_mut(), grad.view(), v.view_mut(), step);
    }
    (p, v)
}

#[test]
fn sgd_momentum_matches_hand_computation() {
    let param = array![[1.0f32, -2.0]];
    let grad = array![[0.5f32, 0.25]];
    let step = SgdStep {
        learning_rate: 0.1,
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: false,
    };
    // v1 = g, p1 = p - 0.1 g; v2 = 0.9 g + g = 1.9 g, p2 = p1 - 0.19 g.
    let want_param = array![[1.0 - 0.29 * 0.5, -2.0 - 0.29 * 0.25]];
    let want_velocity = array![[1.9 * 0.5, 1.9 * 0.25]];
    for (device, (p, v)) in [
        ("cpu", cpu_steps(&param, &grad, step, 2)),
        ("gpu", gpu_steps(&param, &grad, step, 2)),
    ] {
        assert_close(
            &format!("{device} param"),
            p.view(),
            want_param.view(),
            0.0,
            1e-6,
        );
        assert_close(
            &format!("{device} velocity"),
            v.view(),
            want_velocity.view(),
            0.0,
            1e-6,
        );
    }
}

#[test]
fn sgd_weight_decay_and_nesterov_match_hand_computation() {
    let param = array![[2.0f32]];
    let grad = array![[1.0f32]];
    let step = SgdStep {
        learning_rate: 0.5,
        momentum: 0.5,
        weight_decay: 0.1,
        nesterov: true,
    };
    // g = 1 + 0.1·2 = 1.2, v = 1.2, p = 2 - 0.5·(1.2 + 0.5·1.2) = 1.1.
    for (device, (p, v)) in [
        ("cpu", cpu_steps(&param, &grad, step, 1)),
        ("gpu", gpu_steps(&param, &grad, step, 1)),
    ] {
        assert_close(
            &format!("{device} param"),
            p.view(),
            array![[1.1]].view(),
            0.0,
            1e-6,
        );
        assert_close(
            &format!("{device} velocity"),
            v.view(),
            array![[1.2]].view(),
            0.0,
            1e-6,
        );
    }
}

#[test]
fn sgd_matches_cpu_on_awkward_shapes() {
    let step = SgdStep {
        learning_rate: 0.05,
        momentum: 0.9,
        weight_decay: 1e-3,
        nesterov: false,
    };
    for (rows, cols) in [(1, 1), (7, 1), (65, 7), (257, 65)] {
        let param = pattern(rows, cols, 41);
        let grad = pattern(rows, cols, 42);
        let (cpu_p, cpu_v) = cpu_steps(&param, &grad, step, 3);
        let (gpu_p, gpu_v) = gpu_steps(&param, &grad, step, 3);
        // The same few operations per element in the same order; fused multiply-adds
        // on the GPU may round differently, by an ULP or two of the largest term.
        let what = format!("[{rows}, {cols}]");
        assert_close(
            &format!("{what} param"),
            gpu_p.view(),
            cpu_p.view(),
            4.0 * f32::EPSILON,
            4.0 * f32::EPSILON,
        );
        assert_close(
            &format!("{what} velocity"),
            gpu_v.view(),
            cpu_v.view(),
            4.0 * f32::EPSILON,
            4.0 * f32::EPSILON,
        );
    }
}

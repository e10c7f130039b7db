//! The optimizer kernels against the CPU reference and hand-computed updates, and the
//! optimizers' step counting.

mod common;

use common::{assert_close, context, download, pattern, recorder, upload};
use mlp_wgpu::cpu::{self, CpuBackend};
use mlp_wgpu::gpu::GpuBackend;
use mlp_wgpu::gpu::kernels::optimizer_update;
use mlp_wgpu::model::{Activation, LayerSpec, Loss, Mlp, MlpSpec, Parameters, Targets};
use mlp_wgpu::train::{AdamConfig, Optimizer, OptimizerConfig, SgdConfig};
use mlp_wgpu::{Backend, StepState, UpdateRule};
use ndarray::{Array2, array};

fn state(learning_rate: f32, bias_correction1: f32, bias_correction2: f32) -> StepState {
    StepState {
        learning_rate,
        bias_correction1,
        bias_correction2,
        _padding: 0.0,
    }
}

/// Runs `steps` updates with a constant gradient on the GPU; returns (param, moment1, moment2).
fn gpu_steps(
    rule: UpdateRule,
    states: &[StepState],
    param: &Array2<f32>,
    grad: &Array2<f32>,
) -> [Array2<f32>; 3] {
    let mut rec = recorder();
    let zeros = Array2::zeros(param.raw_dim());
    let (gp, gg) = (upload(&rec, param.view()), upload(&rec, grad.view()));
    let (m1, m2) = (upload(&rec, zeros.view()), upload(&rec, zeros.view()));
    let gs = upload(&rec, array![[0.0f32, 0.0, 0.0, 0.0]].view());
    for step in states {
        gs.write_rows(rec.context(), &step.as_values()).unwrap();
        optimizer_update(&mut rec, rule, &gs, &gp, &gg, &m1, Some(&m2)).unwrap();
        rec.submit().unwrap();
    }
    [
        download(&mut rec, &gp),
        download(&mut rec, &m1),
        download(&mut rec, &m2),
    ]
}

fn cpu_steps(
    rule: UpdateRule,
    states: &[StepState],
    param: &Array2<f32>,
    grad: &Array2<f32>,
) -> [Array2<f32>; 3] {
    let (mut p, mut m1, mut m2) = (
        param.clone(),
        Array2::zeros(param.raw_dim()),
        Array2::zeros(param.raw_dim()),
    );
    for &step in states {
        cpu::optimizer_update(
            rule,
            step,
            p.view_mut(),
            grad.view(),
            m1.view_mut(),
            Some(m2.view_mut()),
        );
    }
    [p, m1, m2]
}

/// The absolute tolerance on a parameter after Adam steps of learning rate 0.1: `1 - β2`
/// = 0.001 computed in f32 is off by up to ε / 0.001 ≈ 1.2e-4 relative, which reaches
/// the step through √v at half that, so 6e-5 of 0.1 per step.
const ADAM_ATOL: f32 = 2.0 * 6e-6;

/// Asserts that both devices give `want_param` (within `atol`, and 1e-6 relative) and
/// `want_moment1` after `states`.
fn check_both(
    rule: UpdateRule,
    states: &[StepState],
    param: Array2<f32>,
    grad: Array2<f32>,
    want_param: Array2<f32>,
    want_moment1: Array2<f32>,
) {
    let atol = match rule {
        UpdateRule::Adam { .. } => ADAM_ATOL,
        UpdateRule::Sgd { .. } => 1e-7,
    };
    for (device, [p, m1, _]) in [
        ("cpu", cpu_steps(rule, states, &param, &grad)),
        ("gpu", gpu_steps(rule, states, &param, &grad)),
    ] {
        assert_close(
            &format!("{device} param"),
            p.view(),
            want_param.view(),
            atol,
            1e-6,
        );
        assert_close(
            &format!("{device} moment1"),
            m1.view(),
            want_moment1.view(),
            1e-7,
            1e-6,
        );
    }
}

const SGD_MOMENTUM: UpdateRule = UpdateRule::Sgd {
    momentum: 0.9,
    weight_decay: 0.0,
    nesterov: false,
};

#[test]
fn sgd_momentum_matches_hand_computation() {
    let states = [state(0.1, 1.0, 1.0); 2];
    // v1 = g, p1 = p - 0.1 g; v2 = 0.9 g + g = 1.9 g, p2 = p1 - 0.19 g.
    let want_param = array![[1.0 - 0.29 * 0.5, -2.0 - 0.29 * 0.25]];
    let want_velocity = array![[1.9 * 0.5, 1.9 * 0.25]];
    check_both(
        SGD_MOMENTUM,
        &states,
        array![[1.0f32, -2.0]],
        array![[0.5f32, 0.25]],
        want_param,
        want_velocity,
    );
}

#[test]
fn sgd_weight_decay_and_nesterov_match_hand_computation() {
    let rule = UpdateRule::Sgd {
        momentum: 0.5,
        weight_decay: 0.1,
        nesterov: true,
    };
    // g = 1 + 0.1·2 = 1.2, v = 1.2, p = 2 - 0.5·(1.2 + 0.5·1.2) = 1.1.
    check_both(
        rule,
        &[state(0.5, 1.0, 1.0)],
        array![[2.0f32]],
        array![[1.0f32]],
        array![[1.1]],
        array![[1.2]],
    );
}

fn adam(weight_decay: f32, decoupled: bool) -> UpdateRule {
    UpdateRule::Adam {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay,
        decoupled,
    }
}

/// Bias corrections for steps 1 and 2 with β = (0.9, 0.999).
fn adam_states() -> [StepState; 2] {
    [state(0.1, 0.1, 0.001), state(0.1, 0.19, 0.001_999)]
}

#[test]
fn adam_steps_by_learning_rate_for_constant_gradient() {
    // With a constant gradient, the corrected moments are g and g², so each step moves
    // the parameter by lr · sign(g): 1 → 0.9 → 0.8. m2 = 0.9 · 0.05 + 0.1 · 0.5 = 0.095.
    check_both(
        adam(0.0, false),
        &adam_states(),
        array![[1.0f32]],
        array![[0.5f32]],
        array![[0.8]],
        array![[0.095]],
    );
}

#[test]
fn adamw_decays_weights_apart_from_gradient() {
    // AdamW: p = 1 - 0.1·0.01·1 = 0.999, then minus lr · sign(g) = 0.899.
    let states = [state(0.1, 0.1, 0.001)];
    check_both(
        adam(0.01, true),
        &states,
        array![[1.0f32]],
        array![[0.5f32]],
        array![[0.899]],
        array![[0.05]],
    );
    // Adam's L2 penalty instead joins the gradient: g = 0.51, m1 = 0.051, and the first
    // step is still lr · sign(g).
    check_both(
        adam(0.01, false),
        &states,
        array![[1.0f32]],
        array![[0.5f32]],
        array![[0.9]],
        array![[0.051]],
    );
}

#[test]
fn optimizers_match_cpu_on_awkward_shapes() {
    let rules = [
        SGD_MOMENTUM,
        UpdateRule::Sgd {
            momentum: 0.9,
            weight_decay: 1e-3,
            nesterov: true,
        },
        adam(1e-3, false),
        adam(1e-2, true),
    ];
    let states = [
        state(0.05, 0.1, 0.001),
        state(0.04, 0.19, 0.001_999),
        state(0.03, 0.271, 0.002_997),
    ];
    for rule in rules {
        let sweep = [1, 63, 64, 65, 255, 256, 257, 511, 512, 513, 1024].map(|rows| (rows, 7));
        for (rows, cols) in [(1, 1), (7, 1), (1, 10), (65, 7), (257, 65)]
            .into_iter()
            .chain(sweep)
        {
            let param = pattern(rows, cols, 41);
            let grad = pattern(rows, cols, 42);
            let want = cpu_steps(rule, &states, &param, &grad);
            let got = gpu_steps(rule, &states, &param, &grad);
            // A few operations per element in the same order; fused multiply-adds and the
            // drivers' sqrt may round differently by a few ULP of the largest term.
            for (name, (g, w)) in ["param", "moment1", "moment2"]
                .iter()
                .zip(got.iter().zip(&want))
            {
                let what = format!("{rule:?} [{rows}, {cols}] {name}");
                assert_close(
                    &what,
                    g.view(),
                    w.view(),
                    8.0 * f32::EPSILON,
                    8.0 * f32::EPSILON,
                );
            }
        }
    }
}

/// Trains a one-layer network for three Adam steps and returns, for each step, the
/// parameters before it and the gradients it used, followed by the final parameters.
fn adam_run<B: Backend>(backend: B) -> (Vec<(Parameters, Parameters)>, Parameters) {
    let spec = MlpSpec {
        inputs: 3,
        layers: vec![LayerSpec::new(2, Activation::Identity)],
    };
    let params = Parameters::init(&spec, None, 4).unwrap();
    let mut mlp = Mlp::new(backend, spec, &params, 4).unwrap();
    let config = AdamConfig {
        learning_rate: 0.01,
        ..AdamConfig::default()
    };
    let mut optimizer = Optimizer::new(&mut mlp, config).unwrap();
    let x = pattern(4, 3, 43);
    let mut history = Vec::new();
    for _ in 0..3 {
        let before = mlp.parameters().unwrap();
        mlp.compute_gradients(
            x.view(),
            Targets::Labels(&[0, 1, 1, 0]),
            Loss::SoftmaxCrossEntropy,
        )
        .unwrap();
        let grads = mlp.gradients().unwrap();
        optimizer.step(&mut mlp, 0.01).unwrap();
        history.push((before, grads));
    }
    assert_eq!(optimizer.steps(), 3);
    (history, mlp.parameters().unwrap())
}

#[test]
fn adam_bias_correction_counts_steps_not_tensors() {
    for (device, (history, last)) in [
        ("cpu", adam_run(CpuBackend::new())),
        ("gpu", adam_run(GpuBackend::new(context()))),
    ] {
        // Replays the run in f64 with t counting optimizer steps. Counting the weight and
        // the bias as separate steps would change every update after the first.
        let mut state: Vec<(f64, f64)> = vec![(0.0, 0.0); 8];
        let (mut params, _) = history[0].clone();
        for (t, (_, grads)) in history.iter().enumerate() {
            let t = (t + 1) as i32;
            let layer = &mut params.layers[0];
            let values = layer.weight.iter_mut().chain(layer.bias.iter_mut());
            let grads = grads.layers[0].weight.iter().chain(&grads.layers[0].bias);
            for ((p, &g), (m, v)) in values.zip(grads).zip(state.iter_mut()) {
                let g = f64::from(g);
                *m = 0.9 * *m + 0.1 * g;
                *v = 0.999 * *v + 0.001 * g * g;
                let m_hat = *m / (1.0 - 0.9f64.powi(t));
                let v_hat = *v / (1.0 - 0.999f64.powi(t));
                *p = (f64::from(*p) - 0.01 * m_hat / (v_hat.sqrt() + 1e-8)) as f32;
            }
        }
        let (want, got) = (&params.layers[0].weight, &last.layers[0].weight);
        assert_close(
            &format!("{device} weights after 3 Adam steps"),
            got.view(),
            want.view(),
            1e-6,
            1e-5,
        );
    }
}

#[test]
fn invalid_optimizer_settings_are_rejected() {
    let cases: [(OptimizerConfig, &str); 7] = [
        (
            SgdConfig {
                learning_rate: 0.0,
                ..SgdConfig::default()
            }
            .into(),
            "learning rate",
        ),
        (
            SgdConfig {
                learning_rate: f32::NAN,
                ..SgdConfig::default()
            }
            .into(),
            "learning rate",
        ),
        (
            SgdConfig {
                momentum: 1.0,
                ..SgdConfig::default()
            }
            .into(),
            "momentum",
        ),
        (
            SgdConfig {
                nesterov: true,
                ..SgdConfig::default()
            }
            .into(),
            "momentum",
        ),
        (
            SgdConfig {
                weight_decay: -1.0,
                ..SgdConfig::default()
            }
            .into(),
            "weight decay",
        ),
        (
            AdamConfig {
                beta2: 1.0,
                ..AdamConfig::default()
            }
            .into(),
            "beta2",
        ),
        (
            AdamConfig {
                epsilon: 0.0,
                ..AdamConfig::default()
            }
            .into(),
            "epsilon",
        ),
    ];
    for (config, name) in cases {
        let error = config.validate().unwrap_err();
        assert!(
            matches!(error, mlp_wgpu::Error::InvalidConfig { name: n, .. } if n == name),
            "{error}"
        );
    }
}

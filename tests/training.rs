//! Whole training runs: GPU against CPU with each optimizer, learning on real digits,
//! and divergence.

mod common;

use common::context;
use mlp_wgpu::cpu::CpuBackend;
use mlp_wgpu::data::{Dataset, MnistSplit, load_mnist};
use mlp_wgpu::gpu::GpuBackend;
use mlp_wgpu::model::{Activation, LayerSpec, Loss, Mlp, MlpSpec, Parameters};
use mlp_wgpu::train::{
    AdamConfig, EpochReport, Optimizer, OptimizerConfig, Schedule, SgdConfig, TrainConfig,
    evaluate, fit,
};
use mlp_wgpu::{Backend, Error};
use ndarray::{Array2, array};

fn digits(rows: usize) -> Dataset {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");
    let mut train = load_mnist(dir.as_ref(), MnistSplit::Train).unwrap();
    train.truncate(rows);
    train
}

fn config(epochs: usize, batch_size: usize, schedule: Schedule) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        seed: 5,
        schedule,
        loss: Loss::SoftmaxCrossEntropy,
    }
}

fn train<B: Backend>(
    backend: B,
    data: &Dataset,
    optimizer: OptimizerConfig,
    config: TrainConfig,
) -> (Mlp<B>, Vec<EpochReport>) {
    let spec = MlpSpec::classifier(784, &[32, 16], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 11).unwrap();
    let mut mlp = Mlp::new(backend, spec, &params, config.batch_size).unwrap();
    let mut optimizer = Optimizer::new(&mut mlp, optimizer).unwrap();
    let reports = fit(&mut mlp, &mut optimizer, data, &config, |_| {}).unwrap();
    (mlp, reports)
}

#[test]
fn gpu_and_cpu_training_agree_for_each_optimizer() {
    let data = digits(500);
    let optimizers: [OptimizerConfig; 4] = [
        SgdConfig {
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
            nesterov: false,
        }
        .into(),
        SgdConfig {
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: true,
        }
        .into(),
        AdamConfig {
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            ..AdamConfig::default()
        }
        .into(),
        AdamConfig {
            learning_rate: 2e-3,
            ..AdamConfig::adamw()
        }
        .into(),
    ];
    for optimizer in optimizers {
        // 500 rows in batches of 64: seven full batches and a final one of 52 rows.
        let config = config(3, 64, Schedule::Cosine);
        let (mut cpu, cpu_reports) = train(CpuBackend::new(), &data, optimizer, config);
        let (mut gpu, gpu_reports) = train(GpuBackend::new(context()), &data, optimizer, config);
        for (c, g) in cpu_reports.iter().zip(&gpu_reports) {
            // Rounding differences of about 1e-6 per step grow slowly over 24 steps.
            assert!(
                (c.loss - g.loss).abs() <= 1e-3 * c.loss,
                "{optimizer:?} epoch {}: cpu loss {} gpu loss {}",
                c.epoch,
                c.loss,
                g.loss
            );
            let (ca, ga) = (c.train_accuracy.unwrap(), g.train_accuracy.unwrap());
            assert!(
                (ca - ga).abs() <= 0.01,
                "{optimizer:?} epoch {}: accuracy {ca} vs {ga}",
                c.epoch
            );
            assert_eq!(c.steps, g.steps);
        }
        let (c, g) = (cpu.parameters().unwrap(), gpu.parameters().unwrap());
        for (index, (cl, gl)) in c.layers.iter().zip(&g.layers).enumerate() {
            let worst = cl
                .weight
                .iter()
                .zip(&gl.weight)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-3,
                "{optimizer:?} layer {index}: weights differ by up to {worst}"
            );
        }
    }
}

#[test]
fn training_on_digits_reduces_loss_and_learns() {
    let data = digits(2000);
    let sgd = SgdConfig {
        learning_rate: 0.1,
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: false,
    };
    let (mut gpu, reports) = train(
        GpuBackend::new(context()),
        &data,
        sgd.into(),
        config(3, 64, Schedule::Constant),
    );
    assert!(reports[2].loss < 0.6 * reports[0].loss, "{reports:?}");
    let accuracy = evaluate(&mut gpu, &data).unwrap();
    assert!(accuracy > 0.85, "training accuracy {accuracy}");
}

/// Fits y = w·x on x = [1, 2, 3], y = 2x, with mean squared error and plain SGD from
/// w = 0, one full-batch step per epoch. Returns the weight after each epoch, the
/// losses, and the error if training stopped.
fn fit_line<B: Backend>(
    backend: B,
    learning_rate: f32,
    epochs: usize,
) -> (Vec<f32>, Vec<f64>, Option<Error>, f32) {
    let spec = MlpSpec {
        inputs: 1,
        layers: vec![LayerSpec::new(1, Activation::Identity).without_bias()],
    };
    let params = Parameters {
        layers: vec![mlp_wgpu::model::DenseParams {
            weight: array![[0.0]],
            bias: array![0.0],
        }],
    };
    let data = Dataset::with_values(
        array![[1.0], [2.0], [3.0]],
        array![[2.0], [4.0], [6.0]],
        "line",
    )
    .unwrap();
    let mut mlp = Mlp::new(backend, spec, &params, 3).unwrap();
    let mut optimizer = Optimizer::new(
        &mut mlp,
        SgdConfig {
            learning_rate,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    let config = TrainConfig {
        epochs,
        batch_size: 3,
        seed: 1,
        schedule: Schedule::Constant,
        loss: Loss::MeanSquaredError,
    };
    let mut weights = Vec::new();
    let mut losses = Vec::new();
    let mut error = None;
    for _ in 0..epochs {
        let one = TrainConfig {
            epochs: 1,
            ..config
        };
        match fit(&mut mlp, &mut optimizer, &data, &one, |report| {
            losses.push(report.loss)
        }) {
            Ok(_) => weights.push(mlp.parameters().unwrap().layers[0].weight[[0, 0]]),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let last = mlp.parameters().unwrap().layers[0].weight[[0, 0]];
    (weights, losses, error, last)
}

#[test]
fn mse_line_fit_takes_expected_first_step() {
    for (device, (weights, losses, error, _)) in [
        ("cpu", fit_line(CpuBackend::new(), 0.1, 2)),
        ("gpu", fit_line(GpuBackend::new(context()), 0.1, 2)),
    ] {
        assert!(error.is_none(), "{device}: {error:?}");
        // dL/dw = 2·mean(x·(w·x - y)) = -18.667 at w = 0, so one step of 0.1 gives 1.8667.
        assert!(
            (weights[0] - 1.866_666_7).abs() < 1e-5,
            "{device} w = {}",
            weights[0]
        );
        assert!(
            (losses[0] - 18.666_666).abs() < 1e-4,
            "{device} first loss {}",
            losses[0]
        );
        assert!(
            (losses[1] - 0.082_963).abs() < 1e-5,
            "{device} second loss {}",
            losses[1]
        );
    }
}

#[test]
fn mse_line_fit_diverges_with_step_named() {
    // With lr 0.25, w - 2 is multiplied by 1 - 0.25 · 28/3 = -4/3 each step, so the loss
    // 56/3 · (16/9)^t passes f32's largest value between steps 148 and 150 (the sum of
    // squares overflows a little before their mean).
    let overflow_step = |scale: f64| {
        (0u64..)
            .find(|&t| scale * (16.0f64 / 9.0).powi(t as i32) > f64::from(f32::MAX))
            .unwrap()
    };
    let (first, last) = (overflow_step(14.0 * 4.0), overflow_step(56.0 / 3.0));
    for (device, (weights, _, error, final_weight)) in [
        ("cpu", fit_line(CpuBackend::new(), 0.25, 400)),
        ("gpu", fit_line(GpuBackend::new(context()), 0.25, 400)),
    ] {
        match error {
            Some(Error::Diverged { step, .. }) => {
                assert!(
                    (first.saturating_sub(1)..=last + 1).contains(&step),
                    "{device}: diverged at step {step}, expected {first}..={last}"
                );
            }
            other => panic!("{device}: expected divergence, got {other:?}"),
        }
        // The weight kept is the last finite one, from before the diverging step.
        assert!(final_weight.is_finite(), "{device}: weight {final_weight}");
        assert_eq!(Some(&final_weight), weights.last(), "{device}");
    }
}

fn diverge<B: Backend>(backend: B) {
    let data = digits(256);
    let spec = MlpSpec::classifier(784, &[16], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 2).unwrap();
    let mut mlp = Mlp::new(backend, spec, &params, 32).unwrap();
    let sgd = SgdConfig {
        learning_rate: 1e30,
        momentum: 0.0,
        weight_decay: 0.0,
        nesterov: false,
    };
    let mut optimizer = Optimizer::new(&mut mlp, sgd).unwrap();
    let error = fit(
        &mut mlp,
        &mut optimizer,
        &data,
        &config(3, 32, Schedule::Constant),
        |_| {},
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("lower the learning rate"),
        "{error}"
    );
    match error {
        // The first step's update makes the weights about 1e30, so the second batch's
        // logits overflow.
        Error::Diverged { step, epoch, .. } => assert_eq!((step, epoch), (1, 0)),
        other => panic!("expected Diverged, got {other}"),
    }
    // The parameters are those at the start of the diverging epoch: the initial ones.
    assert_eq!(mlp.parameters().unwrap(), params);
    assert_eq!(optimizer.steps(), 0);
}

#[test]
fn divergence_restores_weights_on_cpu() {
    diverge(CpuBackend::new());
}

#[test]
fn divergence_restores_weights_on_gpu() {
    diverge(GpuBackend::new(context()));
}

#[test]
fn batch_above_capacity_is_rejected() {
    let spec = MlpSpec::classifier(784, &[8], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 1).unwrap();
    let mut mlp = Mlp::new(CpuBackend::new(), spec, &params, 16).unwrap();
    let mut optimizer = Optimizer::new(&mut mlp, SgdConfig::default()).unwrap();
    let error = fit(
        &mut mlp,
        &mut optimizer,
        &digits(100),
        &config(1, 17, Schedule::Constant),
        |_| {},
    )
    .unwrap_err();
    assert!(error.to_string().contains("batch size = 17"), "{error}");
}

#[test]
fn regression_reports_no_accuracy() {
    let features = Array2::from_shape_fn((20, 2), |(i, j)| (i * 2 + j) as f32 / 40.0);
    let values = features
        .sum_axis(ndarray::Axis(1))
        .insert_axis(ndarray::Axis(1));
    let data = Dataset::with_values(features, values, "sums").unwrap();
    let spec = MlpSpec {
        inputs: 2,
        layers: vec![LayerSpec::new(1, Activation::Identity)],
    };
    let params = Parameters::init(&spec, None, 1).unwrap();
    let mut mlp = Mlp::new(GpuBackend::new(context()), spec, &params, 5).unwrap();
    let mut optimizer = Optimizer::new(
        &mut mlp,
        AdamConfig {
            learning_rate: 0.05,
            ..AdamConfig::default()
        },
    )
    .unwrap();
    let config = TrainConfig {
        loss: Loss::MeanSquaredError,
        ..config(30, 5, Schedule::Constant)
    };
    let reports = fit(&mut mlp, &mut optimizer, &data, &config, |_| {}).unwrap();
    assert!(reports.iter().all(|r| r.train_accuracy.is_none()));
    assert!(
        reports[29].loss < 0.01 * reports[0].loss,
        "{:?} → {:?}",
        reports[0].loss,
        reports[29].loss
    );
    assert!(evaluate(&mut mlp, &data).is_err());
}

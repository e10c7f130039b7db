//! Whole training runs: GPU against CPU, learning on real digits, and divergence.

mod common;

use common::context;
use mlp_wgpu::cpu::CpuBackend;
use mlp_wgpu::data::{Dataset, MnistSplit, load_mnist};
use mlp_wgpu::gpu::GpuBackend;
use mlp_wgpu::model::{Activation, Mlp, MlpSpec, Parameters};
use mlp_wgpu::train::{EpochReport, Schedule, Sgd, SgdConfig, TrainConfig, evaluate, fit};
use mlp_wgpu::{Backend, Error};

fn digits(rows: usize) -> Dataset {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");
    let mut train = load_mnist(dir.as_ref(), MnistSplit::Train).unwrap();
    train.truncate(rows);
    train
}

fn train<B: Backend>(
    backend: B,
    data: &Dataset,
    sgd: SgdConfig,
    config: TrainConfig,
) -> (Mlp<B>, Vec<EpochReport>) {
    let spec = MlpSpec::classifier(784, &[32, 16], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 11).unwrap();
    let mut mlp = Mlp::new(backend, spec, &params, config.batch_size).unwrap();
    let mut optimizer = Sgd::new(&mut mlp, sgd).unwrap();
    let reports = fit(&mut mlp, &mut optimizer, data, &config, |_| {}).unwrap();
    (mlp, reports)
}

#[test]
fn gpu_and_cpu_training_agree() {
    let data = digits(500);
    let sgd = SgdConfig {
        learning_rate: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
        nesterov: false,
    };
    // 500 rows in batches of 64: seven full batches and a final one of 52 rows.
    let config = TrainConfig {
        epochs: 3,
        batch_size: 64,
        seed: 5,
        schedule: Schedule::Cosine,
    };
    let (mut cpu, cpu_reports) = train(CpuBackend::new(), &data, sgd, config);
    let (mut gpu, gpu_reports) = train(GpuBackend::new(context()), &data, sgd, config);

    for (c, g) in cpu_reports.iter().zip(&gpu_reports) {
        // Rounding differences of about 1e-6 per step grow slowly over 24 steps.
        assert!(
            (c.loss - g.loss).abs() <= 1e-3 * c.loss,
            "epoch {}: cpu loss {} gpu loss {}",
            c.epoch,
            c.loss,
            g.loss
        );
        assert!(
            (c.train_accuracy - g.train_accuracy).abs() <= 0.01,
            "epoch {}: accuracy {} vs {}",
            c.epoch,
            c.train_accuracy,
            g.train_accuracy
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
            "layer {index}: weights differ by up to {worst}"
        );
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
    let config = TrainConfig {
        epochs: 3,
        batch_size: 64,
        seed: 1,
        schedule: Schedule::Constant,
    };
    let (mut gpu, reports) = train(GpuBackend::new(context()), &data, sgd, config);
    assert!(reports[2].loss < 0.6 * reports[0].loss, "{reports:?}");
    let accuracy = evaluate(&mut gpu, &data).unwrap();
    assert!(accuracy > 0.85, "training accuracy {accuracy}");
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
    let mut optimizer = Sgd::new(&mut mlp, sgd).unwrap();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 32,
        seed: 1,
        schedule: Schedule::Constant,
    };
    let error = fit(&mut mlp, &mut optimizer, &data, &config, |_| {}).unwrap_err();
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
fn invalid_settings_are_rejected() {
    let spec = MlpSpec::classifier(784, &[8], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 1).unwrap();
    let mut mlp = Mlp::new(CpuBackend::new(), spec, &params, 16).unwrap();
    for (config, name) in [
        (
            SgdConfig {
                learning_rate: 0.0,
                ..SgdConfig::default()
            },
            "learning rate",
        ),
        (
            SgdConfig {
                learning_rate: f32::NAN,
                ..SgdConfig::default()
            },
            "learning rate",
        ),
        (
            SgdConfig {
                momentum: 1.0,
                ..SgdConfig::default()
            },
            "momentum",
        ),
        (
            SgdConfig {
                weight_decay: -1.0,
                ..SgdConfig::default()
            },
            "weight decay",
        ),
    ] {
        let error = Sgd::new(&mut mlp, config).unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig { name: n, .. } if n == name),
            "{error}"
        );
    }
    let mut optimizer = Sgd::new(&mut mlp, SgdConfig::default()).unwrap();
    let config = TrainConfig {
        epochs: 1,
        batch_size: 17,
        seed: 1,
        schedule: Schedule::Constant,
    };
    let error = fit(&mut mlp, &mut optimizer, &digits(100), &config, |_| {}).unwrap_err();
    assert!(error.to_string().contains("batch size = 17"), "{error}");
}

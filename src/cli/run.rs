//! One training run, as the command line starts it.

use std::time::Instant;

use mlp_wgpu::Backend;
use mlp_wgpu::cpu::CpuBackend;
use mlp_wgpu::data::{Dataset, MnistSplit, load_mnist};
use mlp_wgpu::gpu::{GpuBackend, GpuContext};
use mlp_wgpu::model::Loss;
use mlp_wgpu::model::{Mlp, MlpSpec, Parameters};
use mlp_wgpu::train::{
    AdamConfig, Optimizer, OptimizerConfig, SgdConfig, TrainConfig, evaluate, fit,
};

use crate::cli::{Args, DeviceChoice, OptimizerChoice};

/// Loads the data, picks the device, trains and prints the results.
///
/// # Errors
/// Any error of the library; with `--device gpu`, also a missing adapter.
pub fn run(args: &Args) -> mlp_wgpu::Result<()> {
    let started = Instant::now();
    let data_dir = args.data_dir();
    let train = load_mnist(&data_dir, MnistSplit::Train)?;
    let test = load_mnist(&data_dir, MnistSplit::Test)?;
    println!(
        "data: {} training and {} test digits from {}",
        train.len(),
        test.len(),
        data_dir.display()
    );

    match args.device {
        DeviceChoice::Cpu => train_on(CpuBackend::new(), args, &train, &test, started),
        DeviceChoice::Gpu => {
            let backend = GpuBackend::new(GpuContext::new()?);
            train_on(backend, args, &train, &test, started)
        }
        DeviceChoice::Auto => match GpuContext::new() {
            Ok(ctx) => train_on(GpuBackend::new(ctx), args, &train, &test, started),
            Err(error) => {
                eprintln!("{error}; training on the CPU instead");
                train_on(CpuBackend::new(), args, &train, &test, started)
            }
        },
    }
}

fn train_on<B: Backend>(
    backend: B,
    args: &Args,
    train: &Dataset,
    test: &Dataset,
    started: Instant,
) -> mlp_wgpu::Result<()> {
    println!("device: {}", backend.describe());
    let inputs = train.features().ncols();
    let classes = train.classes().unwrap_or(10);
    let spec = MlpSpec::classifier(inputs, &args.hidden, args.activation, classes);
    let params = Parameters::init(&spec, None, args.seed)?;
    let widths: Vec<String> = std::iter::once(spec.inputs)
        .chain(spec.layers.iter().map(|layer| layer.width))
        .map(|width| width.to_string())
        .collect();
    println!(
        "network: {} ({} hidden), {} parameters, initial weights fingerprint {:016x}",
        widths.join("-"),
        args.activation,
        params.count(),
        params.fingerprint()
    );

    // Buffers larger than the training set would never be filled.
    let batch_size = (args.batch_size as usize).min(train.len().max(1));
    if batch_size < args.batch_size as usize {
        println!(
            "batch size {} is larger than the {} training rows; using {batch_size}",
            args.batch_size,
            train.len()
        );
    }
    let mut mlp = Mlp::new(backend, spec, &params, batch_size)?;
    let mut optimizer = Optimizer::new(&mut mlp, optimizer_config(args))?;
    let config = TrainConfig {
        epochs: args.epochs as usize,
        batch_size,
        seed: args.seed,
        schedule: args.schedule.into(),
        loss: Loss::SoftmaxCrossEntropy,
    };

    let training = Instant::now();
    fit(&mut mlp, &mut optimizer, train, &config, |report| {
        println!(
            "epoch {:>3}/{}  loss {:.4}  train accuracy {:6.2}%  lr {:.4}  {:.2} s",
            report.epoch + 1,
            config.epochs,
            report.loss,
            100.0 * report.train_accuracy.unwrap_or(0.0),
            report.learning_rate,
            report.seconds
        );
    })?;
    let training_seconds = training.elapsed().as_secs_f64();

    let accuracy = evaluate(&mut mlp, test)?;
    let correct = (accuracy * test.len() as f64).round();
    println!(
        "test accuracy: {:.2}% ({correct}/{}) on {}",
        100.0 * accuracy,
        test.len(),
        mlp.backend().describe()
    );
    println!(
        "time: {:.1} s in all, {training_seconds:.1} s training",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The optimizer the arguments select, with each optimizer's usual learning rate unless
/// one is given.
fn optimizer_config(args: &Args) -> OptimizerConfig {
    match args.optimizer {
        OptimizerChoice::Sgd => OptimizerConfig::Sgd(SgdConfig {
            learning_rate: args.learning_rate.unwrap_or(0.1),
            momentum: args.momentum,
            weight_decay: args.weight_decay,
            nesterov: args.nesterov,
        }),
        OptimizerChoice::Adam | OptimizerChoice::Adamw => OptimizerConfig::Adam(AdamConfig {
            learning_rate: args.learning_rate.unwrap_or(0.001),
            weight_decay: args.weight_decay,
            decoupled: args.optimizer == OptimizerChoice::Adamw,
            ..AdamConfig::default()
        }),
    }
}

//! Whole training steps and dense-layer passes, GPU against CPU.
//!
//! A training step of 784-128-64-10 (ReLU, softmax cross-entropy, SGD with learning rate
//! 0.01 and no momentum) is what BENCHMARKS.md compares with other frameworks. Each step
//! uploads the batch, records the forward pass, the loss, the backward pass and the
//! update, and submits them. The device is waited for once per measured group of steps.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, criterion_group, criterion_main};
use mlp_wgpu::Backend;
use mlp_wgpu::cpu::CpuBackend;
use mlp_wgpu::gpu::GpuBackend;
use mlp_wgpu::model::{Activation, Loss, Mlp, MlpSpec, Parameters, Targets};
use mlp_wgpu::train::{Optimizer, SgdConfig};
use ndarray::Array2;

/// One prepared network with a fixed batch.
struct Step<B: Backend> {
    mlp: Mlp<B>,
    optimizer: Optimizer<B>,
    features: Array2<f32>,
    labels: Vec<u32>,
}

impl<B: Backend> Step<B> {
    fn new(backend: B, batch: usize) -> Self {
        let spec = MlpSpec::classifier(784, &[128, 64], Activation::Relu, 10);
        let params = Parameters::init(&spec, None, 1).expect("valid network");
        let mut mlp = Mlp::new(backend, spec, &params, batch).expect("network fits");
        let config = SgdConfig {
            learning_rate: 0.01,
            ..SgdConfig::default()
        };
        let optimizer = Optimizer::new(&mut mlp, config).expect("valid optimizer");
        let features =
            Array2::from_shape_fn((batch, 784), |(i, j)| ((i * 31 + j) % 255) as f32 / 255.0);
        let labels = (0..batch).map(|i| (i % 10) as u32).collect();
        Step {
            mlp,
            optimizer,
            features,
            labels,
        }
    }

    fn run(&mut self) {
        self.optimizer.begin_step(&mut self.mlp, 0.01).unwrap();
        let targets = Targets::Labels(&self.labels);
        self.mlp
            .compute_gradients(self.features.view(), targets, Loss::SoftmaxCrossEntropy)
            .unwrap();
        self.optimizer.update(&mut self.mlp).unwrap();
        self.mlp.backend_mut().submit().unwrap();
    }

    /// Runs `iters` steps and waits for the device once, by reading the loss totals.
    fn time(&mut self, iters: u64) -> Duration {
        self.mlp.take_loss_totals().unwrap();
        let started = Instant::now();
        for _ in 0..iters {
            self.run();
        }
        self.mlp.take_loss_totals().unwrap();
        started.elapsed()
    }
}

fn bench_train_step(c: &mut criterion::Criterion) {
    let mut group = c.benchmark_group("train_step_784_128_64_10");
    let gpu = common::gpu();
    for batch in [64, 1024] {
        let mut cpu = Step::new(CpuBackend::new(), batch);
        group.bench_with_input(BenchmarkId::new("cpu", batch), &batch, |bench, _| {
            bench.iter_custom(|iters| cpu.time(iters));
        });
        if let Some(ctx) = &gpu {
            let mut step = Step::new(GpuBackend::new(ctx.clone()), batch);
            let started = Instant::now();
            step.time(1);
            eprintln!(
                "train step batch {batch}: first run {:.1} ms (pipeline builds and shader compilation included)",
                started.elapsed().as_secs_f64() * 1e3
            );
            group.bench_with_input(BenchmarkId::new("gpu", batch), &batch, |bench, _| {
                bench.iter_custom(|iters| step.time(iters));
            });
        }
    }
    group.finish();
}

/// Forward and backward passes of one 784 → 256 ReLU layer at batch 1024, through the
/// backend operations the network uses.
fn bench_dense_layer(c: &mut criterion::Criterion) {
    let mut group = c.benchmark_group("dense_layer_784_256_batch_1024");
    bench_layer_on(&mut group, "cpu", CpuBackend::new());
    if let Some(ctx) = common::gpu() {
        bench_layer_on(&mut group, "gpu", GpuBackend::new(ctx));
    }
    group.finish();
}

fn bench_layer_on<B: Backend>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    device: &str,
    mut backend: B,
) {
    let (batch, fan_in, fan_out) = (1024, 784, 256);
    let mut matrix = |rows, cols, salt: usize| {
        let mut m = backend.zeros(rows, cols, "bench").unwrap();
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7 + salt) % 13) as f32 / 13.0 - 0.5)
            .collect();
        backend.write(&mut m, &values).unwrap();
        m
    };
    let (x, w, bias) = (
        matrix(batch, fan_in, 1),
        matrix(fan_in, fan_out, 2),
        matrix(1, fan_out, 3),
    );
    let (mut y, grad_y) = (matrix(batch, fan_out, 4), matrix(batch, fan_out, 5));
    let (mut grad_w, mut grad_b, mut grad_x) = (
        matrix(fan_in, fan_out, 0),
        matrix(1, fan_out, 0),
        matrix(batch, fan_in, 0),
    );
    group.bench_function(BenchmarkId::new(device, "forward"), |bench| {
        bench.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                backend
                    .linear_forward(&x, &w, &bias, Activation::Relu, None, &mut y, batch)
                    .unwrap();
                backend.submit().unwrap();
            }
            backend.read(&y, 1).unwrap();
            started.elapsed()
        });
    });
    group.bench_function(BenchmarkId::new(device, "backward"), |bench| {
        bench.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                backend
                    .weight_grad(&x, &grad_y, &mut grad_w, batch, false)
                    .unwrap();
                backend
                    .bias_grad(&grad_y, &mut grad_b, batch, false)
                    .unwrap();
                backend
                    .input_grad(&grad_y, &w, Activation::Relu, &x, &mut grad_x, batch)
                    .unwrap();
                backend.submit().unwrap();
            }
            backend.read(&grad_b, 1).unwrap();
            started.elapsed()
        });
    });
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_train_step, bench_dense_layer
}
criterion_main!(benches);

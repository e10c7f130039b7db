//! The element-wise, row-wise, reduction, loss and optimizer kernels, GPU against the
//! CPU reference, at sizes a training step meets.

mod common;

use criterion::{BenchmarkId, Throughput, criterion_group, criterion_main};
use mlp_wgpu::gpu::kernels::{self, LossTotals};
use mlp_wgpu::gpu::{GpuTensor, Recorder};
use mlp_wgpu::model::{Activation, Loss};
use mlp_wgpu::{LossChunk, StepState, UpdateRule, cpu};
use ndarray::Array2;

fn pattern(rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 7 + j * 3) % 17) as f32 / 17.0 - 0.5
    })
}

fn bench_kernels(c: &mut criterion::Criterion) {
    let mut group = c.benchmark_group("kernels");
    let gpu = common::gpu();
    let upload = |m: &Array2<f32>| {
        let ctx = gpu.as_ref().unwrap();
        GpuTensor::from_slice(
            ctx,
            m.nrows(),
            m.ncols(),
            m.as_standard_layout().as_slice().unwrap(),
            "bench",
        )
        .unwrap()
    };

    // GELU over 1024 × 1024 elements.
    let x = pattern(1024, 1024);
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function(BenchmarkId::new("cpu", "gelu 1M"), |b| {
        b.iter(|| cpu::activation_forward(Activation::Gelu, x.view()))
    });
    // Softmax over 1024 rows of 1000.
    let logits = pattern(1024, 1000);
    group.throughput(Throughput::Elements(logits.len() as u64));
    group.bench_function(BenchmarkId::new("cpu", "softmax 1024x1000"), |b| {
        b.iter(|| cpu::softmax_forward(logits.view()))
    });
    // Cross-entropy over 1024 rows of 10 classes.
    let small = pattern(1024, 10);
    let labels: Vec<u32> = (0..1024).map(|i| (i % 10) as u32).collect();
    group.throughput(Throughput::Elements(small.len() as u64));
    group.bench_function(BenchmarkId::new("cpu", "cross-entropy 1024x10"), |b| {
        b.iter(|| cpu::softmax_cross_entropy(small.view(), &labels).unwrap())
    });
    // Column sums of 1024 × 256: a bias gradient.
    let grad = pattern(1024, 256);
    group.throughput(Throughput::Elements(grad.len() as u64));
    group.bench_function(BenchmarkId::new("cpu", "column sum 1024x256"), |b| {
        b.iter(|| cpu::column_sums(grad.view()))
    });
    // Adam over a 784 × 256 weight.
    let adam = UpdateRule::Adam {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay: 0.0,
        decoupled: false,
    };
    let step = StepState {
        learning_rate: 1e-3,
        bias_correction1: 0.1,
        bias_correction2: 0.001,
        _padding: 0.0,
    };
    let (mut param, weight_grad) = (pattern(784, 256), pattern(784, 256));
    let (mut m1, mut m2) = (Array2::zeros((784, 256)), Array2::zeros((784, 256)));
    group.throughput(Throughput::Elements(param.len() as u64));
    group.bench_function(BenchmarkId::new("cpu", "adam 784x256"), |b| {
        b.iter(|| {
            cpu::optimizer_update(
                adam,
                step,
                param.view_mut(),
                weight_grad.view(),
                m1.view_mut(),
                Some(m2.view_mut()),
            )
        })
    });

    let Some(ctx) = gpu.clone() else { return };
    let mut recorder = Recorder::new(ctx.clone());
    let mut run = |name: &str,
                   elements: usize,
                   recorder: &mut Recorder,
                   record: &mut dyn FnMut(&mut Recorder)| {
        group.throughput(Throughput::Elements(elements as u64));
        common::report_first_run(name, recorder, &mut *record);
        group.bench_function(BenchmarkId::new("gpu", name), |b| {
            b.iter_custom(|iters| common::time_gpu(recorder, iters, &mut *record));
        });
    };

    let (gx, gy) = (
        upload(&x),
        GpuTensor::zeros(&ctx, 1024, 1024, "bench.y").unwrap(),
    );
    run("gelu 1M", x.len(), &mut recorder, &mut |rec| {
        kernels::activation_forward(rec, Activation::Gelu, &gx, &gy).unwrap()
    });

    let (gl, gs) = (
        upload(&logits),
        GpuTensor::zeros(&ctx, 1024, 1000, "bench.softmax").unwrap(),
    );
    run(
        "softmax 1024x1000",
        logits.len(),
        &mut recorder,
        &mut |rec| kernels::softmax_forward(rec, &gl, &gs, 1024).unwrap(),
    );

    let gsmall = upload(&small);
    let glabels = GpuTensor::from_slice(&ctx, 1024, 1, &labels, "bench.labels").unwrap();
    let ggrad = GpuTensor::zeros(&ctx, 1024, 10, "bench.grad").unwrap();
    let zero: &[f32] = bytemuck::cast_slice(std::slice::from_ref(&LossTotals::ZERO));
    let totals = GpuTensor::from_slice(&ctx, 1, 4, zero, "bench.totals").unwrap();
    run(
        "cross-entropy 1024x10",
        small.len(),
        &mut recorder,
        &mut |rec| {
            kernels::softmax_cross_entropy(
                rec,
                &gsmall,
                &glabels,
                &ggrad,
                &totals,
                LossChunk::whole(1024),
            )
            .unwrap()
        },
    );
    let gtargets = upload(&small);
    run("mse 1024x10", small.len(), &mut recorder, &mut |rec| {
        kernels::loss_with_targets(
            rec,
            Loss::MeanSquaredError,
            &gsmall,
            &gtargets,
            &ggrad,
            &totals,
            LossChunk::whole(1024),
        )
        .unwrap()
    });

    let (gg, gb) = (
        upload(&grad),
        GpuTensor::zeros(&ctx, 1, 256, "bench.bias").unwrap(),
    );
    run(
        "column sum 1024x256",
        grad.len(),
        &mut recorder,
        &mut |rec| kernels::column_sum(rec, &gg, &gb, 1024, false).unwrap(),
    );

    let (gp, gw) = (upload(&param), upload(&weight_grad));
    let (gm1, gm2) = (upload(&m1), upload(&m2));
    let gstate = GpuTensor::from_slice(&ctx, 1, 4, &step.as_values(), "bench.state").unwrap();
    run("adam 784x256", param.len(), &mut recorder, &mut |rec| {
        kernels::optimizer_update(rec, adam, &gstate, &gp, &gw, &gm1, Some(&gm2)).unwrap()
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_kernels
}
criterion_main!(benches);

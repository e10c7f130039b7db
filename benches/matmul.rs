//! Matrix products: every GPU matmul kernel and ndarray, square n × n · n × n, reported as
//! FLOP/s (2·n³ per product) through Criterion's element throughput; and the three
//! products of a dense layer at a training batch.

mod common;

use criterion::{BenchmarkId, Throughput, criterion_group, criterion_main};
use mlp_wgpu::MatmulForm;
use mlp_wgpu::gpu::kernels::{Epilogue, MatmulKernel, MatmulSize, matmul_with};
use mlp_wgpu::gpu::{ContextOptions, GpuContext, GpuTensor, Recorder};
use ndarray::Array2;

const SIZES: [usize; 4] = [256, 512, 1024, 2048];

fn square(n: usize, salt: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, n), |(i, j)| {
        ((i * 7 + j * 13 + salt) % 31) as f32 / 31.0 - 0.5
    })
}

fn bench_square(c: &mut criterion::Criterion) {
    let mut group = c.benchmark_group("matmul_square");
    for n in SIZES {
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        let (a, b) = (square(n, 1), square(n, 2));
        group.bench_with_input(BenchmarkId::new("ndarray", n), &n, |bench, _| {
            bench.iter(|| a.dot(&b));
        });
    }

    let Some(default) = common::gpu() else { return };
    let mut kernels = vec![
        MatmulKernel::Naive,
        MatmulKernel::Blocked,
        MatmulKernel::Tiled,
    ];
    if default.has_subgroups() {
        kernels.push(MatmulKernel::Subgroup);
    }
    for kernel in kernels {
        let options = ContextOptions {
            matmul_kernel: Some(kernel),
            ..ContextOptions::default()
        };
        let ctx = GpuContext::with_options(options).expect("the adapter was found once");
        let mut recorder = Recorder::new(ctx.clone());
        for n in SIZES {
            group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
            let upload = |m: Array2<f32>| {
                GpuTensor::from_slice(&ctx, n, n, m.as_slice().unwrap(), "bench").unwrap()
            };
            let (ga, gb) = (upload(square(n, 1)), upload(square(n, 2)));
            let gc = GpuTensor::zeros(&ctx, n, n, "bench.c").unwrap();
            let size = MatmulSize { m: n, n, k: n };
            let mut record = |rec: &mut Recorder| {
                matmul_with(
                    rec,
                    kernel,
                    MatmulForm::Nn,
                    &ga,
                    &gb,
                    &gc,
                    size,
                    Epilogue::None,
                )
                .unwrap();
            };
            if n == SIZES[0] {
                common::report_first_run(&format!("matmul {kernel:?} {n}"), &mut recorder, record);
            }
            group.bench_with_input(
                BenchmarkId::new(format!("gpu_{}", kernel.name()), n),
                &n,
                |bench, _| {
                    bench.iter_custom(|iters| common::time_gpu(&mut recorder, iters, &mut record));
                },
            );
        }
    }
    group.finish();
}

/// The three products of a 784 → 256 dense layer at batch 1024, on the GPU's default
/// kernel and on ndarray.
fn bench_layer_forms(c: &mut criterion::Criterion) {
    let (batch, fan_in, fan_out) = (1024, 784, 256);
    let mut group = c.benchmark_group("matmul_dense_layer");
    group.throughput(Throughput::Elements(2 * (batch * fan_in * fan_out) as u64));
    let x = Array2::from_shape_fn((batch, fan_in), |(i, j)| ((i + j) % 7) as f32 / 7.0);
    let w = Array2::from_shape_fn((fan_in, fan_out), |(i, j)| {
        ((i * 3 + j) % 5) as f32 / 5.0 - 0.4
    });
    let dy = Array2::from_shape_fn((batch, fan_out), |(i, j)| {
        ((i * 5 + j) % 9) as f32 / 9.0 - 0.5
    });
    let products: [(MatmulForm, &str); 3] = [
        (MatmulForm::Nn, "forward x·W"),
        (MatmulForm::Tn, "weight_grad xT·dy"),
        (MatmulForm::Nt, "input_grad dy·WT"),
    ];
    for (form, name) in products {
        group.bench_function(BenchmarkId::new("ndarray", name), |bench| {
            bench.iter(|| {
                mlp_wgpu::cpu::matmul(
                    form,
                    operands(form, &x, &w, &dy).0,
                    operands(form, &x, &w, &dy).1,
                )
            });
        });
    }
    let Some(ctx) = common::gpu() else { return };
    let mut recorder = Recorder::new(ctx.clone());
    let upload = |m: &Array2<f32>| {
        GpuTensor::from_slice(&ctx, m.nrows(), m.ncols(), m.as_slice().unwrap(), "bench").unwrap()
    };
    let (gx, gw, gdy) = (upload(&x), upload(&w), upload(&dy));
    for (form, name) in products {
        let (a, b, size, out) = match form {
            MatmulForm::Nn => (
                &gx,
                &gw,
                MatmulSize {
                    m: batch,
                    n: fan_out,
                    k: fan_in,
                },
                (batch, fan_out),
            ),
            MatmulForm::Tn => (
                &gx,
                &gdy,
                MatmulSize {
                    m: fan_in,
                    n: fan_out,
                    k: batch,
                },
                (fan_in, fan_out),
            ),
            MatmulForm::Nt => (
                &gdy,
                &gw,
                MatmulSize {
                    m: batch,
                    n: fan_in,
                    k: fan_out,
                },
                (batch, fan_in),
            ),
        };
        let gc = GpuTensor::zeros(&ctx, out.0, out.1, "bench.c").unwrap();
        let kernel = ctx.matmul_kernel();
        let mut record = |rec: &mut Recorder| {
            matmul_with(rec, kernel, form, a, b, &gc, size, Epilogue::None).unwrap();
        };
        group.bench_function(
            BenchmarkId::new(format!("gpu_{}", kernel.name()), name),
            |bench| {
                bench.iter_custom(|iters| common::time_gpu(&mut recorder, iters, &mut record));
            },
        );
    }
    group.finish();
}

/// The stored operands of a layer product in `form`.
fn operands<'a>(
    form: MatmulForm,
    x: &'a Array2<f32>,
    w: &'a Array2<f32>,
    dy: &'a Array2<f32>,
) -> (ndarray::ArrayView2<'a, f32>, ndarray::ArrayView2<'a, f32>) {
    match form {
        MatmulForm::Nn => (x.view(), w.view()),
        MatmulForm::Tn => (x.view(), dy.view()),
        MatmulForm::Nt => (dy.view(), w.view()),
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = bench_square, bench_layer_forms
}
criterion_main!(benches);

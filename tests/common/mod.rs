//! Helpers shared by the integration tests: the GPU context, uploads and readbacks, and
//! the comparison of GPU results with the CPU reference.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use mlp_wgpu::gpu::kernels::MatmulKernel;
use mlp_wgpu::gpu::{ContextOptions, GpuContext, GpuTensor, Recorder};
use ndarray::{Array2, ArrayView2};

/// Returns the GPU context shared by the tests of one test binary.
///
/// # Panics
/// When no adapter is found, because a GPU test that skips silently proves nothing.
/// Setting `MLP_WGPU_EXPECT_BACKEND` (for example to `vulkan` or `gl`) also fails the
/// test when the adapter runs on another backend, so CI notices a silent fallback.
pub fn context() -> Arc<GpuContext> {
    static CONTEXT: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CONTEXT
        .get_or_init(|| {
            let ctx = GpuContext::new().unwrap_or_else(|error| {
                panic!(
                    "GPU tests need a wgpu adapter: {error}. On Linux without a GPU, install \
                     lavapipe with `apt-get install mesa-vulkan-drivers`."
                )
            });
            if let Ok(expected) = std::env::var("MLP_WGPU_EXPECT_BACKEND") {
                let actual = format!("{:?}", ctx.adapter_info().backend);
                assert!(
                    actual.eq_ignore_ascii_case(&expected),
                    "MLP_WGPU_EXPECT_BACKEND={expected} but the adapter is {}",
                    ctx.describe()
                );
            }
            eprintln!("GPU tests run on {}", ctx.describe());
            ctx
        })
        .clone()
}

/// Returns one context per matmul kernel the adapter can run, each forced to use that
/// kernel, so that every kernel is tested whatever the adapter would choose.
pub fn kernel_contexts() -> &'static [(MatmulKernel, Arc<GpuContext>)] {
    static CONTEXTS: OnceLock<Vec<(MatmulKernel, Arc<GpuContext>)>> = OnceLock::new();
    CONTEXTS.get_or_init(|| {
        let subgroups = context().has_subgroups();
        MatmulKernel::ALL
            .into_iter()
            .filter(|&kernel| {
                let runnable = kernel != MatmulKernel::Subgroup || subgroups;
                if !runnable {
                    eprintln!("the adapter has no subgroups, so the subgroup kernel is not tested");
                }
                runnable
            })
            .map(|kernel| {
                let options = ContextOptions {
                    matmul_kernel: Some(kernel),
                    ..ContextOptions::default()
                };
                (
                    kernel,
                    GpuContext::with_options(options).expect("the adapter was found once"),
                )
            })
            .collect()
    })
}

/// Returns a recorder on a context that splits dispatches past `limit` workgroups per
/// dimension, to reach the paths that large inputs take with small ones.
pub fn limited_recorder(limit: u32) -> Recorder {
    let options = ContextOptions {
        max_workgroups_per_dimension: Some(limit),
        ..ContextOptions::default()
    };
    Recorder::new(GpuContext::with_options(options).expect("the adapter was found once"))
}

/// Returns a recorder on the shared context.
pub fn recorder() -> Recorder {
    Recorder::new(context())
}

/// Uploads a matrix.
pub fn upload(recorder: &Recorder, values: ArrayView2<'_, f32>) -> GpuTensor {
    let values = values.as_standard_layout();
    GpuTensor::from_slice(
        recorder.context(),
        values.nrows(),
        values.ncols(),
        values.as_slice().unwrap(),
        "test.input",
    )
    .unwrap()
}

/// Allocates a zero matrix.
pub fn zeros(recorder: &Recorder, rows: usize, cols: usize) -> GpuTensor {
    GpuTensor::zeros(recorder.context(), rows, cols, "test.output").unwrap()
}

/// Submits the recorded work and reads `tensor` back.
pub fn download(recorder: &mut Recorder, tensor: &GpuTensor) -> Array2<f32> {
    recorder.submit().unwrap();
    let values = tensor.read_rows(recorder.context(), tensor.rows()).unwrap();
    Array2::from_shape_vec((tensor.rows(), tensor.cols()), values).unwrap()
}

/// Asserts `|got − want| ≤ atol + rtol·|want|` element by element, and on failure names
/// the worst element, its index and both values.
#[track_caller]
pub fn assert_close(
    what: &str,
    got: ArrayView2<'_, f32>,
    want: ArrayView2<'_, f32>,
    atol: f32,
    rtol: f32,
) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    let mut worst: Option<((usize, usize), f32, f32, f32)> = None;
    for ((index, &g), &w) in got.indexed_iter().zip(want.iter()) {
        let excess = (g - w).abs() - (atol + rtol * w.abs());
        let nan_mismatch = g.is_nan() != w.is_nan();
        let excess = if nan_mismatch { f32::INFINITY } else { excess };
        if excess > 0.0 && worst.is_none_or(|(_, _, _, e)| excess > e) {
            worst = Some((index, g, w, excess));
        }
    }
    if let Some((index, g, w, _)) = worst {
        panic!(
            "{what}: worst element {index:?} is {g} but the reference is {w} \
             (|diff| = {}, allowed {} = atol {atol} + rtol {rtol} · |ref|)",
            (g - w).abs(),
            atol + rtol * w.abs()
        );
    }
}

/// The tolerance on a dot product of length `k` computed in f32 in any order:
/// `k · ε · scale`, with `scale` the largest `Σ |a_i · b_i|` among the outputs.
///
/// Each of two f32 sums in different orders is within `γ_k · Σ|a·b| ≈ k·u·Σ|a·b|` of
/// the exact value (u = ε/2 is the unit roundoff), so their difference is within
/// `k · ε · Σ|a·b|`.
pub fn dot_tolerance(k: usize, scale: f32) -> f32 {
    k.max(1) as f32 * f32::EPSILON * scale
}

/// A deterministic matrix with entries in [-1, 1), different for each `salt`.
pub fn pattern(rows: usize, cols: usize, salt: u32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        let mut h = (i as u32).wrapping_mul(0x9e37_79b9)
            ^ (j as u32).wrapping_mul(0x85eb_ca6b)
            ^ salt.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 15;
        h = h.wrapping_mul(0x2c1b_3c6d);
        h ^= h >> 12;
        (h % 2001) as f32 / 1000.0 - 1.0
    })
}

//! Helpers shared by the benchmarks.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mlp_wgpu::gpu::{GpuContext, Recorder};

/// Criterion settings sized for a 2-core machine where the GPU path runs on lavapipe:
/// few samples, short measurement.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// The default GPU context, or `None` with a notice when no adapter exists, so that the
/// CPU benchmarks still run.
pub fn gpu() -> Option<Arc<GpuContext>> {
    match GpuContext::new() {
        Ok(ctx) => {
            eprintln!("GPU benchmarks run on {}", ctx.describe());
            Some(ctx)
        }
        Err(error) => {
            eprintln!("skipping GPU benchmarks: {error}");
            None
        }
    }
}

/// Submits the recorded work and waits for the device to finish it.
pub fn finish(recorder: &mut Recorder) {
    recorder.submit().expect("submission succeeds");
    recorder
        .context()
        .device()
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("the device finishes");
}

/// Times `iters` runs of `record`, waiting for the device once at the end, so that the
/// figure is compute time alone, without uploads or readbacks.
pub fn time_gpu(
    recorder: &mut Recorder,
    iters: u64,
    mut record: impl FnMut(&mut Recorder),
) -> Duration {
    finish(recorder);
    let started = Instant::now();
    for _ in 0..iters {
        record(recorder);
        recorder.submit().expect("submission succeeds");
    }
    finish(recorder);
    started.elapsed()
}

/// Runs `record` once on a cold pipeline and prints how long the first dispatch took,
/// which includes building the pipeline and the driver's shader compilation.
pub fn report_first_run(what: &str, recorder: &mut Recorder, record: impl FnOnce(&mut Recorder)) {
    finish(recorder);
    let started = Instant::now();
    record(recorder);
    finish(recorder);
    eprintln!(
        "{what}: first run {:.1} ms (pipeline build and shader compilation included)",
        started.elapsed().as_secs_f64() * 1e3
    );
}

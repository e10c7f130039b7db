//! Measures burn 0.22 on this machine: f32 matmul on the wgpu backend, and one SGD training
//! step of a 784-128-64-10 MLP on wgpu and on ndarray, both with autodiff.
//!
//! burn 0.22 has no backend type parameter on tensors any more: the backend is chosen by the
//! `Device` value. `Device::wgpu(..)` is what older releases called `Wgpu`,
//! `Device::wgpu(..).autodiff()` is `Autodiff<Wgpu>`, and `Device::ndarray().autodiff()` is
//! `Autodiff<NdArray>`.
//!
//! Every result line is printed and also written to `results.txt` in the current directory
//! (override with the first command-line argument).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

const MATMUL_SIZES: [usize; 4] = [256, 512, 1024, 2048];
const MATMUL_WARMUP: usize = 3;
const MATMUL_RUNS: usize = 10;

const MLP_BATCHES: [usize; 2] = [64, 1024];
const MLP_WARMUP_STEPS: usize = 10;
const MLP_REPS: usize = 5;
const MLP_STEPS_PER_REP: usize = 20;
const LEARNING_RATE: f64 = 0.01;
const INPUTS: usize = 784;
const CLASSES: usize = 10;

/// Result lines, each printed as it comes and kept for results.txt.
struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        println!("{line}");
        let _ = writeln!(self.text, "{line}");
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

fn sorted_secs(times: &[Duration]) -> Vec<f64> {
    let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    secs.sort_by(f64::total_cmp);
    secs
}

/// CPU time counters from the first line of /proc/stat, in clock ticks.
#[derive(Clone, Copy)]
struct CpuTimes {
    total: u64,
    steal: u64,
}

impl CpuTimes {
    /// Reads the counters, or returns `None` where /proc/stat is missing or unreadable.
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        // The fields are user, nice, system, idle, iowait, irq, softirq and steal. Guest time
        // is already counted in user, so the later fields are left out of the total.
        let steal = *fields.get(7)?;
        Some(Self {
            total: fields.iter().sum(),
            steal,
        })
    }
}

/// Formats the share of CPU time the hypervisor gave to other guests since `start`. A high
/// share means the machine's host was busy and the timings are noisier and slower.
fn steal_since(start: Option<CpuTimes>) -> String {
    match (start, CpuTimes::now()) {
        (Some(a), Some(b)) if b.total > a.total => format!(
            "cpu steal {:.0}%",
            100.0 * (b.steal - a.steal) as f64 / (b.total - a.total) as f64
        ),
        _ => "cpu steal n/a".to_string(),
    }
}

fn sync(device: &Device) {
    device.sync().expect("device sync failed");
}

/// Deterministic class labels in 0..CLASSES (a small LCG, so no rand dependency is needed).
fn labels(batch: usize, seed: u64) -> Vec<i64> {
    let mut state = seed;
    (0..batch)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % CLASSES as u64) as i64
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Matmul on wgpu
// ---------------------------------------------------------------------------------------------

fn bench_matmul(report: &mut Report, device: &Device) {
    report.line(format!(
        "# matmul f32 on wgpu: C = A*B, n x n, {MATMUL_WARMUP} warm-up, {MATMUL_RUNS} timed, device sync after each"
    ));
    for n in MATMUL_SIZES {
        let a = Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
        let b = Tensor::<2>::random([n, n], Distribution::Uniform(-1.0, 1.0), device);
        sync(device);

        // Warm-up: shader compilation and autotune happen here.
        for _ in 0..MATMUL_WARMUP {
            let c = a.clone().matmul(b.clone());
            sync(device);
            drop(c);
        }

        let mut times = Vec::with_capacity(MATMUL_RUNS);
        let mut last = None;
        log::info!("timed matmul n={n}: start");
        let cpu_start = CpuTimes::now();
        for _ in 0..MATMUL_RUNS {
            let start = Instant::now();
            let c = a.clone().matmul(b.clone());
            // Keep the result alive until after the sync, so the sync waits for the multiplication.
            sync(device);
            times.push(start.elapsed());
            last = Some(c);
        }
        log::info!("timed matmul n={n}: end");
        let steal = steal_since(cpu_start);

        // Check one element against the host, outside the timed region.
        let c = last.expect("at least one run");
        let c00: f32 = c.slice([0..1, 0..1]).into_scalar();
        let a_row = a.slice([0..1, 0..n]).into_data();
        let b_col = b.slice([0..n, 0..1]).into_data();
        let a_row = a_row.as_slice::<f32>().expect("f32 data");
        let b_col = b_col.as_slice::<f32>().expect("f32 data");
        let host: f64 = a_row
            .iter()
            .zip(b_col)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let err = (f64::from(c00) - host).abs();
        let check = if err <= 1e-3 * (n as f64).sqrt() {
            "ok"
        } else {
            "MISMATCH"
        };

        let secs = sorted_secs(&times);
        let best = secs[0];
        let med = median(&secs);
        let flop = 2.0 * (n as f64).powi(3);
        report.line(format!(
            "matmul wgpu f32 n={n:<5} best {:>9.3} ms ({:>7.2} GFLOP/s)  median {:>9.3} ms ({:>7.2} GFLOP/s)  check C[0,0] {check} (|err| {err:.1e})  {steal}",
            best * 1e3,
            flop / best / 1e9,
            med * 1e3,
            flop / med / 1e9,
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. MLP training step
// ---------------------------------------------------------------------------------------------

#[derive(Module, Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    relu: Relu,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(INPUTS, 128).init(device),
            fc2: LinearConfig::new(128, 64).init(device),
            fc3: LinearConfig::new(64, CLASSES).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.relu.forward(self.fc1.forward(x));
        let x = self.relu.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}

/// Runs one training step (forward, loss, backward, SGD update) and returns the updated model
/// and the loss tensor, without reading the loss back.
fn train_step(
    model: Mlp,
    optim: &mut ModuleOptimizer,
    loss_fn: &CrossEntropyLoss,
    x: &Tensor<2>,
    y: &Tensor<1, Int>,
) -> (Mlp, Tensor<1>) {
    let logits = model.forward(x.clone());
    let loss = loss_fn.forward(logits, y.clone());
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optim.step(LEARNING_RATE, model, grads);
    (model, loss)
}

fn bench_mlp(report: &mut Report, name: &str, device: &Device) {
    for batch in MLP_BATCHES {
        let mut model = Mlp::new(device);
        let mut optim = SgdConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(device);
        let x = Tensor::<2>::random([batch, INPUTS], Distribution::Uniform(-1.0, 1.0), device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels(batch, 42), [batch]), device);
        sync(device);

        let mut first_loss = f32::NAN;
        for i in 0..MLP_WARMUP_STEPS {
            let (m, loss) = train_step(model, &mut optim, &loss_fn, &x, &y);
            model = m;
            if i == 0 {
                first_loss = loss.into_scalar();
            }
        }
        sync(device);

        let mut times = Vec::with_capacity(MLP_REPS);
        let mut last_loss = f32::NAN;
        log::info!("timed mlp {name} batch={batch}: start");
        let cpu_start = CpuTimes::now();
        for _ in 0..MLP_REPS {
            let start = Instant::now();
            let mut loss = None;
            for _ in 0..MLP_STEPS_PER_REP {
                let (m, l) = train_step(model, &mut optim, &loss_fn, &x, &y);
                model = m;
                loss = Some(l);
            }
            // Read back the last loss, then wait for the last optimizer update as well.
            last_loss = loss.expect("at least one step").into_scalar();
            sync(device);
            times.push(start.elapsed());
        }
        log::info!("timed mlp {name} batch={batch}: end");
        let steal = steal_since(cpu_start);

        let secs = sorted_secs(&times);
        let per_step = |s: f64| s / MLP_STEPS_PER_REP as f64 * 1e3;
        report.line(format!(
            "mlp 784-128-64-10 sgd step {name:<17} batch={batch:<5} best {:>8.3} ms/step  median {:>8.3} ms/step  (loss {first_loss:.4} -> {last_loss:.4})  {steal}",
            per_step(secs[0]),
            per_step(median(&secs)),
        ));
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    env_logger::init();
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "results.txt".to_string());

    if !std::path::Path::new("cubecl.toml").exists() {
        eprintln!(
            "warning: no cubecl.toml in the current directory; cubecl will keep its autotune \
             cache in the outermost Cargo workspace's target/environment. Run from bench-burn/."
        );
    }

    let mut report = Report {
        text: String::new(),
    };
    report.line(format!(
        "# bench-burn: burn {} (wgpu + ndarray backends, autodiff), release build",
        burn_version()
    ));

    // 3. Which adapter burn's wgpu runtime uses.
    let wgpu = Device::wgpu(DeviceKind::DefaultDevice);
    match wgpu.identity() {
        Some(id) => report.line(format!(
            "wgpu device: DeviceKind::DefaultDevice -> adapter \"{}\" (compiler target \"{}\")",
            id.name, id.fingerprint
        )),
        None => report.line(
            "wgpu device: DeviceKind::DefaultDevice (burn did not report the adapter; run with RUST_LOG=info)",
        ),
    }
    report.line(format!(
        "cpu threads available: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));

    bench_matmul(&mut report, &wgpu);

    report.line(format!(
        "# mlp training step (forward, cross-entropy loss, backward, SGD lr {LEARNING_RATE}): {MLP_WARMUP_STEPS} warm-up steps, {MLP_REPS} reps x {MLP_STEPS_PER_REP} steps, loss read back + sync at the end of each rep"
    ));
    bench_mlp(&mut report, "Autodiff<Wgpu>", &wgpu.clone().autodiff());
    #[allow(deprecated)] // burn 0.22 deprecates NdArray in favour of Flex; it still works.
    let ndarray = Device::ndarray();
    bench_mlp(&mut report, "Autodiff<NdArray>", &ndarray.autodiff());

    std::fs::write(&out_path, &report.text)
        .unwrap_or_else(|e| panic!("failed to write {out_path}: {e}"));
    eprintln!("wrote {out_path}");
}

/// Returns burn's version. Cargo.toml pins it exactly (`=0.22.1`), so keep the two in step.
fn burn_version() -> &'static str {
    "0.22.1"
}

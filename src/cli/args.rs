//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use mlp_wgpu::model::Activation;
use mlp_wgpu::train::Schedule;

/// The device to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// The GPU if an adapter exists, else the CPU.
    Auto,
    /// The GPU; fail if no adapter exists.
    Gpu,
    /// The CPU, with ndarray.
    Cpu,
}

/// Optimizers, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerChoice {
    /// Stochastic gradient descent with momentum.
    Sgd,
    /// Adam, with --weight-decay as an L2 penalty.
    Adam,
    /// AdamW: Adam with decoupled weight decay.
    Adamw,
}

/// Learning-rate schedules, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleChoice {
    /// The same rate every epoch.
    Constant,
    /// Cosine annealing from the rate towards 0.
    Cosine,
}

impl From<ScheduleChoice> for Schedule {
    fn from(choice: ScheduleChoice) -> Self {
        match choice {
            ScheduleChoice::Constant => Schedule::Constant,
            ScheduleChoice::Cosine => Schedule::Cosine,
        }
    }
}

/// Trains a multilayer perceptron on MNIST digits (by default the 8,000 training and
/// 2,000 test digits bundled with the crate) and reports the test accuracy.
///
/// The GPU path uses wgpu; WGPU_BACKEND (vulkan, metal, dx12, gl) and WGPU_ADAPTER_NAME
/// choose the adapter. Set RUST_LOG=info for the adapter's limits.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Args {
    /// Device to train on.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,

    /// Passes over the training set.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,

    /// Rows per optimizer step; a value above the training set's size uses the whole set.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerChoice::Sgd)]
    pub optimizer: OptimizerChoice,

    /// Learning rate at the first epoch [default: 0.1 for SGD, 0.001 for Adam and AdamW]
    #[arg(long)]
    pub learning_rate: Option<f32>,

    /// Momentum of SGD, in [0, 1); β1 of Adam and AdamW is 0.9.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,

    /// Use Nesterov momentum with SGD.
    #[arg(long)]
    pub nesterov: bool,

    /// Weight decay: an L2 penalty for SGD and Adam, decoupled for AdamW.
    #[arg(long, default_value_t = 0.0005)]
    pub weight_decay: f32,

    /// Learning-rate schedule over the epochs.
    #[arg(long, value_enum, default_value_t = ScheduleChoice::Cosine)]
    pub schedule: ScheduleChoice,

    /// Hidden layer widths, comma-separated; the output layer has one logit per class.
    #[arg(long, value_delimiter = ',', default_value = "256,128")]
    pub hidden: Vec<usize>,

    /// Activation of the hidden layers: relu, leaky_relu[:SLOPE], sigmoid, tanh, gelu or
    /// softmax.
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    pub activation: Activation,

    /// Seed of the initial weights and of the shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Directory with train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and the
    /// test-… (or t10k-…) files [default: data/mnist-10k in the current directory, else in
    /// the source tree the program was built from]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl Args {
    /// The data directory: the one given, else the bundled digits.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        let relative = PathBuf::from(BUNDLED_DATA);
        if relative.is_dir() {
            relative
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(BUNDLED_DATA)
        }
    }
}

/// The bundled digits' directory, relative to the repository root.
const BUNDLED_DATA: &str = "data/mnist-10k";

fn parse_activation(s: &str) -> Result<Activation, String> {
    s.parse().map_err(|e: mlp_wgpu::Error| e.to_string())
}

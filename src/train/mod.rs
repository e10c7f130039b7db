//! Training: optimizers and the loop over epochs and batches.

mod fit;
mod optimizer;

pub use fit::{EpochReport, Schedule, TrainConfig, evaluate, fit};
pub use optimizer::{AdamConfig, Optimizer, OptimizerConfig, SgdConfig};

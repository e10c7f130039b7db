//! Training: optimizers and the loop over epochs and batches.

mod fit;
mod sgd;

pub use fit::{EpochReport, Schedule, TrainConfig, evaluate, fit};
pub use sgd::{Sgd, SgdConfig};

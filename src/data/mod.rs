//! Data sets: validation, and readers for the IDX format of MNIST.

mod dataset;
mod idx;
mod mnist;

pub use dataset::{Dataset, TargetData};
pub use idx::{IdxArray, read_idx};
pub use mnist::{MnistSplit, load_mnist};

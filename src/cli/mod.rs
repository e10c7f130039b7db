//! The command line: argument parsing and the training run it starts.

mod args;
mod run;

pub use args::{Args, DeviceChoice, OptimizerChoice};
pub use run::run;

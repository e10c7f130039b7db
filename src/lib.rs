//! Multilayer perceptrons trained on the GPU through wgpu, with an ndarray CPU path
//! that computes the same operations.
//!
//! The crate is built in layers: WGSL kernels (`shaders/`), the GPU runtime that
//! launches them ([`gpu`]), the CPU reference ([`cpu`]), the network written once
//! against the [`Backend`] trait ([`model`]), the training loop ([`train`]) and data
//! readers ([`data`]).
//!
//! Conventions: every matrix is f32, row-major `[rows, cols]`; activations are
//! `[batch, features]` and weights `[in, out]`, so a layer computes `y = x · W + b`.
//!
//! ```no_run
//! use mlp_wgpu::data::{MnistSplit, load_mnist};
//! use mlp_wgpu::gpu::{GpuBackend, GpuContext};
//! use mlp_wgpu::model::{Activation, Loss, Mlp, MlpSpec, Parameters};
//! use mlp_wgpu::train::{Optimizer, Schedule, SgdConfig, TrainConfig, evaluate, fit};
//!
//! # fn main() -> mlp_wgpu::Result<()> {
//! let train = load_mnist("data/mnist-10k".as_ref(), MnistSplit::Train)?;
//! let spec = MlpSpec::classifier(784, &[256, 128], Activation::Relu, 10);
//! let params = Parameters::init(&spec, None, 42)?;
//! let backend = GpuBackend::new(GpuContext::new()?);
//! let mut mlp = Mlp::new(backend, spec, &params, 64)?;
//! let sgd = SgdConfig { learning_rate: 0.05, momentum: 0.9, ..Default::default() };
//! let mut optimizer = Optimizer::new(&mut mlp, sgd)?;
//! let config = TrainConfig {
//!     epochs: 10,
//!     batch_size: 64,
//!     seed: 42,
//!     schedule: Schedule::Cosine,
//!     loss: Loss::SoftmaxCrossEntropy,
//! };
//! fit(&mut mlp, &mut optimizer, &train, &config, |report| println!("{report:?}"))?;
//! println!("train accuracy {}", evaluate(&mut mlp, &train)?);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod backend;
pub mod cpu;
pub mod data;
mod error;
pub mod gpu;
pub mod model;
pub mod train;

pub use backend::{Backend, LossChunk, LossSummary, MatmulForm, StepState, UpdateRule};
pub use error::{Error, Result};
/// The ndarray version the API takes and returns, so callers need not match it by hand.
pub use ndarray;

// Compiles the README's Rust examples as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! The GPU runtime: context, device tensors, kernel launchers and the [`Backend`]
//! implementation that the network runs on.
//!
//! [`Backend`]: crate::Backend

mod backend;
mod context;
pub mod kernels;
mod recorder;
pub mod shaders;
mod tensor;

pub use backend::GpuBackend;
pub use context::{ContextOptions, GpuContext, PipelineSpec};
pub use recorder::Recorder;
pub use tensor::GpuTensor;

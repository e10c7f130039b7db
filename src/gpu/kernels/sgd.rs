//! Launcher of `shaders/sgd.wgsl`.

use crate::backend::SgdStep;
use crate::error::{Error, Result};
use crate::gpu::kernels::{grid_1d, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};

/// Uniform parameters of the SGD kernel. Mirrored by `SgdParams` in `shaders/sgd.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdParams {
    /// Number of parameters updated.
    pub len: u32,
    /// Learning rate.
    pub learning_rate: f32,
    /// Momentum factor.
    pub momentum: f32,
    /// L2 penalty factor.
    pub weight_decay: f32,
    /// 1 for Nesterov momentum, 0 for classical momentum.
    pub nesterov: u32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: [u32; 3],
}

const WORKGROUP_SIZE: u32 = 256;

/// Records one SGD update of `param` from `grad` and `velocity`, all the same shape.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ, and the errors of
/// [`Recorder::dispatch`].
pub fn sgd(
    recorder: &mut Recorder,
    grad: &GpuTensor,
    param: &GpuTensor,
    velocity: &GpuTensor,
    step: SgdStep,
) -> Result<()> {
    for (name, other) in [("grad", grad), ("velocity", velocity)] {
        if (other.rows(), other.cols()) != (param.rows(), param.cols()) {
            return Err(Error::ShapeMismatch {
                operation: "sgd",
                lhs: "param",
                lhs_shape: vec![param.rows(), param.cols()],
                rhs: name,
                rhs_shape: vec![other.rows(), other.cols()],
            });
        }
    }
    let params = SgdParams {
        len: to_u32("parameter count", param.len())?,
        learning_rate: step.learning_rate,
        momentum: step.momentum,
        weight_decay: step.weight_decay,
        nesterov: u32::from(step.nesterov),
        _padding: [0; 3],
    };
    let spec = PipelineSpec {
        label: "sgd",
        source: shaders::SGD,
        entry: "sgd",
        constants: &[("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE))],
        reads: 1,
        writes: 2,
    };
    let max = recorder
        .context()
        .limits()
        .max_compute_workgroups_per_dimension;
    let groups = grid_1d(params.len.div_ceil(WORKGROUP_SIZE), max);
    recorder.dispatch(
        &spec,
        &[grad.buffer()],
        &[param.buffer(), velocity.buffer()],
        &params,
        groups,
    )
}

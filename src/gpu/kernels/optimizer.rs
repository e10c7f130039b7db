//! Launchers of `shaders/optimizers.wgsl`.

use crate::backend::UpdateRule;
use crate::error::{Error, Result};
use crate::gpu::kernels::{expect_shape, grid_1d, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};

/// Uniform parameters of the optimizer kernels. Mirrored by `OptimizerParams` in
/// `shaders/optimizers.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct OptimizerParams {
    /// Number of vec4 groups to update.
    pub groups: u32,
    /// SGD's momentum factor, or Adam's β1.
    pub momentum: f32,
    /// Adam's β2.
    pub beta2: f32,
    /// Adam's ε.
    pub epsilon: f32,
    /// Weight decay factor.
    pub weight_decay: f32,
    /// SGD: 1 for Nesterov momentum. Adam: 1 for decoupled weight decay.
    pub variant: u32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: [u32; 2],
}

const WORKGROUP_SIZE: u32 = 256;

/// Records one update of `param` from `grad` by `rule`, reading the learning rate and
/// bias corrections from `state` (a [`StepState`](crate::StepState) in a `[1, 4]`
/// tensor). `moment1` is SGD's velocity or Adam's first moment; `moment2` is Adam's
/// second moment and must be given for Adam.
///
/// The kernel works on groups of 4, relying on every tensor's zero padding to a
/// multiple of 16 bytes.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ, [`Error::InvalidConfig`] for Adam
/// without `moment2`, and the errors of [`Recorder::dispatch`].
pub fn optimizer_update(
    recorder: &mut Recorder,
    rule: UpdateRule,
    state: &GpuTensor,
    param: &GpuTensor,
    grad: &GpuTensor,
    moment1: &GpuTensor,
    moment2: Option<&GpuTensor>,
) -> Result<()> {
    const OP: &str = "optimizer update";
    let (rows, cols) = (param.rows(), param.cols());
    expect_shape(OP, "grad", grad, rows, cols)?;
    expect_shape(OP, "moment1", moment1, rows, cols)?;
    expect_shape(OP, "state", state, 1, 4)?;
    if let Some(moment2) = moment2 {
        expect_shape(OP, "moment2", moment2, rows, cols)?;
    }
    let groups = to_u32("parameter count", param.len().div_ceil(4))?;
    let (entry, params) = match rule {
        UpdateRule::Sgd {
            momentum,
            weight_decay,
            nesterov,
        } => (
            "sgd",
            OptimizerParams {
                groups,
                momentum,
                beta2: 0.0,
                epsilon: 0.0,
                weight_decay,
                variant: u32::from(nesterov),
                _padding: [0; 2],
            },
        ),
        UpdateRule::Adam {
            beta1,
            beta2,
            epsilon,
            weight_decay,
            decoupled,
        } => (
            "adam",
            OptimizerParams {
                groups,
                momentum: beta1,
                beta2,
                epsilon,
                weight_decay,
                variant: u32::from(decoupled),
                _padding: [0; 2],
            },
        ),
    };
    let ctx = recorder.context().clone();
    let moment2 = match (entry, moment2) {
        ("adam", None) => {
            return Err(Error::config(
                "optimizer state",
                "no second moment",
                "Adam needs a second moment buffer of the parameter's shape",
            ));
        }
        (_, Some(moment2)) => moment2.buffer(),
        (_, None) => &ctx.unused_write,
    };
    let spec = PipelineSpec {
        label: entry,
        source: shaders::OPTIMIZERS,
        entry,
        constants: &[("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE))],
        reads: 2,
        writes: 3,
    };
    let max = ctx.max_workgroups_per_dimension();
    let workgroups = grid_1d(groups.div_ceil(WORKGROUP_SIZE), max);
    recorder.dispatch(
        &spec,
        &[grad.buffer(), state.buffer()],
        &[param.buffer(), moment1.buffer(), moment2],
        &params,
        workgroups,
    )
}

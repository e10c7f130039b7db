//! Launchers of `shaders/softmax.wgsl`.

use crate::error::Result;
use crate::gpu::kernels::{expect_batch_shape, grid_1d, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};

/// Uniform parameters of the softmax kernels. Mirrored by `SoftmaxParams` in
/// `shaders/softmax.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxParams {
    /// Rows, one workgroup each.
    pub rows: u32,
    /// Columns of each row.
    pub cols: u32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: [u32; 2],
}

/// Records the row-wise softmax of the first `rows` rows of `x` into `y`, both
/// `[rows, cols]`.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not fit, and
/// the errors of [`Recorder::dispatch`].
pub fn softmax_forward(
    recorder: &mut Recorder,
    x: &GpuTensor,
    y: &GpuTensor,
    rows: usize,
) -> Result<()> {
    let unused = recorder.context().unused_read.clone();
    dispatch(recorder, "softmax_forward", x, &unused, y, rows)
}

/// Records `grad_x = y ⊙ (grad_y - Σ_j grad_y_j · y_j)` per row, for the first `rows`
/// rows; all three are `[rows, cols]` and `y` is the softmax output.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the shapes do not fit, and
/// the errors of [`Recorder::dispatch`].
pub fn softmax_backward(
    recorder: &mut Recorder,
    y: &GpuTensor,
    grad_y: &GpuTensor,
    grad_x: &GpuTensor,
    rows: usize,
) -> Result<()> {
    expect_batch_shape("softmax backward", "grad_y", grad_y, rows, y.cols())?;
    dispatch(
        recorder,
        "softmax_backward",
        y,
        grad_y.buffer(),
        grad_x,
        rows,
    )
}

fn dispatch(
    recorder: &mut Recorder,
    entry: &'static str,
    input: &GpuTensor,
    upstream: &wgpu::Buffer,
    output: &GpuTensor,
    rows: usize,
) -> Result<()> {
    let cols = input.cols();
    expect_batch_shape(entry, "input", input, rows, cols)?;
    expect_batch_shape(entry, "output", output, rows, cols)?;
    let params = SoftmaxParams {
        rows: to_u32("rows", rows)?,
        cols: to_u32("columns", cols)?,
        _padding: [0; 2],
    };
    let spec = PipelineSpec {
        label: entry,
        source: shaders::SOFTMAX,
        entry,
        constants: &[],
        reads: 2,
        writes: 1,
    };
    let max = recorder.context().max_workgroups_per_dimension();
    let groups = grid_1d(params.rows, max);
    recorder.dispatch(
        &spec,
        &[input.buffer(), upstream],
        &[output.buffer()],
        &params,
        groups,
    )
}

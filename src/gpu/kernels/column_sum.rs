//! Launcher of `shaders/column_sum.wgsl`.

use crate::error::Result;
use crate::gpu::kernels::{expect_batch_shape, expect_shape, grid_1d, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};

/// Uniform parameters of the column-sum kernel. Mirrored by `ColumnSumParams` in
/// `shaders/column_sum.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ColumnSumParams {
    /// Rows summed over.
    pub rows: u32,
    /// Columns, one sum each.
    pub cols: u32,
    /// 1 to add the sums to the output, 0 to overwrite it.
    pub accumulate: u32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: u32,
}

const WORKGROUP_SIZE: u32 = 64;

/// Records `out[0, j] = Σ_i x[i, j]` over the first `rows` rows of `x [rows, cols]`, or
/// adds the sums to `out` when `accumulate` is set.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when `out` is not `[1, cols]`,
/// and the errors of [`Recorder::dispatch`].
pub fn column_sum(
    recorder: &mut Recorder,
    x: &GpuTensor,
    out: &GpuTensor,
    rows: usize,
    accumulate: bool,
) -> Result<()> {
    let cols = x.cols();
    expect_batch_shape("column sum", "x", x, rows, cols)?;
    expect_shape("column sum", "out", out, 1, cols)?;
    let params = ColumnSumParams {
        rows: to_u32("rows", rows)?,
        cols: to_u32("columns", cols)?,
        accumulate: u32::from(accumulate),
        _padding: 0,
    };
    let spec = PipelineSpec {
        label: "column_sum",
        source: shaders::COLUMN_SUM,
        entry: "column_sum",
        constants: &[("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE))],
        reads: 1,
        writes: 1,
    };
    let max = recorder.context().max_workgroups_per_dimension();
    let groups = grid_1d(params.cols.div_ceil(WORKGROUP_SIZE), max);
    recorder.dispatch(&spec, &[x.buffer()], &[out.buffer()], &params, groups)
}

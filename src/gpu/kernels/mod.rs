//! Typed launchers, one per kernel entry point.
//!
//! Each launcher checks its operands' shapes, fills the kernel's parameter struct and
//! records one dispatch on a [`Recorder`](crate::gpu::Recorder).

mod column_sum;
mod elementwise;
mod loss;
mod matmul;
mod optimizer;
mod softmax;

pub use crate::backend::MatmulForm;
pub use column_sum::{ColumnSumParams, column_sum};
pub use elementwise::{
    ElementwiseParams, activation_backward, activation_backward_rows, activation_forward,
};
pub use loss::{LossParams, LossTotals, loss_with_targets, softmax_cross_entropy};
pub use matmul::{Epilogue, MatmulKernel, MatmulParams, MatmulSize, matmul, matmul_with};
pub use optimizer::{OptimizerParams, optimizer_update};
pub use softmax::{SoftmaxParams, softmax_backward, softmax_forward};

use crate::error::{Error, Result};
use crate::gpu::GpuTensor;

/// Splits `groups` workgroups over x and y so neither exceeds `max_per_dimension`.
///
/// The kernels rebuild the flat index as `x + y · groups.x · workgroup size`, so the
/// extra invocations in the last row of workgroups fail their bounds check.
pub(crate) fn grid_1d(groups: u32, max_per_dimension: u32) -> [u32; 3] {
    if groups <= max_per_dimension {
        return [groups, 1, 1];
    }
    let y = groups.div_ceil(max_per_dimension);
    [groups.div_ceil(y), y, 1]
}

/// Converts a size to u32 for a shader, rejecting values the kernels cannot index.
pub(crate) fn to_u32(name: &'static str, value: usize) -> Result<u32> {
    u32::try_from(value).map_err(|_| {
        Error::config(
            name,
            value,
            "exceeds the 32-bit indices of the GPU kernels; split the work",
        )
    })
}

/// Checks that `tensor` has `cols` columns and exactly `rows` rows.
pub(crate) fn expect_shape(
    operation: &'static str,
    name: &'static str,
    tensor: &GpuTensor,
    rows: usize,
    cols: usize,
) -> Result<()> {
    expect_rows(operation, name, tensor, rows, cols, tensor.rows() == rows)
}

/// Checks that `tensor` has `cols` columns and at least `rows` rows, for buffers sized
/// for the largest batch of which the first `rows` are in use.
pub(crate) fn expect_batch_shape(
    operation: &'static str,
    name: &'static str,
    tensor: &GpuTensor,
    rows: usize,
    cols: usize,
) -> Result<()> {
    expect_rows(operation, name, tensor, rows, cols, tensor.rows() >= rows)
}

fn expect_rows(
    operation: &'static str,
    name: &'static str,
    tensor: &GpuTensor,
    rows: usize,
    cols: usize,
    rows_fit: bool,
) -> Result<()> {
    if tensor.cols() == cols && rows_fit {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        operation,
        lhs: name,
        lhs_shape: vec![tensor.rows(), tensor.cols()],
        rhs: "expected",
        rhs_shape: vec![rows, cols],
    })
}

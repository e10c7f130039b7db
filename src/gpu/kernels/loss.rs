//! Launcher of `shaders/softmax_cross_entropy.wgsl`.

use crate::error::Result;
use crate::gpu::kernels::{expect_batch_shape, expect_shape, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};

/// Uniform parameters of the softmax cross-entropy kernel. Mirrored by
/// `SoftmaxCrossEntropyParams` in `shaders/softmax_cross_entropy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SoftmaxCrossEntropyParams {
    /// Rows of the batch.
    pub rows: u32,
    /// Number of classes: columns of the logits.
    pub classes: u32,
    /// Factor applied to the gradient, `1 / rows` for the batch mean.
    pub grad_scale: f32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: u32,
}

/// Running sums over an epoch, kept in a `[1, 4]` f32 tensor. Mirrored by `LossTotals` in
/// `shaders/softmax_cross_entropy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossTotals {
    /// Sum of the per-row losses.
    pub loss_sum: f32,
    /// Rows whose largest logit is at their label.
    pub correct: f32,
    /// Batches recorded.
    pub batches: f32,
    /// Index of the first batch whose loss was NaN or infinite, or -1.
    pub first_non_finite: f32,
}

impl LossTotals {
    /// Totals before the first batch.
    pub const ZERO: LossTotals = LossTotals {
        loss_sum: 0.0,
        correct: 0.0,
        batches: 0.0,
        first_non_finite: -1.0,
    };
}

/// Records the softmax cross-entropy of `logits [rows, classes]` against `labels [rows]`
/// (u32): writes `grad = (softmax(logits) - onehot(labels)) / rows` and adds the batch's
/// loss sum and correct count to `totals [1, 4]`.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when the operands do not fit, and
/// the errors of [`Recorder::dispatch`].
pub fn softmax_cross_entropy(
    recorder: &mut Recorder,
    logits: &GpuTensor,
    labels: &GpuTensor,
    grad: &GpuTensor,
    totals: &GpuTensor,
    rows: usize,
) -> Result<()> {
    const OP: &str = "softmax cross-entropy";
    let classes = logits.cols();
    expect_batch_shape(OP, "logits", logits, rows, classes)?;
    expect_batch_shape(OP, "labels", labels, rows, 1)?;
    expect_batch_shape(OP, "grad", grad, rows, classes)?;
    expect_shape(OP, "totals", totals, 1, 4)?;
    let params = SoftmaxCrossEntropyParams {
        rows: to_u32("batch rows", rows)?,
        classes: to_u32("classes", classes)?,
        grad_scale: 1.0 / rows.max(1) as f32,
        _padding: 0,
    };
    let spec = PipelineSpec {
        label: "softmax_cross_entropy",
        source: shaders::SOFTMAX_CROSS_ENTROPY,
        entry: "softmax_cross_entropy",
        constants: &[],
        reads: 2,
        writes: 2,
    };
    recorder.dispatch(
        &spec,
        &[logits.buffer(), labels.buffer()],
        &[grad.buffer(), totals.buffer()],
        &params,
        [1, 1, 1],
    )
}

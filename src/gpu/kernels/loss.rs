//! Launchers of `shaders/losses.wgsl`.

use crate::backend::LossChunk;
use crate::error::{Error, Result};
use crate::gpu::kernels::{expect_batch_shape, expect_shape, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};
use crate::model::Loss;

/// Uniform parameters of the loss kernels. Mirrored by `LossParams` in
/// `shaders/losses.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossParams {
    /// Rows in this dispatch.
    pub rows: u32,
    /// Columns of the outputs.
    pub cols: u32,
    /// Rows of the whole batch, which the mean divides by.
    pub batch_rows: u32,
    /// 1 if this dispatch ends a batch.
    pub ends_batch: u32,
}

/// Running sums over an epoch, kept in a `[1, 4]` f32 tensor. Mirrored by `LossTotals` in
/// `shaders/losses.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossTotals {
    /// Sum of the per-row losses.
    pub loss_sum: f32,
    /// Rows classified correctly.
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

/// Records the softmax cross-entropy of `logits [rows, classes]` against
/// `labels [rows]` (u32): writes `grad = (softmax(logits) - onehot(labels)) / batch_rows`
/// and adds the chunk's loss sum and correct count to `totals [1, 4]`.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the operands do not fit, and the errors of
/// [`Recorder::dispatch`].
pub fn softmax_cross_entropy(
    recorder: &mut Recorder,
    logits: &GpuTensor,
    labels: &GpuTensor,
    grad: &GpuTensor,
    totals: &GpuTensor,
    chunk: LossChunk,
) -> Result<()> {
    const OP: &str = "softmax cross-entropy";
    expect_batch_shape(OP, "labels", labels, chunk.rows, 1)?;
    let unused = recorder.context().unused_read.clone();
    dispatch(
        recorder,
        OP,
        "softmax_cross_entropy_labels",
        [logits, grad, totals],
        labels.buffer(),
        &unused,
        chunk,
    )
}

/// Records `loss` of `outputs [rows, cols]` against `targets` of the same shape: writes
/// the gradient of the batch mean into `grad` and adds the chunk's sums to
/// `totals [1, 4]`. See [`Loss`] for the formulas.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming both shapes when `targets` and `outputs` differ, and
/// the errors of [`Recorder::dispatch`].
pub fn loss_with_targets(
    recorder: &mut Recorder,
    loss: Loss,
    outputs: &GpuTensor,
    targets: &GpuTensor,
    grad: &GpuTensor,
    totals: &GpuTensor,
    chunk: LossChunk,
) -> Result<()> {
    if targets.cols() != outputs.cols() || targets.rows() < chunk.rows {
        return Err(Error::ShapeMismatch {
            operation: loss.name(),
            lhs: "outputs",
            lhs_shape: vec![chunk.rows, outputs.cols()],
            rhs: "targets",
            rhs_shape: vec![targets.rows(), targets.cols()],
        });
    }
    let entry = match loss {
        Loss::SoftmaxCrossEntropy => "softmax_cross_entropy_targets",
        Loss::MeanSquaredError => "mean_squared_error",
        Loss::BinaryCrossEntropyWithLogits => "binary_cross_entropy_with_logits",
    };
    let unused = recorder.context().unused_read.clone();
    dispatch(
        recorder,
        loss.name(),
        entry,
        [outputs, grad, totals],
        &unused,
        targets.buffer(),
        chunk,
    )
}

fn dispatch(
    recorder: &mut Recorder,
    operation: &'static str,
    entry: &'static str,
    [outputs, grad, totals]: [&GpuTensor; 3],
    labels: &wgpu::Buffer,
    targets: &wgpu::Buffer,
    chunk: LossChunk,
) -> Result<()> {
    let cols = outputs.cols();
    expect_batch_shape(operation, "outputs", outputs, chunk.rows, cols)?;
    expect_batch_shape(operation, "grad", grad, chunk.rows, cols)?;
    expect_shape(operation, "totals", totals, 1, 4)?;
    if chunk.rows == 0 || cols == 0 {
        return Ok(());
    }
    let params = LossParams {
        rows: to_u32("batch rows", chunk.rows)?,
        cols: to_u32("columns", cols)?,
        batch_rows: to_u32("batch rows", chunk.batch_rows.max(chunk.rows))?,
        ends_batch: u32::from(chunk.ends_batch),
    };
    let spec = PipelineSpec {
        label: entry,
        source: shaders::LOSSES,
        entry,
        constants: &[],
        reads: 3,
        writes: 2,
    };
    recorder.dispatch(
        &spec,
        &[outputs.buffer(), labels, targets],
        &[grad.buffer(), totals.buffer()],
        &params,
        [1, 1, 1],
    )
}

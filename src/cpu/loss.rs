//! Losses with mean reduction: per-row values, gradients and correct counts.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

use crate::error::{Error, Result};
use crate::model::{Activation, Loss};

/// Per-row results of a loss.
#[derive(Clone, Debug, PartialEq)]
pub struct LossRows {
    /// Loss of each row, `[rows]`; the batch's loss is their mean.
    pub losses: Array1<f32>,
    /// How much of each row is classified correctly, `[rows]`: 0 or 1 for softmax
    /// cross-entropy, the fraction of outputs on the target's side of 0.5 for binary
    /// cross-entropy, and 0 for mean squared error.
    pub correct: Array1<f32>,
    /// Gradient of the batch's mean loss with respect to the outputs, `[rows, cols]`.
    pub grad: Array2<f32>,
}

impl LossRows {
    fn zeros(rows: usize, cols: usize) -> Self {
        LossRows {
            losses: Array1::zeros(rows),
            correct: Array1::zeros(rows),
            grad: Array2::zeros((rows, cols)),
        }
    }
}

/// Computes the softmax cross-entropy of `logits [rows, classes]` against `labels`, the
/// gradient of its mean over the rows, and which rows are classified correctly.
///
/// Each row is shifted by its maximum before `exp`, and the loss is computed as
/// `ln Σ exp(z - max) - (z_label - max)`, so logits of any finite size give a finite
/// loss: logits `[1e8, 1e8]` give `ln 2`.
///
/// # Errors
/// [`Error::ShapeMismatch`] when `labels` does not have one entry per row, and
/// [`Error::InvalidData`] for a label not below the number of classes.
pub fn softmax_cross_entropy(logits: ArrayView2<'_, f32>, labels: &[u32]) -> Result<LossRows> {
    let (rows, classes) = logits.dim();
    if labels.len() != rows {
        return Err(Error::ShapeMismatch {
            operation: "softmax cross-entropy",
            lhs: "logits",
            lhs_shape: vec![rows, classes],
            rhs: "labels",
            rhs_shape: vec![labels.len()],
        });
    }
    if let Some(row) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(Error::InvalidData {
            source_name: "labels".to_string(),
            row,
            column: 0,
            value: labels[row].to_string(),
            reason: format!("labels must be below the {classes} classes"),
        });
    }
    let mut result = LossRows::zeros(rows, classes);
    softmax_cross_entropy_into(
        logits,
        labels,
        rows,
        result.grad.view_mut(),
        result.losses.view_mut(),
        result.correct.view_mut(),
    );
    Ok(result)
}

/// [`softmax_cross_entropy`] writing into caller-owned arrays, with the gradient
/// divided by `batch_rows` (the whole batch, of which `logits` may be a chunk). Labels
/// must have been checked.
pub fn softmax_cross_entropy_into(
    logits: ArrayView2<'_, f32>,
    labels: &[u32],
    batch_rows: usize,
    mut grad: ArrayViewMut2<'_, f32>,
    losses: ArrayViewMut1<'_, f32>,
    correct: ArrayViewMut1<'_, f32>,
) {
    let labels = ArrayView1::from(&labels[..logits.nrows()]);
    let scale = 1.0 / batch_rows.max(1) as f32;
    Zip::from(logits.axis_iter(Axis(0)))
        .and(grad.axis_iter_mut(Axis(0)))
        .and(&labels)
        .and(losses)
        .and(correct)
        .par_for_each(|z, g, &label, loss, correct| {
            let label = label as usize;
            let one_hot = |j: usize| f32::from(j == label);
            (*loss, *correct) = softmax_row(z, one_hot, label, g, scale);
        });
}

/// Computes one row of softmax cross-entropy against target weights `target(j)`, whose
/// largest is at `target_arg_max`. Returns (loss, correct) and writes
/// `g = (softmax(z) · Σt - t) · scale`, the gradient of `ln Σ exp(z) · Σt - t·z`. Taking
/// the targets as a function lets labels skip building a one-hot row.
fn softmax_row(
    z: ArrayView1<'_, f32>,
    target: impl Fn(usize) -> f32,
    target_arg_max: usize,
    mut g: ArrayViewMut1<'_, f32>,
    scale: f32,
) -> (f32, f32) {
    let arg_max = first_arg_max(z);
    let max = z[arg_max];
    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
    let target_total: f32 = (0..z.len()).map(&target).sum();
    let target_dot: f32 = z
        .iter()
        .enumerate()
        .map(|(j, &v)| target(j) * (v - max))
        .sum();
    for (j, (gj, &zj)) in g.iter_mut().zip(&z).enumerate() {
        let p = (zj - max).exp() / sum;
        *gj = (p * target_total - target(j)) * scale;
    }
    let loss = sum.ln() * target_total - target_dot;
    (loss, f32::from(arg_max == target_arg_max))
}

/// Index of the first largest value, as the GPU kernels choose it.
fn first_arg_max(values: ArrayView1<'_, f32>) -> usize {
    let mut best = 0;
    for (j, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = j;
        }
    }
    best
}

/// Computes `loss` of `outputs` against `targets` of the same shape, the gradient of
/// its mean, and the per-row correct counts; see [`Loss`] for the formulas.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming both shapes when they differ: a `[3, 1]` output
/// against `[1, 3]` targets is rejected, never broadcast.
pub fn loss_with_targets(
    loss: Loss,
    outputs: ArrayView2<'_, f32>,
    targets: ArrayView2<'_, f32>,
) -> Result<LossRows> {
    check_same_shape(loss, outputs, targets)?;
    let (rows, cols) = outputs.dim();
    let mut result = LossRows::zeros(rows, cols);
    loss_with_targets_into(
        loss,
        outputs,
        targets,
        rows,
        result.grad.view_mut(),
        result.losses.view_mut(),
        result.correct.view_mut(),
    );
    Ok(result)
}

/// Checks that `targets` has the shape of `outputs`.
///
/// # Errors
/// [`Error::ShapeMismatch`] naming both shapes.
pub(crate) fn check_same_shape(
    loss: Loss,
    outputs: ArrayView2<'_, f32>,
    targets: ArrayView2<'_, f32>,
) -> Result<()> {
    if outputs.dim() == targets.dim() {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        operation: loss.name(),
        lhs: "outputs",
        lhs_shape: outputs.shape().to_vec(),
        rhs: "targets",
        rhs_shape: targets.shape().to_vec(),
    })
}

/// [`loss_with_targets`] writing into caller-owned arrays, with the gradient divided by
/// `batch_rows`, the whole batch of which `outputs` may be a chunk. The caller checks
/// the shapes.
pub fn loss_with_targets_into(
    loss: Loss,
    outputs: ArrayView2<'_, f32>,
    targets: ArrayView2<'_, f32>,
    batch_rows: usize,
    mut grad: ArrayViewMut2<'_, f32>,
    losses: ArrayViewMut1<'_, f32>,
    correct: ArrayViewMut1<'_, f32>,
) {
    let cols = outputs.ncols().max(1) as f32;
    let scale = 1.0 / batch_rows.max(1) as f32;
    Zip::from(outputs.axis_iter(Axis(0)))
        .and(targets.axis_iter(Axis(0)))
        .and(grad.axis_iter_mut(Axis(0)))
        .and(losses)
        .and(correct)
        .par_for_each(|y, t, g, row_loss, row_correct| {
            (*row_loss, *row_correct) = match loss {
                Loss::SoftmaxCrossEntropy => softmax_row(y, |j| t[j], first_arg_max(t), g, scale),
                Loss::MeanSquaredError => squared_error_row(y, t, g, scale / cols),
                Loss::BinaryCrossEntropyWithLogits => {
                    binary_cross_entropy_row(y, t, g, scale / cols)
                }
            };
        });
}

/// One row of mean squared error; the gradient is `2 (y - t) · scale`.
fn squared_error_row(
    y: ArrayView1<'_, f32>,
    t: ArrayView1<'_, f32>,
    mut g: ArrayViewMut1<'_, f32>,
    scale: f32,
) -> (f32, f32) {
    let mut sum = 0.0;
    for ((gj, &yj), &tj) in g.iter_mut().zip(&y).zip(&t) {
        let diff = yj - tj;
        sum += diff * diff;
        *gj = 2.0 * scale * diff;
    }
    (sum / y.len().max(1) as f32, 0.0)
}

/// One row of binary cross-entropy with logits; the gradient is `(σ(z) - t) · scale`.
/// `max(z, 0) - z·t + ln(1 + e^{-|z|})` never takes `exp` of a positive number.
fn binary_cross_entropy_row(
    z: ArrayView1<'_, f32>,
    t: ArrayView1<'_, f32>,
    mut g: ArrayViewMut1<'_, f32>,
    scale: f32,
) -> (f32, f32) {
    let (mut sum, mut correct) = (0.0, 0.0);
    for ((gj, &zj), &tj) in g.iter_mut().zip(&z).zip(&t) {
        sum += zj.max(0.0) - zj * tj + (-zj.abs()).exp().ln_1p();
        *gj = scale * (Activation::Sigmoid.apply(zj) - tj);
        correct += f32::from((zj > 0.0) == (tj > 0.5));
    }
    let cols = z.len().max(1) as f32;
    (sum / cols, correct / cols)
}

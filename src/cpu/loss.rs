//! Softmax cross-entropy with integer labels.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

/// Per-row results of [`softmax_cross_entropy`].
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxCrossEntropy {
    /// Loss of each row, `[rows]`.
    pub losses: Array1<f32>,
    /// Whether each row's largest logit is at its label, `[rows]`.
    pub correct: Array1<bool>,
    /// Gradient of the mean loss with respect to the logits, `[rows, classes]`.
    pub grad: Array2<f32>,
}

/// Computes the softmax cross-entropy of `logits [rows, classes]` against `labels`, the
/// gradient of its mean over the rows, and which rows are classified correctly.
///
/// Each row is shifted by its maximum before `exp`, and the loss is computed as
/// `ln Σ exp(z - max) - (z_label - max)`, so logits of any finite size give a finite
/// loss: logits `[1e8, 1e8]` give `ln 2`.
///
/// # Panics
/// When `labels` has fewer entries than `logits` has rows, or a label is not below the
/// number of classes; the public training API validates both before calling this.
pub fn softmax_cross_entropy(logits: ArrayView2<'_, f32>, labels: &[u32]) -> SoftmaxCrossEntropy {
    let rows = logits.nrows();
    let mut result = SoftmaxCrossEntropy {
        losses: Array1::zeros(rows),
        correct: Array1::from_elem(rows, false),
        grad: Array2::zeros(logits.raw_dim()),
    };
    softmax_cross_entropy_into(
        logits,
        labels,
        result.grad.view_mut(),
        result.losses.view_mut(),
        result.correct.view_mut(),
    );
    result
}

/// [`softmax_cross_entropy`] writing into caller-owned arrays.
pub fn softmax_cross_entropy_into(
    logits: ArrayView2<'_, f32>,
    labels: &[u32],
    mut grad: ArrayViewMut2<'_, f32>,
    losses: ArrayViewMut1<'_, f32>,
    correct: ArrayViewMut1<'_, bool>,
) {
    let scale = 1.0 / logits.nrows().max(1) as f32;
    let labels = ArrayView1::from(&labels[..logits.nrows()]);
    Zip::from(logits.axis_iter(Axis(0)))
        .and(grad.axis_iter_mut(Axis(0)))
        .and(&labels)
        .and(losses)
        .and(correct)
        .par_for_each(|z, mut g, &label, loss, correct| {
            let label = label as usize;
            let (arg_max, max) =
                z.iter().enumerate().fold(
                    (0, z[0]),
                    |best, (j, &v)| {
                        if v > best.1 { (j, v) } else { best }
                    },
                );
            let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
            for (j, (gj, &zj)) in g.iter_mut().zip(&z).enumerate() {
                let p = (zj - max).exp() / sum;
                *gj = (p - f32::from(j == label)) * scale;
            }
            *loss = sum.ln() - (z[label] - max);
            *correct = arg_max == label;
        });
}

//! Loss functions and the targets they compare against.

use ndarray::ArrayView2;

/// A loss, averaged over the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loss {
    /// Softmax cross-entropy of logits against class labels or class probabilities
    /// (one-hot or soft): `ln Σ_j exp(z_j) - Σ_j t_j z_j` per row, computed with the
    /// row's maximum subtracted so that any finite logits give a finite loss. Takes
    /// logits: the last layer's activation must be identity.
    SoftmaxCrossEntropy,
    /// Mean squared error over every element: `Σ_ij (y_ij - t_ij)² / (rows · cols)`,
    /// as PyTorch's `MSELoss()`.
    MeanSquaredError,
    /// Binary cross-entropy of logits against targets in `[0, 1]`, averaged over every
    /// element: `max(z, 0) - z·t + ln(1 + e^{-|z|})`, as PyTorch's `BCEWithLogitsLoss()`.
    /// Takes logits: the last layer's activation must be identity.
    BinaryCrossEntropyWithLogits,
}

impl Loss {
    /// Whether the loss takes logits, so the last layer's activation must be identity.
    pub fn takes_logits(self) -> bool {
        matches!(
            self,
            Loss::SoftmaxCrossEntropy | Loss::BinaryCrossEntropyWithLogits
        )
    }

    /// The loss's name, as in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Loss::SoftmaxCrossEntropy => "softmax cross-entropy",
            Loss::MeanSquaredError => "mean squared error",
            Loss::BinaryCrossEntropyWithLogits => "binary cross-entropy with logits",
        }
    }
}

/// The values a batch is compared against.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class index per row, for [`Loss::SoftmaxCrossEntropy`].
    Labels(&'a [u32]),
    /// One row of target values per row, `[rows, outputs]`: class probabilities (such
    /// as one-hot rows) for softmax cross-entropy, values for mean squared error, and
    /// 0 or 1 for binary cross-entropy.
    Values(ArrayView2<'a, f32>),
}

impl Targets<'_> {
    /// Number of rows the targets cover.
    pub fn rows(&self) -> usize {
        match self {
            Targets::Labels(labels) => labels.len(),
            Targets::Values(values) => values.nrows(),
        }
    }
}

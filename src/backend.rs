//! The operations a dense network needs, implemented once on the GPU and once on the
//! CPU, so that the forward and backward passes are written once against this trait.

use crate::error::Result;
use crate::model::Activation;

/// Running sums of a softmax cross-entropy loss over the batches of one epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSummary {
    /// Sum of the per-row losses.
    pub loss_sum: f64,
    /// Rows whose largest output is at their label.
    pub correct: f64,
    /// Batches recorded.
    pub batches: u64,
    /// Zero-based index of the first batch whose loss was NaN or infinite.
    pub first_non_finite_batch: Option<u64>,
}

/// Hyperparameters of one SGD update, in PyTorch's convention:
/// `g = grad + weight_decay · param`, `v = momentum · v + g`, then
/// `param -= lr · v`, or `param -= lr · (g + momentum · v)` with Nesterov momentum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate.
    pub learning_rate: f32,
    /// Momentum factor; 0 gives plain SGD.
    pub momentum: f32,
    /// L2 penalty factor added to the gradient.
    pub weight_decay: f32,
    /// Whether to use Nesterov momentum.
    pub nesterov: bool,
}

/// Which operands are read transposed, named by the product a dense layer uses it for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulForm {
    /// `C = A · B`, the forward pass `X · W`. A is `[m, k]`, B is `[k, n]`.
    Nn,
    /// `C = Aᵀ · B`, the weight gradient `Xᵀ · dY`. A is `[k, m]`, B is `[k, n]`.
    Tn,
    /// `C = A · Bᵀ`, the input gradient `dY · Wᵀ`. A is `[m, k]`, B is `[n, k]`.
    Nt,
}

impl MatmulForm {
    pub(crate) fn transposes(self) -> (bool, bool) {
        match self {
            MatmulForm::Nn => (false, false),
            MatmulForm::Tn => (true, false),
            MatmulForm::Nt => (false, true),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            MatmulForm::Nn => "nn",
            MatmulForm::Tn => "tn",
            MatmulForm::Nt => "nt",
        }
    }
}

/// Storage and kernels of one device.
///
/// Matrices are f32, row-major `[rows, cols]`. Operations take `rows`, the number of
/// leading rows in use, so a buffer sized for the largest batch also serves a smaller
/// final batch. The GPU implementation records operations and runs them at
/// [`Backend::submit`] or at the next read; the CPU implementation runs them at once.
/// Either way, operations take effect in the order they are called.
pub trait Backend {
    /// A dense f32 matrix.
    type Matrix: std::fmt::Debug;
    /// A vector of u32 class labels.
    type Labels: std::fmt::Debug;
    /// Running loss sums, kept on the device.
    type LossTotals: std::fmt::Debug;

    /// A one-line description of the device, for logs.
    fn describe(&self) -> String;

    /// Returns the `(rows, cols)` shape of a matrix.
    fn shape(matrix: &Self::Matrix) -> (usize, usize);

    /// Allocates a zero-filled `[rows, cols]` matrix.
    fn zeros(&mut self, rows: usize, cols: usize, label: &str) -> Result<Self::Matrix>;

    /// Overwrites the first `data.len() / cols` rows of `dst`.
    fn write(&mut self, dst: &mut Self::Matrix, data: &[f32]) -> Result<()>;

    /// Copies the first `rows` rows of `src` to the host.
    fn read(&mut self, src: &Self::Matrix, rows: usize) -> Result<Vec<f32>>;

    /// Copies `src` into `dst`, which has the same shape.
    fn copy(&mut self, src: &Self::Matrix, dst: &mut Self::Matrix) -> Result<()>;

    /// Allocates room for `len` labels.
    fn labels(&mut self, len: usize, label: &str) -> Result<Self::Labels>;

    /// Overwrites the first `labels.len()` labels of `dst`.
    fn write_labels(&mut self, dst: &mut Self::Labels, labels: &[u32]) -> Result<()>;

    /// Allocates loss totals, set to zero.
    fn loss_totals(&mut self) -> Result<Self::LossTotals>;

    /// Sets the totals back to zero.
    fn reset_loss_totals(&mut self, totals: &mut Self::LossTotals) -> Result<()>;

    /// Copies the totals to the host.
    fn read_loss_totals(&mut self, totals: &Self::LossTotals) -> Result<LossSummary>;

    /// Forward pass of a dense layer: `y = activation(x · weight + bias)`.
    ///
    /// Shapes: `x [rows, in]`, `weight [in, out]`, `bias [1, out]`, `y [rows, out]`.
    /// When `pre` is given, the pre-activation `x · weight + bias` is stored there too.
    #[allow(clippy::too_many_arguments)]
    fn linear_forward(
        &mut self,
        x: &Self::Matrix,
        weight: &Self::Matrix,
        bias: &Self::Matrix,
        activation: Activation,
        pre: Option<&mut Self::Matrix>,
        y: &mut Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// Weight gradient of a dense layer: `grad_weight = xᵀ · grad_out`.
    ///
    /// Shapes: `x [rows, in]`, `grad_out [rows, out]`, `grad_weight [in, out]`.
    fn weight_grad(
        &mut self,
        x: &Self::Matrix,
        grad_out: &Self::Matrix,
        grad_weight: &mut Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// Bias gradient of a dense layer: the column sums of `grad_out [rows, out]`, into
    /// `grad_bias [1, out]`.
    fn bias_grad(
        &mut self,
        grad_out: &Self::Matrix,
        grad_bias: &mut Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// Gradient with respect to the previous layer's pre-activation:
    /// `grad_in = (grad_out · weightᵀ) ⊙ activation'(act_input)`.
    ///
    /// `activation` is the previous layer's, and `act_input` is its output, or its
    /// pre-activation when [`Activation::grad_needs_pre_activation`] holds.
    /// Shapes: `grad_out [rows, out]`, `weight [in, out]`, `act_input` and
    /// `grad_in [rows, in]`.
    #[allow(clippy::too_many_arguments)]
    fn input_grad(
        &mut self,
        grad_out: &Self::Matrix,
        weight: &Self::Matrix,
        activation: Activation,
        act_input: &Self::Matrix,
        grad_in: &mut Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// Softmax cross-entropy of `logits [rows, classes]` against integer `labels`,
    /// averaged over the rows. Writes the gradient with respect to the logits into
    /// `grad [rows, classes]` and adds the batch's loss sum and correct count to
    /// `totals`.
    fn softmax_cross_entropy(
        &mut self,
        logits: &Self::Matrix,
        labels: &Self::Labels,
        grad: &mut Self::Matrix,
        totals: &mut Self::LossTotals,
        rows: usize,
    ) -> Result<()>;

    /// One SGD update of `param` from `grad`, with its momentum buffer `velocity`, all
    /// three of the same shape.
    fn sgd(
        &mut self,
        param: &mut Self::Matrix,
        grad: &Self::Matrix,
        velocity: &mut Self::Matrix,
        step: SgdStep,
    ) -> Result<()>;

    /// Starts the work recorded so far without waiting for it.
    fn submit(&mut self) -> Result<()>;
}

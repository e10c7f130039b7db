//! The operations a dense network needs, implemented once on the GPU and once on the
//! CPU, so that the forward and backward passes are written once against this trait.

use crate::error::Result;
use crate::model::{Activation, Loss};

/// Running sums of a loss over the batches of one epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSummary {
    /// Sum of the per-row losses.
    pub loss_sum: f64,
    /// Rows classified correctly: the largest output at the label (or at the largest
    /// target) for softmax cross-entropy, and the fraction of outputs on the target's
    /// side of 0.5 for binary cross-entropy. Always 0 for mean squared error.
    pub correct: f64,
    /// Batches recorded.
    pub batches: u64,
    /// Zero-based index of the first batch whose loss was NaN or infinite.
    pub first_non_finite_batch: Option<u64>,
}

/// The rows a loss dispatch covers. A batch whose buffers would exceed the device's
/// binding limit is split into chunks of rows. The mean still divides by the whole
/// batch, and only the last chunk counts the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LossChunk {
    /// Rows in this chunk.
    pub rows: usize,
    /// Rows in the whole batch.
    pub batch_rows: usize,
    /// Whether this chunk ends the batch.
    pub ends_batch: bool,
}

impl LossChunk {
    /// A batch of `rows` rows in one piece.
    pub fn whole(rows: usize) -> Self {
        LossChunk {
            rows,
            batch_rows: rows,
            ends_batch: true,
        }
    }
}

/// The rule by which an optimizer updates a parameter from its gradient. The learning rate and the
/// bias corrections, which change from step to step, come from a [`StepState`] on the
/// device instead.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateRule {
    /// SGD in PyTorch's convention: `g = grad + weight_decay · param`,
    /// `v = momentum · v + g`, then `param -= lr · v`, or with Nesterov momentum
    /// `param -= lr · (g + momentum · v)`. The velocity `v` is the first moment buffer.
    Sgd {
        /// Momentum factor; 0 gives plain SGD.
        momentum: f32,
        /// L2 penalty factor added to the gradient.
        weight_decay: f32,
        /// Whether to use Nesterov momentum.
        nesterov: bool,
    },
    /// Adam (Kingma and Ba, 2015, "Adam: a method for stochastic optimization"), or
    /// AdamW (Loshchilov and Hutter, 2019, "Decoupled weight decay regularization") when
    /// `decoupled` is set:
    /// `m = β1 m + (1 - β1) g`, `v = β2 v + (1 - β2) g²`,
    /// `param -= lr · (m / (1 - β1^t)) / (√(v / (1 - β2^t)) + ε)`, where Adam adds
    /// `weight_decay · param` to `g` and AdamW first scales `param` by
    /// `1 - lr · weight_decay`.
    Adam {
        /// Decay of the first moment, β1.
        beta1: f32,
        /// Decay of the second moment, β2.
        beta2: f32,
        /// ε, added to the denominator.
        epsilon: f32,
        /// Weight decay factor.
        weight_decay: f32,
        /// Whether the weight decay is decoupled (AdamW) rather than an L2 penalty.
        decoupled: bool,
    },
}

/// The values of an optimizer step that change from step to step, kept on the device in
/// a `[1, 4]` matrix so that recorded updates read them without new bind groups.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepState {
    /// Learning rate of this step.
    pub learning_rate: f32,
    /// `1 - β1^t` for step `t` counted from 1, or 1 for SGD.
    pub bias_correction1: f32,
    /// `1 - β2^t` for step `t` counted from 1, or 1 for SGD.
    pub bias_correction2: f32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: f32,
}

impl StepState {
    /// The state as the 4 values of its `[1, 4]` matrix.
    pub fn as_values(&self) -> [f32; 4] {
        [
            self.learning_rate,
            self.bias_correction1,
            self.bias_correction2,
            self._padding,
        ]
    }
}

/// The transposes of a matrix product, named by the product a dense layer uses it for.
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

    /// The largest matrix, in bytes, that one kernel dispatch can bind: the device's
    /// storage-binding limit on the GPU, unlimited on the CPU.
    fn max_matrix_bytes(&self) -> u64;

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

    /// Weight gradient of a dense layer: `grad_weight = xᵀ · grad_out`, or
    /// `grad_weight += xᵀ · grad_out` when `accumulate` is set.
    ///
    /// Shapes: `x [rows, in]`, `grad_out [rows, out]`, `grad_weight [in, out]`.
    fn weight_grad(
        &mut self,
        x: &Self::Matrix,
        grad_out: &Self::Matrix,
        grad_weight: &mut Self::Matrix,
        rows: usize,
        accumulate: bool,
    ) -> Result<()>;

    /// Bias gradient of a dense layer: the column sums of `grad_out [rows, out]`, into
    /// `grad_bias [1, out]`, or added to it when `accumulate` is set.
    fn bias_grad(
        &mut self,
        grad_out: &Self::Matrix,
        grad_bias: &mut Self::Matrix,
        rows: usize,
        accumulate: bool,
    ) -> Result<()>;

    /// Gradient with respect to the previous layer's pre-activation:
    /// `grad_in = (grad_out · weightᵀ) ⊙ activation'(act_input)`.
    ///
    /// `activation` is the previous layer's, element-wise (identity stores the product
    /// itself), and `act_input` is its output, or its pre-activation when
    /// [`Activation::grad_needs_pre_activation`] holds.
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

    /// Element-wise activation backward pass:
    /// `grad_in = grad_out ⊙ activation'(act_input)`, all `[rows, cols]`, with
    /// `act_input` as in [`Backend::input_grad`].
    fn activation_backward(
        &mut self,
        activation: Activation,
        act_input: &Self::Matrix,
        grad_out: &Self::Matrix,
        grad_in: &mut Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// Row-wise softmax of `x [rows, cols]` into `y`.
    fn softmax(&mut self, x: &Self::Matrix, y: &mut Self::Matrix, rows: usize) -> Result<()>;

    /// Softmax backward pass: `grad_x = y ⊙ (grad_y - Σ_j grad_y_j · y_j)` per row, all
    /// `[rows, cols]`, with `y` the softmax output.
    fn softmax_backward(
        &mut self,
        y: &Self::Matrix,
        grad_y: &Self::Matrix,
        grad_x: &mut Self::Matrix,
        rows: usize,
    ) -> Result<()>;

    /// Softmax cross-entropy of `logits [rows, classes]` against integer `labels`.
    /// Writes the gradient of the batch mean with respect to the logits into
    /// `grad [rows, classes]` and adds the chunk's loss sum and correct count to `totals`.
    fn loss_with_labels(
        &mut self,
        logits: &Self::Matrix,
        labels: &Self::Labels,
        grad: &mut Self::Matrix,
        totals: &mut Self::LossTotals,
        chunk: LossChunk,
    ) -> Result<()>;

    /// `loss` of `outputs [rows, cols]` against `targets` of the same shape (class
    /// probabilities for softmax cross-entropy, values for mean squared error, 0 or 1 for
    /// binary cross-entropy). Writes the gradient of the batch mean into
    /// `grad [rows, cols]` and adds the chunk's sums to `totals`.
    #[allow(clippy::too_many_arguments)]
    fn loss_with_targets(
        &mut self,
        loss: Loss,
        outputs: &Self::Matrix,
        targets: &Self::Matrix,
        grad: &mut Self::Matrix,
        totals: &mut Self::LossTotals,
        chunk: LossChunk,
    ) -> Result<()>;

    /// One optimizer update of `param` from `grad` by `rule`, reading the learning rate
    /// and bias corrections from `state` (a [`StepState`] in a `[1, 4]` matrix).
    /// `moment1` is SGD's velocity or Adam's first moment; `moment2` is Adam's second
    /// moment and is unused by SGD. All but `state` have the same shape.
    fn optimizer_update(
        &mut self,
        rule: UpdateRule,
        state: &Self::Matrix,
        param: &mut Self::Matrix,
        grad: &Self::Matrix,
        moment1: &mut Self::Matrix,
        moment2: Option<&mut Self::Matrix>,
    ) -> Result<()>;

    /// Starts the work recorded so far without waiting for it.
    fn submit(&mut self) -> Result<()>;
}

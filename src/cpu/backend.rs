//! [`Backend`] on the CPU, running the reference functions at once.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, s};

use crate::backend::{Backend, LossChunk, LossSummary, StepState, UpdateRule};
use crate::cpu;
use crate::error::{Error, Result};
use crate::model::{Activation, Loss};

/// Runs the network's operations on the CPU with ndarray, using every core for matrix
/// products and element-wise passes.
#[derive(Debug, Default)]
pub struct CpuBackend {
    /// Per-row losses and correct counts of the last loss, reused between batches.
    losses: Array1<f32>,
    correct: Array1<f32>,
}

impl CpuBackend {
    /// Creates a CPU backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the per-row results of a loss chunk to `totals`.
    fn add_to_totals(&self, totals: &mut LossSummary, chunk: LossChunk) {
        // Summed in f32, in row order, as the GPU kernel's partial sums are f32.
        let chunk_loss: f32 = self.losses.slice(s![..chunk.rows]).sum();
        if !chunk_loss.is_finite() && totals.first_non_finite_batch.is_none() {
            totals.first_non_finite_batch = Some(totals.batches);
        }
        totals.loss_sum += f64::from(chunk_loss);
        totals.correct += f64::from(self.correct.slice(s![..chunk.rows]).sum());
        totals.batches += u64::from(chunk.ends_batch);
    }

    fn reserve_rows(&mut self, rows: usize) {
        if self.losses.len() < rows {
            self.losses = Array1::zeros(rows);
            self.correct = Array1::zeros(rows);
        }
    }
}

fn rows_of(m: &Array2<f32>, rows: usize) -> ArrayView2<'_, f32> {
    m.slice(s![..rows, ..])
}

fn rows_mut(m: &mut Array2<f32>, rows: usize) -> ArrayViewMut2<'_, f32> {
    m.slice_mut(s![..rows, ..])
}

impl Backend for CpuBackend {
    type Matrix = Array2<f32>;
    type Labels = Vec<u32>;
    type LossTotals = LossSummary;

    fn describe(&self) -> String {
        format!("CPU ({} threads)", rayon::current_num_threads())
    }

    fn max_matrix_bytes(&self) -> u64 {
        u64::MAX
    }

    fn shape(matrix: &Array2<f32>) -> (usize, usize) {
        matrix.dim()
    }

    fn zeros(&mut self, rows: usize, cols: usize, _label: &str) -> Result<Array2<f32>> {
        Ok(Array2::zeros((rows, cols)))
    }

    fn write(&mut self, dst: &mut Array2<f32>, data: &[f32]) -> Result<()> {
        let cols = dst.ncols();
        let whole_rows = data.len().is_multiple_of(cols);
        if !whole_rows || data.len() > dst.len() {
            return Err(Error::ShapeMismatch {
                operation: "upload",
                lhs: "data",
                lhs_shape: vec![data.len()],
                rhs: "matrix",
                rhs_shape: vec![dst.nrows(), cols],
            });
        }
        let rows = data.len().checked_div(cols).unwrap_or(0);
        let source =
            ArrayView2::from_shape((rows, cols), data).expect("the length was checked above");
        rows_mut(dst, rows).assign(&source);
        Ok(())
    }

    fn read(&mut self, src: &Array2<f32>, rows: usize) -> Result<Vec<f32>> {
        let rows = rows.min(src.nrows());
        Ok(rows_of(src, rows).iter().copied().collect())
    }

    fn copy(&mut self, src: &Array2<f32>, dst: &mut Array2<f32>) -> Result<()> {
        dst.assign(src);
        Ok(())
    }

    fn labels(&mut self, len: usize, _label: &str) -> Result<Vec<u32>> {
        Ok(vec![0; len])
    }

    fn write_labels(&mut self, dst: &mut Vec<u32>, labels: &[u32]) -> Result<()> {
        let len = labels.len().min(dst.len());
        dst[..len].copy_from_slice(&labels[..len]);
        Ok(())
    }

    fn loss_totals(&mut self) -> Result<LossSummary> {
        Ok(LossSummary::default())
    }

    fn reset_loss_totals(&mut self, totals: &mut LossSummary) -> Result<()> {
        *totals = LossSummary::default();
        Ok(())
    }

    fn read_loss_totals(&mut self, totals: &LossSummary) -> Result<LossSummary> {
        Ok(*totals)
    }

    fn linear_forward(
        &mut self,
        x: &Array2<f32>,
        weight: &Array2<f32>,
        bias: &Array2<f32>,
        activation: Activation,
        pre: Option<&mut Array2<f32>>,
        y: &mut Array2<f32>,
        rows: usize,
    ) -> Result<()> {
        cpu::linear_forward(
            rows_of(x, rows),
            weight.view(),
            bias.row(0),
            activation,
            pre.map(|pre| rows_mut(pre, rows)),
            rows_mut(y, rows),
        );
        Ok(())
    }

    fn weight_grad(
        &mut self,
        x: &Array2<f32>,
        grad_out: &Array2<f32>,
        grad_weight: &mut Array2<f32>,
        rows: usize,
        accumulate: bool,
    ) -> Result<()> {
        cpu::weight_grad(
            rows_of(x, rows),
            rows_of(grad_out, rows),
            grad_weight.view_mut(),
            accumulate,
        );
        Ok(())
    }

    fn bias_grad(
        &mut self,
        grad_out: &Array2<f32>,
        grad_bias: &mut Array2<f32>,
        rows: usize,
        accumulate: bool,
    ) -> Result<()> {
        cpu::column_sum(rows_of(grad_out, rows), grad_bias.row_mut(0), accumulate);
        Ok(())
    }

    fn input_grad(
        &mut self,
        grad_out: &Array2<f32>,
        weight: &Array2<f32>,
        activation: Activation,
        act_input: &Array2<f32>,
        grad_in: &mut Array2<f32>,
        rows: usize,
    ) -> Result<()> {
        cpu::input_grad(
            rows_of(grad_out, rows),
            weight.view(),
            activation,
            rows_of(act_input, rows),
            rows_mut(grad_in, rows),
        );
        Ok(())
    }

    fn activation_backward(
        &mut self,
        activation: Activation,
        act_input: &Array2<f32>,
        grad_out: &Array2<f32>,
        grad_in: &mut Array2<f32>,
        rows: usize,
    ) -> Result<()> {
        let result = cpu::activation_backward(
            activation,
            rows_of(act_input, rows),
            rows_of(grad_out, rows),
        );
        rows_mut(grad_in, rows).assign(&result);
        Ok(())
    }

    fn softmax(&mut self, x: &Array2<f32>, y: &mut Array2<f32>, rows: usize) -> Result<()> {
        cpu::softmax_forward_into(rows_of(x, rows), rows_mut(y, rows));
        Ok(())
    }

    fn softmax_backward(
        &mut self,
        y: &Array2<f32>,
        grad_y: &Array2<f32>,
        grad_x: &mut Array2<f32>,
        rows: usize,
    ) -> Result<()> {
        cpu::softmax_backward_into(
            rows_of(y, rows),
            rows_of(grad_y, rows),
            rows_mut(grad_x, rows),
        );
        Ok(())
    }

    fn loss_with_labels(
        &mut self,
        logits: &Array2<f32>,
        labels: &Vec<u32>,
        grad: &mut Array2<f32>,
        totals: &mut LossSummary,
        chunk: LossChunk,
    ) -> Result<()> {
        self.reserve_rows(chunk.rows);
        cpu::softmax_cross_entropy_into(
            rows_of(logits, chunk.rows),
            labels,
            chunk.batch_rows,
            rows_mut(grad, chunk.rows),
            self.losses.slice_mut(s![..chunk.rows]),
            self.correct.slice_mut(s![..chunk.rows]),
        );
        self.add_to_totals(totals, chunk);
        Ok(())
    }

    fn loss_with_targets(
        &mut self,
        loss: Loss,
        outputs: &Array2<f32>,
        targets: &Array2<f32>,
        grad: &mut Array2<f32>,
        totals: &mut LossSummary,
        chunk: LossChunk,
    ) -> Result<()> {
        self.reserve_rows(chunk.rows);
        cpu::loss_with_targets_into(
            loss,
            rows_of(outputs, chunk.rows),
            rows_of(targets, chunk.rows),
            chunk.batch_rows,
            rows_mut(grad, chunk.rows),
            self.losses.slice_mut(s![..chunk.rows]),
            self.correct.slice_mut(s![..chunk.rows]),
        );
        self.add_to_totals(totals, chunk);
        Ok(())
    }

    fn optimizer_update(
        &mut self,
        rule: UpdateRule,
        state: &Array2<f32>,
        param: &mut Array2<f32>,
        grad: &Array2<f32>,
        moment1: &mut Array2<f32>,
        moment2: Option<&mut Array2<f32>>,
    ) -> Result<()> {
        if matches!(rule, UpdateRule::Adam { .. }) && moment2.is_none() {
            return Err(Error::config(
                "optimizer state",
                "no second moment",
                "Adam needs a second moment buffer of the parameter's shape",
            ));
        }
        let step = StepState {
            learning_rate: state[[0, 0]],
            bias_correction1: state[[0, 1]],
            bias_correction2: state[[0, 2]],
            _padding: 0.0,
        };
        cpu::optimizer_update(
            rule,
            step,
            param.view_mut(),
            grad.view(),
            moment1.view_mut(),
            moment2.map(|m| m.view_mut()),
        );
        Ok(())
    }

    fn submit(&mut self) -> Result<()> {
        Ok(())
    }
}

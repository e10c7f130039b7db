//! [`Backend`] on the CPU, running the reference functions at once.

use ndarray::{Array1, Array2, ArrayViewMut2, s};

use crate::backend::{Backend, LossSummary, SgdStep};
use crate::cpu;
use crate::error::{Error, Result};
use crate::model::Activation;

/// Runs the network's operations on the CPU with ndarray, using every core for matrix
/// products and element-wise passes.
#[derive(Debug, Default)]
pub struct CpuBackend {
    losses: Array1<f32>,
    correct: Array1<bool>,
}

impl CpuBackend {
    /// Creates a CPU backend.
    pub fn new() -> Self {
        Self::default()
    }
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
        let source = ndarray::ArrayView2::from_shape((rows, cols), data)
            .expect("the length was checked above");
        rows_mut(dst, rows).assign(&source);
        Ok(())
    }

    fn read(&mut self, src: &Array2<f32>, rows: usize) -> Result<Vec<f32>> {
        let rows = rows.min(src.nrows());
        Ok(src.slice(s![..rows, ..]).iter().copied().collect())
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
            x.slice(s![..rows, ..]),
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
    ) -> Result<()> {
        cpu::weight_grad(
            x.slice(s![..rows, ..]),
            grad_out.slice(s![..rows, ..]),
            grad_weight.view_mut(),
        );
        Ok(())
    }

    fn bias_grad(
        &mut self,
        grad_out: &Array2<f32>,
        grad_bias: &mut Array2<f32>,
        rows: usize,
    ) -> Result<()> {
        cpu::column_sum(grad_out.slice(s![..rows, ..]), grad_bias.row_mut(0));
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
            grad_out.slice(s![..rows, ..]),
            weight.view(),
            activation,
            act_input.slice(s![..rows, ..]),
            rows_mut(grad_in, rows),
        );
        Ok(())
    }

    fn softmax_cross_entropy(
        &mut self,
        logits: &Array2<f32>,
        labels: &Vec<u32>,
        grad: &mut Array2<f32>,
        totals: &mut LossSummary,
        rows: usize,
    ) -> Result<()> {
        if self.losses.len() < rows {
            self.losses = Array1::zeros(rows);
            self.correct = Array1::from_elem(rows, false);
        }
        cpu::softmax_cross_entropy_into(
            logits.slice(s![..rows, ..]),
            labels,
            rows_mut(grad, rows),
            self.losses.slice_mut(s![..rows]),
            self.correct.slice_mut(s![..rows]),
        );
        // Summed in f32, in row order, as the GPU kernel's partial sums are f32.
        let batch_loss: f32 = self.losses.slice(s![..rows]).sum();
        if !batch_loss.is_finite() && totals.first_non_finite_batch.is_none() {
            totals.first_non_finite_batch = Some(totals.batches);
        }
        totals.loss_sum += f64::from(batch_loss);
        let correct = self
            .correct
            .slice(s![..rows])
            .iter()
            .filter(|&&c| c)
            .count();
        totals.correct += correct as f64;
        totals.batches += 1;
        Ok(())
    }

    fn sgd(
        &mut self,
        param: &mut Array2<f32>,
        grad: &Array2<f32>,
        velocity: &mut Array2<f32>,
        step: SgdStep,
    ) -> Result<()> {
        cpu::sgd(param.view_mut(), grad.view(), velocity.view_mut(), step);
        Ok(())
    }

    fn submit(&mut self) -> Result<()> {
        Ok(())
    }
}

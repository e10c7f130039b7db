//! [`Backend`] on the GPU: each operation records one dispatch.

use std::sync::Arc;

use crate::backend::{Backend, LossSummary, SgdStep};
use crate::error::Result;
use crate::gpu::kernels::{self, Epilogue, LossTotals, MatmulForm, MatmulSize};
use crate::gpu::{GpuContext, GpuTensor, Recorder};
use crate::model::Activation;

/// Runs the network's operations on a wgpu device.
///
/// Operations are recorded into one command encoder and submitted together by
/// [`Backend::submit`]; writes and reads submit pending work first, so every operation
/// takes effect in call order.
#[derive(Debug)]
pub struct GpuBackend {
    recorder: Recorder,
}

impl GpuBackend {
    /// Creates a backend on a shared context.
    pub fn new(ctx: Arc<GpuContext>) -> Self {
        GpuBackend {
            recorder: Recorder::new(ctx),
        }
    }

    /// The context the backend runs on.
    pub fn context(&self) -> &Arc<GpuContext> {
        self.recorder.context()
    }

    /// The recorder, for launching kernels directly.
    pub fn recorder(&mut self) -> &mut Recorder {
        &mut self.recorder
    }
}

impl Backend for GpuBackend {
    type Matrix = GpuTensor;
    type Labels = GpuTensor;
    type LossTotals = GpuTensor;

    fn describe(&self) -> String {
        self.context().describe()
    }

    fn shape(matrix: &GpuTensor) -> (usize, usize) {
        (matrix.rows(), matrix.cols())
    }

    fn zeros(&mut self, rows: usize, cols: usize, label: &str) -> Result<GpuTensor> {
        GpuTensor::zeros(self.context(), rows, cols, label)
    }

    fn write(&mut self, dst: &mut GpuTensor, data: &[f32]) -> Result<()> {
        // A queue write runs before everything in the next submission, so the work
        // recorded before this call must be submitted first.
        self.recorder.submit()?;
        dst.write_rows(self.context(), data)
    }

    fn read(&mut self, src: &GpuTensor, rows: usize) -> Result<Vec<f32>> {
        self.recorder.submit()?;
        src.read_rows(self.context(), rows)
    }

    fn copy(&mut self, src: &GpuTensor, dst: &mut GpuTensor) -> Result<()> {
        let bytes = (src.len().min(dst.len()) * 4) as u64;
        if bytes > 0 {
            self.recorder.with_encoder(|encoder| {
                encoder.copy_buffer_to_buffer(src.buffer(), 0, dst.buffer(), 0, bytes);
            });
        }
        Ok(())
    }

    fn labels(&mut self, len: usize, label: &str) -> Result<GpuTensor> {
        GpuTensor::zeros(self.context(), len, 1, label)
    }

    fn write_labels(&mut self, dst: &mut GpuTensor, labels: &[u32]) -> Result<()> {
        self.recorder.submit()?;
        dst.write_rows(self.context(), labels)
    }

    fn loss_totals(&mut self) -> Result<GpuTensor> {
        let totals = GpuTensor::zeros(self.context(), 1, 4, "loss_totals")?;
        totals.write_rows(self.context(), zero_totals())?;
        Ok(totals)
    }

    fn reset_loss_totals(&mut self, totals: &mut GpuTensor) -> Result<()> {
        self.recorder.submit()?;
        totals.write_rows(self.context(), zero_totals())
    }

    fn read_loss_totals(&mut self, totals: &GpuTensor) -> Result<LossSummary> {
        let values: Vec<f32> = self.read(totals, 1)?;
        let totals: LossTotals = bytemuck::pod_read_unaligned(bytemuck::cast_slice(&values));
        Ok(LossSummary {
            loss_sum: f64::from(totals.loss_sum),
            correct: f64::from(totals.correct),
            batches: totals.batches as u64,
            first_non_finite_batch: (totals.first_non_finite >= 0.0)
                .then_some(totals.first_non_finite as u64),
        })
    }

    fn linear_forward(
        &mut self,
        x: &GpuTensor,
        weight: &GpuTensor,
        bias: &GpuTensor,
        activation: Activation,
        pre: Option<&mut GpuTensor>,
        y: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        let epilogue = Epilogue::BiasActivation {
            bias,
            activation,
            pre: pre.map(|pre| &*pre),
        };
        let (k, n) = (weight.rows(), weight.cols());
        kernels::matmul(
            &mut self.recorder,
            MatmulForm::Nn,
            x,
            weight,
            y,
            MatmulSize { m: rows, n, k },
            epilogue,
        )
    }

    fn weight_grad(
        &mut self,
        x: &GpuTensor,
        grad_out: &GpuTensor,
        grad_weight: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        let (m, n) = (x.cols(), grad_out.cols());
        kernels::matmul(
            &mut self.recorder,
            MatmulForm::Tn,
            x,
            grad_out,
            grad_weight,
            MatmulSize { m, n, k: rows },
            Epilogue::None,
        )
    }

    fn bias_grad(
        &mut self,
        grad_out: &GpuTensor,
        grad_bias: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        kernels::column_sum(&mut self.recorder, grad_out, grad_bias, rows)
    }

    fn input_grad(
        &mut self,
        grad_out: &GpuTensor,
        weight: &GpuTensor,
        activation: Activation,
        act_input: &GpuTensor,
        grad_in: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        let (n, k) = (weight.rows(), weight.cols());
        let epilogue = Epilogue::ActivationGrad {
            activation,
            input: act_input,
        };
        kernels::matmul(
            &mut self.recorder,
            MatmulForm::Nt,
            grad_out,
            weight,
            grad_in,
            MatmulSize { m: rows, n, k },
            epilogue,
        )
    }

    fn softmax_cross_entropy(
        &mut self,
        logits: &GpuTensor,
        labels: &GpuTensor,
        grad: &mut GpuTensor,
        totals: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        kernels::softmax_cross_entropy(&mut self.recorder, logits, labels, grad, totals, rows)
    }

    fn sgd(
        &mut self,
        param: &mut GpuTensor,
        grad: &GpuTensor,
        velocity: &mut GpuTensor,
        step: SgdStep,
    ) -> Result<()> {
        kernels::sgd(&mut self.recorder, grad, param, velocity, step)
    }

    fn submit(&mut self) -> Result<()> {
        self.recorder.submit()
    }
}

fn zero_totals() -> &'static [f32] {
    bytemuck::cast_slice(std::slice::from_ref(&LossTotals::ZERO))
}

//! [`Backend`] on the GPU: each operation records one dispatch.

use std::sync::Arc;

use crate::MatmulForm;
use crate::backend::{Backend, LossChunk, LossSummary, UpdateRule};
use crate::error::{Error, Result};
use crate::gpu::kernels::{self, Epilogue, LossTotals, MatmulSize};
use crate::gpu::{GpuContext, GpuTensor, Recorder};
use crate::model::{Activation, Loss};

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

    fn max_matrix_bytes(&self) -> u64 {
        let limits = self.context().limits();
        // Buffers are rounded up to 16 bytes, so stay a group of 4 below the limit.
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        limit - limit % 16
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
        let (k, n) = (weight.rows(), weight.cols());
        let size = MatmulSize { m: rows, n, k };
        if activation == Activation::Softmax {
            // Softmax needs whole rows: the product goes to `pre`, then a kernel of its own.
            let pre = pre.ok_or_else(|| {
                Error::config(
                    "softmax layer",
                    "no pre-activation buffer",
                    "softmax layers need a pre-activation buffer of the output's shape",
                )
            })?;
            let epilogue = Epilogue::BiasActivation {
                bias,
                activation: Activation::Identity,
                pre: None,
            };
            kernels::matmul(
                &mut self.recorder,
                MatmulForm::Nn,
                x,
                weight,
                pre,
                size,
                epilogue,
            )?;
            return kernels::softmax_forward(&mut self.recorder, pre, y, rows);
        }
        let epilogue = Epilogue::BiasActivation {
            bias,
            activation,
            pre: pre.map(|pre| &*pre),
        };
        kernels::matmul(
            &mut self.recorder,
            MatmulForm::Nn,
            x,
            weight,
            y,
            size,
            epilogue,
        )
    }

    fn weight_grad(
        &mut self,
        x: &GpuTensor,
        grad_out: &GpuTensor,
        grad_weight: &mut GpuTensor,
        rows: usize,
        accumulate: bool,
    ) -> Result<()> {
        let (m, n) = (x.cols(), grad_out.cols());
        let epilogue = if accumulate {
            Epilogue::Accumulate
        } else {
            Epilogue::None
        };
        kernels::matmul(
            &mut self.recorder,
            MatmulForm::Tn,
            x,
            grad_out,
            grad_weight,
            MatmulSize { m, n, k: rows },
            epilogue,
        )
    }

    fn bias_grad(
        &mut self,
        grad_out: &GpuTensor,
        grad_bias: &mut GpuTensor,
        rows: usize,
        accumulate: bool,
    ) -> Result<()> {
        kernels::column_sum(&mut self.recorder, grad_out, grad_bias, rows, accumulate)
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
        // Softmax's backward pass needs whole rows, so it runs as a kernel of its own.
        let epilogue = if activation.is_elementwise() && activation != Activation::Identity {
            Epilogue::ActivationGrad {
                activation,
                input: act_input,
            }
        } else {
            Epilogue::None
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

    fn activation_backward(
        &mut self,
        activation: Activation,
        act_input: &GpuTensor,
        grad_out: &GpuTensor,
        grad_in: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        kernels::activation_backward_rows(
            &mut self.recorder,
            activation,
            act_input,
            grad_out,
            grad_in,
            rows,
        )
    }

    fn softmax(&mut self, x: &GpuTensor, y: &mut GpuTensor, rows: usize) -> Result<()> {
        kernels::softmax_forward(&mut self.recorder, x, y, rows)
    }

    fn softmax_backward(
        &mut self,
        y: &GpuTensor,
        grad_y: &GpuTensor,
        grad_x: &mut GpuTensor,
        rows: usize,
    ) -> Result<()> {
        kernels::softmax_backward(&mut self.recorder, y, grad_y, grad_x, rows)
    }

    fn loss_with_labels(
        &mut self,
        logits: &GpuTensor,
        labels: &GpuTensor,
        grad: &mut GpuTensor,
        totals: &mut GpuTensor,
        chunk: LossChunk,
    ) -> Result<()> {
        kernels::softmax_cross_entropy(&mut self.recorder, logits, labels, grad, totals, chunk)
    }

    fn loss_with_targets(
        &mut self,
        loss: Loss,
        outputs: &GpuTensor,
        targets: &GpuTensor,
        grad: &mut GpuTensor,
        totals: &mut GpuTensor,
        chunk: LossChunk,
    ) -> Result<()> {
        kernels::loss_with_targets(
            &mut self.recorder,
            loss,
            outputs,
            targets,
            grad,
            totals,
            chunk,
        )
    }

    fn optimizer_update(
        &mut self,
        rule: UpdateRule,
        state: &GpuTensor,
        param: &mut GpuTensor,
        grad: &GpuTensor,
        moment1: &mut GpuTensor,
        moment2: Option<&mut GpuTensor>,
    ) -> Result<()> {
        kernels::optimizer_update(
            &mut self.recorder,
            rule,
            state,
            param,
            grad,
            moment1,
            moment2.map(|m| &*m),
        )
    }

    fn submit(&mut self) -> Result<()> {
        self.recorder.submit()
    }
}

fn zero_totals() -> &'static [f32] {
    bytemuck::cast_slice(std::slice::from_ref(&LossTotals::ZERO))
}

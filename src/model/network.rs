//! A multilayer perceptron on any [`Backend`], with its buffers allocated once.

use ndarray::{Array1, Array2, ArrayView2, Axis, s};

use crate::backend::{Backend, LossChunk, LossSummary};
use crate::error::{Error, Result};
use crate::model::{Activation, DenseParams, Loss, MlpSpec, Parameters, Targets};

/// The device buffers of one dense layer. Shapes use `chunk` for the rows a dispatch
/// covers at most.
#[derive(Debug)]
struct DenseLayer<B: Backend> {
    activation: Activation,
    bias_enabled: bool,
    /// `[in, out]`
    weight: B::Matrix,
    /// `[1, out]`
    bias: B::Matrix,
    /// `[in, out]`
    grad_weight: B::Matrix,
    /// `[1, out]`
    grad_bias: B::Matrix,
    /// The activation's output, `[chunk, out]`.
    output: B::Matrix,
    /// The pre-activation `[chunk, out]`, kept where the activation needs it.
    pre: Option<B::Matrix>,
    /// Gradient of the loss with respect to the pre-activation, `[chunk, out]`.
    grad_pre: B::Matrix,
    /// Gradient with respect to the output `[chunk, out]`, kept where the activation's
    /// derivative cannot be folded into the product that computes it: softmax layers,
    /// and a last layer whose activation is not the identity.
    grad_output: Option<B::Matrix>,
}

/// A multilayer perceptron whose parameters, activations and gradients live on one
/// backend, sized once for batches of up to `batch_capacity` rows.
///
/// A training step writes the batch, records the forward pass, the loss and the
/// backward pass, and leaves the gradients for an optimizer. It allocates nothing and
/// reads nothing back. Where a batch's buffers would exceed the device's
/// storage-binding limit, the batch is processed in chunks of rows whose gradients add
/// up to the whole batch's.
#[derive(Debug)]
pub struct Mlp<B: Backend> {
    backend: B,
    spec: MlpSpec,
    batch_capacity: usize,
    /// Rows per dispatch: the batch capacity, or fewer where buffers must stay within
    /// the device's binding limit.
    chunk_rows: usize,
    layers: Vec<DenseLayer<B>>,
    /// `[chunk, inputs]`
    input: B::Matrix,
    /// `[chunk]`
    labels: B::Labels,
    /// `[chunk, outputs]`
    targets: B::Matrix,
    loss_totals: B::LossTotals,
}

impl<B: Backend> Mlp<B> {
    /// Builds the network described by `spec` on `backend`, starting from `params`, with
    /// buffers for batches of up to `batch_capacity` rows.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an invalid `spec` or a zero `batch_capacity`,
    /// [`Error::ShapeMismatch`] when `params` does not fit `spec`, and the backend's
    /// allocation errors, such as [`Error::BufferTooLarge`] for a weight matrix larger
    /// than the device allows.
    pub fn new(
        mut backend: B,
        spec: MlpSpec,
        params: &Parameters,
        batch_capacity: usize,
    ) -> Result<Self> {
        spec.validate()?;
        params.check(&spec)?;
        if batch_capacity == 0 {
            return Err(Error::config(
                "batch size",
                0,
                "must be at least 1, such as 64",
            ));
        }
        let widest = spec
            .layers
            .iter()
            .map(|layer| layer.width)
            .chain([spec.inputs])
            .max()
            .unwrap_or(1);
        let rows_that_fit = usize::try_from(backend.max_matrix_bytes() / (4 * widest as u64))
            .unwrap_or(usize::MAX)
            .max(1);
        let chunk_rows = batch_capacity.min(rows_that_fit);
        if chunk_rows < batch_capacity {
            log::info!(
                "batches of {batch_capacity} rows run in chunks of {chunk_rows} rows to stay \
                 within the device's binding limit"
            );
        }

        let last = spec.layers.len() - 1;
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (index, layer) in spec.layers.iter().enumerate() {
            let (fan_in, width) = (spec.fan_in(index), layer.width);
            let name = |part: &str| format!("layer{index}.{part}");
            let mut chunk_matrix = |part: &str| backend.zeros(chunk_rows, width, &name(part));
            let pre = match layer.activation.keeps_pre_activation() {
                true => Some(chunk_matrix("pre")?),
                false => None,
            };
            let unfused = layer.activation == Activation::Softmax
                || (index == last && layer.activation != Activation::Identity);
            let grad_output = match unfused {
                true => Some(chunk_matrix("grad_output")?),
                false => None,
            };
            layers.push(DenseLayer {
                activation: layer.activation,
                bias_enabled: layer.bias,
                output: chunk_matrix("output")?,
                grad_pre: chunk_matrix("grad_pre")?,
                pre,
                grad_output,
                weight: backend.zeros(fan_in, width, &name("weight"))?,
                bias: backend.zeros(1, width, &name("bias"))?,
                grad_weight: backend.zeros(fan_in, width, &name("grad_weight"))?,
                grad_bias: backend.zeros(1, width, &name("grad_bias"))?,
            });
        }
        let input = backend.zeros(chunk_rows, spec.inputs, "input")?;
        let labels = backend.labels(chunk_rows, "labels")?;
        let targets = backend.zeros(chunk_rows, spec.outputs(), "targets")?;
        let loss_totals = backend.loss_totals()?;
        let mut mlp = Mlp {
            backend,
            spec,
            batch_capacity,
            chunk_rows,
            layers,
            input,
            labels,
            targets,
            loss_totals,
        };
        mlp.set_parameters(params)?;
        Ok(mlp)
    }

    /// The network's description.
    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    /// The largest batch a single step can take.
    pub fn batch_capacity(&self) -> usize {
        self.batch_capacity
    }

    /// Rows per dispatch: the batch capacity, or fewer where the device's binding limit
    /// requires splitting batches.
    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// The backend the network runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, for recording other work in order with the network's.
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Replaces every parameter with `params`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] or [`Error::InvalidConfig`] when `params` does not fit
    /// the network or is not finite.
    pub fn set_parameters(&mut self, params: &Parameters) -> Result<()> {
        params.check(&self.spec)?;
        for (layer, values) in self.layers.iter_mut().zip(&params.layers) {
            let weight = values.weight.as_standard_layout();
            let weight = weight.as_slice().expect("standard layout is contiguous");
            self.backend.write(&mut layer.weight, weight)?;
            let bias = values.bias.as_standard_layout();
            let bias = bias.as_slice().expect("standard layout is contiguous");
            self.backend.write(&mut layer.bias, bias)?;
        }
        Ok(())
    }

    /// Copies every parameter to the host.
    ///
    /// # Errors
    /// The backend's read errors.
    pub fn parameters(&mut self) -> Result<Parameters> {
        self.read_pairs(|layer| (&layer.weight, &layer.bias))
    }

    /// Copies the gradients left by the last [`Mlp::compute_gradients`] to the host, in
    /// the shapes of the parameters.
    ///
    /// # Errors
    /// The backend's read errors.
    pub fn gradients(&mut self) -> Result<Parameters> {
        self.read_pairs(|layer| (&layer.grad_weight, &layer.grad_bias))
    }

    fn read_pairs(
        &mut self,
        select: impl Fn(&DenseLayer<B>) -> (&B::Matrix, &B::Matrix),
    ) -> Result<Parameters> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let (fan_in, width) = (self.spec.fan_in(index), self.spec.layers[index].width);
            let (weight, bias) = select(layer);
            let weight = self.backend.read(weight, fan_in)?;
            let bias = self.backend.read(bias, 1)?;
            layers.push(DenseParams {
                weight: Array2::from_shape_vec((fan_in, width), weight)
                    .expect("the backend returns whole rows"),
                bias: Array1::from_vec(bias),
            });
        }
        Ok(Parameters { layers })
    }

    /// Calls `f` with the backend and each trained (parameter, gradient) pair, in a
    /// fixed order: layer 0's weight, layer 0's bias, layer 1's weight, and so on.
    /// Biases of layers without one are skipped, but keep their index, `2 · layer + 1`.
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn for_each_parameter(
        &mut self,
        mut f: impl FnMut(&mut B, usize, &mut B::Matrix, &B::Matrix) -> Result<()>,
    ) -> Result<()> {
        for (index, layer) in self.layers.iter_mut().enumerate() {
            f(
                &mut self.backend,
                2 * index,
                &mut layer.weight,
                &layer.grad_weight,
            )?;
            if layer.bias_enabled {
                f(
                    &mut self.backend,
                    2 * index + 1,
                    &mut layer.bias,
                    &layer.grad_bias,
                )?;
            }
        }
        Ok(())
    }

    /// Records the forward pass over the first `rows` rows of the input buffer.
    fn forward(&mut self, rows: usize) -> Result<()> {
        for index in 0..self.layers.len() {
            let (before, after) = self.layers.split_at_mut(index);
            let layer = &mut after[0];
            let x = before
                .last()
                .map_or(&self.input, |previous| &previous.output);
            self.backend.linear_forward(
                x,
                &layer.weight,
                &layer.bias,
                layer.activation,
                layer.pre.as_mut(),
                &mut layer.output,
                rows,
            )?;
        }
        Ok(())
    }

    /// Records the loss of the last layer's output against the uploaded targets, and
    /// leaves the gradient with respect to the output where `backward` starts.
    fn record_loss(&mut self, loss: Loss, labels: bool, chunk: LossChunk) -> Result<()> {
        let last = self.layers.last_mut().expect("a network has a layer");
        let grad = last.grad_output.as_mut().unwrap_or(&mut last.grad_pre);
        if labels {
            self.backend.loss_with_labels(
                &last.output,
                &self.labels,
                grad,
                &mut self.loss_totals,
                chunk,
            )
        } else {
            self.backend.loss_with_targets(
                loss,
                &last.output,
                &self.targets,
                grad,
                &mut self.loss_totals,
                chunk,
            )
        }
    }

    /// Turns a layer's gradient with respect to its output, in `grad_output`, into the
    /// gradient with respect to its pre-activation, for the activations whose
    /// derivative is not folded into a matrix product.
    fn unfold_activation(backend: &mut B, layer: &mut DenseLayer<B>, rows: usize) -> Result<()> {
        let Some(grad_output) = layer.grad_output.as_ref() else {
            return Ok(());
        };
        if layer.activation == Activation::Softmax {
            return backend.softmax_backward(&layer.output, grad_output, &mut layer.grad_pre, rows);
        }
        let act_input = match (&layer.pre, layer.activation.grad_needs_pre_activation()) {
            (Some(pre), true) => pre,
            _ => &layer.output,
        };
        backend.activation_backward(
            layer.activation,
            act_input,
            grad_output,
            &mut layer.grad_pre,
            rows,
        )
    }

    /// Records the backward pass from the last layer's output gradient, leaving every
    /// parameter's gradient in its buffer, or added to it when `accumulate` is set.
    fn backward(&mut self, rows: usize, accumulate: bool) -> Result<()> {
        let last = self.layers.len() - 1;
        Self::unfold_activation(&mut self.backend, &mut self.layers[last], rows)?;
        for index in (0..self.layers.len()).rev() {
            let (before, after) = self.layers.split_at_mut(index);
            let layer = &mut after[0];
            let x = before
                .last()
                .map_or(&self.input, |previous| &previous.output);
            self.backend.weight_grad(
                x,
                &layer.grad_pre,
                &mut layer.grad_weight,
                rows,
                accumulate,
            )?;
            if layer.bias_enabled {
                self.backend
                    .bias_grad(&layer.grad_pre, &mut layer.grad_bias, rows, accumulate)?;
            }
            let Some(previous) = before.last_mut() else {
                continue;
            };
            // The previous layer's derivative is folded into this product where it is
            // element-wise; otherwise the product lands in its `grad_output` first.
            let DenseLayer {
                activation,
                output,
                pre,
                grad_pre,
                grad_output,
                ..
            } = previous;
            let activation = *activation;
            let act_input = match (pre.as_ref(), activation.grad_needs_pre_activation()) {
                (Some(pre), true) => pre,
                _ => &*output,
            };
            let destination = match grad_output.as_mut() {
                Some(grad_output) if !activation.is_elementwise() => grad_output,
                _ => grad_pre,
            };
            self.backend.input_grad(
                &layer.grad_pre,
                &layer.weight,
                activation,
                act_input,
                destination,
                rows,
            )?;
            if !activation.is_elementwise() {
                Self::unfold_activation(&mut self.backend, previous, rows)?;
            }
        }
        Ok(())
    }

    /// Checks a batch against the network and the loss.
    fn check_batch(&self, rows: usize, targets: &Targets<'_>, loss: Loss) -> Result<()> {
        if rows > self.batch_capacity {
            return Err(Error::config(
                "batch size",
                rows,
                format!(
                    "the network was built for batches of at most {} rows",
                    self.batch_capacity
                ),
            ));
        }
        let outputs = self.spec.outputs();
        let last = self.spec.layers.last().expect("a network has a layer");
        if loss.takes_logits() && last.activation != Activation::Identity {
            return Err(Error::config(
                "last activation",
                last.activation,
                format!(
                    "{} takes logits; make the last layer's activation identity",
                    loss.name()
                ),
            ));
        }
        match targets {
            Targets::Labels(labels) => {
                if loss != Loss::SoftmaxCrossEntropy {
                    return Err(Error::config(
                        "targets",
                        "class labels",
                        format!(
                            "{} needs target values, one row per output row",
                            loss.name()
                        ),
                    ));
                }
                if labels.len() != rows {
                    return Err(Error::ShapeMismatch {
                        operation: "computing gradients",
                        lhs: "features",
                        lhs_shape: vec![rows, self.spec.inputs],
                        rhs: "labels",
                        rhs_shape: vec![labels.len()],
                    });
                }
                if let Some(row) = labels.iter().position(|&l| l as usize >= outputs) {
                    return Err(Error::InvalidData {
                        source_name: "batch labels".to_string(),
                        row,
                        column: 0,
                        value: labels[row].to_string(),
                        reason: format!(
                            "labels must be below the {outputs} outputs of the network"
                        ),
                    });
                }
            }
            Targets::Values(values) => {
                if values.dim() != (rows, outputs) {
                    return Err(Error::ShapeMismatch {
                        operation: loss.name(),
                        lhs: "outputs",
                        lhs_shape: vec![rows, outputs],
                        rhs: "targets",
                        rhs_shape: values.shape().to_vec(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Uploads a batch and records the forward pass, `loss` against `targets` and the
    /// backward pass. The gradients are left for an optimizer, and the loss is added to
    /// the running totals, which stay on the device until [`Mlp::take_loss_totals`].
    /// Returns the number of rows.
    ///
    /// # Errors
    /// - [`Error::ShapeMismatch`], naming both shapes, when `features` is not
    ///   `[rows, inputs]` or the targets are not one label or one `[outputs]` row per row.
    /// - [`Error::InvalidConfig`] for more rows than the batch capacity, for labels with a
    ///   loss other than softmax cross-entropy, or for a loss on logits after a
    ///   non-identity last activation.
    /// - [`Error::InvalidData`] for a label not below the number of outputs.
    /// - The backend's errors.
    pub fn compute_gradients(
        &mut self,
        features: ArrayView2<'_, f32>,
        targets: Targets<'_>,
        loss: Loss,
    ) -> Result<usize> {
        self.check_features(features)?;
        let rows = features.nrows();
        self.check_batch(rows, &targets, loss)?;
        if rows == 0 {
            return Ok(0);
        }
        let mut start = 0;
        while start < rows {
            let end = (start + self.chunk_rows).min(rows);
            let chunk = LossChunk {
                rows: end - start,
                batch_rows: rows,
                ends_batch: end == rows,
            };
            self.upload_rows(features.slice(s![start..end, ..]))?;
            let labels = match targets {
                Targets::Labels(labels) => {
                    self.backend
                        .write_labels(&mut self.labels, &labels[start..end])?;
                    true
                }
                Targets::Values(values) => {
                    let values = values.slice(s![start..end, ..]);
                    let values = values.as_standard_layout();
                    let values = values.as_slice().expect("standard layout is contiguous");
                    self.backend.write(&mut self.targets, values)?;
                    false
                }
            };
            self.forward(chunk.rows)?;
            self.record_loss(loss, labels, chunk)?;
            self.backward(chunk.rows, start > 0)?;
            start = end;
        }
        Ok(rows)
    }

    fn check_features(&self, features: ArrayView2<'_, f32>) -> Result<()> {
        if features.ncols() == self.spec.inputs {
            return Ok(());
        }
        Err(Error::ShapeMismatch {
            operation: "loading a batch",
            lhs: "features",
            lhs_shape: features.shape().to_vec(),
            rhs: "network inputs",
            rhs_shape: vec![self.spec.inputs],
        })
    }

    fn upload_rows(&mut self, features: ArrayView2<'_, f32>) -> Result<()> {
        let features = features.as_standard_layout();
        let values = features.as_slice().expect("standard layout is contiguous");
        self.backend.write(&mut self.input, values)
    }

    /// Reads the loss totals accumulated since the last call, then resets them.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn take_loss_totals(&mut self) -> Result<LossSummary> {
        let summary = self.backend.read_loss_totals(&self.loss_totals)?;
        self.backend.reset_loss_totals(&mut self.loss_totals)?;
        Ok(summary)
    }

    /// Returns the last layer's outputs (the logits, for a classifier) for every row of
    /// `features [rows, inputs]`, running chunks of at most [`Mlp::chunk_rows`] rows.
    ///
    /// Zero rows give a `[0, outputs]` result.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `features` does not have `inputs` columns, and the
    /// backend's errors.
    pub fn predict(&mut self, features: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.check_features(features)?;
        let outputs = self.spec.outputs();
        let mut result = Array2::zeros((features.nrows(), outputs));
        let chunks = features
            .axis_chunks_iter(Axis(0), self.chunk_rows)
            .zip(result.axis_chunks_iter_mut(Axis(0), self.chunk_rows));
        for (chunk, mut out) in chunks {
            let rows = chunk.nrows();
            self.upload_rows(chunk)?;
            self.forward(rows)?;
            let last = &self.layers.last().expect("a network has a layer").output;
            let values = self.backend.read(last, rows)?;
            out.assign(
                &ArrayView2::from_shape((rows, outputs), &values)
                    .expect("the backend returns whole rows"),
            );
        }
        Ok(result)
    }

    /// Returns the index of the largest output for every row of `features`.
    ///
    /// # Errors
    /// The errors of [`Mlp::predict`].
    pub fn predict_classes(&mut self, features: ArrayView2<'_, f32>) -> Result<Vec<u32>> {
        let outputs = self.predict(features)?;
        Ok(outputs
            .axis_iter(Axis(0))
            .map(|row| {
                let mut best = 0;
                for (index, &value) in row.iter().enumerate() {
                    if value > row[best] {
                        best = index;
                    }
                }
                best as u32
            })
            .collect())
    }
}

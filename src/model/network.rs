//! A multilayer perceptron on any [`Backend`], with its buffers allocated once.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::backend::{Backend, LossSummary};
use crate::error::{Error, Result};
use crate::model::{Activation, DenseParams, MlpSpec, Parameters};

/// The device buffers of one dense layer. Shapes use `batch` for the batch capacity.
#[derive(Debug)]
struct DenseLayer<B: Backend> {
    activation: Activation,
    /// `[in, out]`
    weight: B::Matrix,
    /// `[1, out]`
    bias: B::Matrix,
    /// `[in, out]`
    grad_weight: B::Matrix,
    /// `[1, out]`
    grad_bias: B::Matrix,
    /// The activation's output, `[batch, out]`.
    output: B::Matrix,
    /// The pre-activation `[batch, out]`, kept only where the derivative needs it.
    pre: Option<B::Matrix>,
    /// Gradient of the loss with respect to the pre-activation, `[batch, out]`.
    grad_pre: B::Matrix,
}

/// A multilayer perceptron whose parameters, activations and gradients live on one
/// backend, sized once for batches of up to `batch_capacity` rows.
///
/// A training step writes the batch, records the forward pass, the loss and the
/// backward pass, and leaves the gradients for an optimizer; nothing is allocated and
/// nothing is read back.
#[derive(Debug)]
pub struct Mlp<B: Backend> {
    backend: B,
    spec: MlpSpec,
    batch_capacity: usize,
    layers: Vec<DenseLayer<B>>,
    /// `[batch, inputs]`
    input: B::Matrix,
    /// `[batch]`
    labels: B::Labels,
    loss_totals: B::LossTotals,
}

impl<B: Backend> Mlp<B> {
    /// Builds the network described by `spec` on `backend`, starting from `params`, with
    /// buffers for batches of up to `batch_capacity` rows.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an invalid `spec` or a zero `batch_capacity`,
    /// [`Error::ShapeMismatch`] when `params` does not fit `spec`, and the backend's
    /// allocation errors, such as [`Error::BufferTooLarge`].
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
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (index, layer) in spec.layers.iter().enumerate() {
            let (fan_in, width) = (spec.fan_in(index), layer.width);
            let name = |part: &str| format!("layer{index}.{part}");
            let pre = match layer.activation.grad_needs_pre_activation() {
                true => Some(backend.zeros(batch_capacity, width, &name("pre"))?),
                false => None,
            };
            layers.push(DenseLayer {
                activation: layer.activation,
                weight: backend.zeros(fan_in, width, &name("weight"))?,
                bias: backend.zeros(1, width, &name("bias"))?,
                grad_weight: backend.zeros(fan_in, width, &name("grad_weight"))?,
                grad_bias: backend.zeros(1, width, &name("grad_bias"))?,
                output: backend.zeros(batch_capacity, width, &name("output"))?,
                pre,
                grad_pre: backend.zeros(batch_capacity, width, &name("grad_pre"))?,
            });
        }
        let input = backend.zeros(batch_capacity, spec.inputs, "input")?;
        let labels = backend.labels(batch_capacity, "labels")?;
        let loss_totals = backend.loss_totals()?;
        let mut mlp = Mlp {
            backend,
            spec,
            batch_capacity,
            layers,
            input,
            labels,
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

    /// Calls `f` with the backend and each (parameter, gradient) pair, in a fixed order:
    /// layer 0's weight, layer 0's bias, layer 1's weight, and so on.
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
            f(
                &mut self.backend,
                2 * index + 1,
                &mut layer.bias,
                &layer.grad_bias,
            )?;
        }
        Ok(())
    }

    /// Uploads a batch of `rows` rows: `features [rows, inputs]`, row-major, and
    /// optionally one label per row.
    fn load_batch(&mut self, features: &[f32], labels: Option<&[u32]>) -> Result<usize> {
        let rows = features.len() / self.spec.inputs;
        if rows * self.spec.inputs != features.len() || rows > self.batch_capacity {
            return Err(Error::ShapeMismatch {
                operation: "loading a batch",
                lhs: "features",
                lhs_shape: vec![features.len()],
                rhs: "batch capacity × inputs",
                rhs_shape: vec![self.batch_capacity, self.spec.inputs],
            });
        }
        self.backend.write(&mut self.input, features)?;
        if let Some(labels) = labels {
            if labels.len() != rows {
                return Err(Error::ShapeMismatch {
                    operation: "loading a batch",
                    lhs: "labels",
                    lhs_shape: vec![labels.len()],
                    rhs: "features",
                    rhs_shape: vec![rows, self.spec.inputs],
                });
            }
            self.backend.write_labels(&mut self.labels, labels)?;
        }
        Ok(rows)
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

    /// Records the backward pass from the last layer's `grad_pre`, leaving every
    /// parameter's gradient in its buffer.
    fn backward(&mut self, rows: usize) -> Result<()> {
        for index in (0..self.layers.len()).rev() {
            let (before, after) = self.layers.split_at_mut(index);
            let layer = &mut after[0];
            let x = before
                .last()
                .map_or(&self.input, |previous| &previous.output);
            self.backend
                .weight_grad(x, &layer.grad_pre, &mut layer.grad_weight, rows)?;
            self.backend
                .bias_grad(&layer.grad_pre, &mut layer.grad_bias, rows)?;
            if let Some(previous) = before.last_mut() {
                let act_input = previous.pre.as_ref().unwrap_or(&previous.output);
                self.backend.input_grad(
                    &layer.grad_pre,
                    &layer.weight,
                    previous.activation,
                    act_input,
                    &mut previous.grad_pre,
                    rows,
                )?;
            }
        }
        Ok(())
    }

    /// Uploads a batch and records the forward pass, the softmax cross-entropy loss
    /// against `labels` and the backward pass. The gradients are left for an optimizer,
    /// and the loss is added to the running totals, which stay on the device until
    /// [`Mlp::take_loss_totals`].
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `features` is not `[rows, inputs]` with
    /// `rows ≤ batch_capacity` or `labels` does not have `rows` entries,
    /// [`Error::InvalidData`] for a label not below the number of outputs, and the
    /// backend's errors.
    pub fn compute_gradients(&mut self, features: &[f32], labels: &[u32]) -> Result<usize> {
        let classes = self.spec.outputs();
        if let Some(row) = labels.iter().position(|&label| label as usize >= classes) {
            return Err(Error::InvalidData {
                source_name: "batch labels".to_string(),
                row,
                column: 0,
                value: labels[row].to_string(),
                reason: format!("labels must be below the {classes} outputs of the network"),
            });
        }
        let rows = self.load_batch(features, Some(labels))?;
        if rows == 0 {
            return Ok(0);
        }
        self.forward(rows)?;
        let last = self.layers.last_mut().expect("a network has a layer");
        self.backend.softmax_cross_entropy(
            &last.output,
            &self.labels,
            &mut last.grad_pre,
            &mut self.loss_totals,
            rows,
        )?;
        self.backward(rows)?;
        Ok(rows)
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
    /// `features [rows, inputs]`, running batches of at most `batch_capacity` rows.
    ///
    /// Zero rows give a `[0, outputs]` result.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `features` does not have `inputs` columns, and the
    /// backend's errors.
    pub fn predict(&mut self, features: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        if features.ncols() != self.spec.inputs {
            return Err(Error::ShapeMismatch {
                operation: "predict",
                lhs: "features",
                lhs_shape: features.shape().to_vec(),
                rhs: "network inputs",
                rhs_shape: vec![self.spec.inputs],
            });
        }
        let outputs = self.spec.outputs();
        let mut result = Array2::zeros((features.nrows(), outputs));
        let chunks = features
            .axis_chunks_iter(Axis(0), self.batch_capacity)
            .zip(result.axis_chunks_iter_mut(Axis(0), self.batch_capacity));
        for (chunk, mut out) in chunks {
            let chunk = chunk.as_standard_layout();
            let rows = self.load_batch(chunk.as_slice().expect("contiguous"), None)?;
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

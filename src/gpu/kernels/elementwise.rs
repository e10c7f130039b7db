//! Launchers of `shaders/elementwise.wgsl`.

use crate::error::{Error, Result};
use crate::gpu::kernels::{expect_batch_shape, grid_1d, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};
use crate::model::Activation;

/// Uniform parameters of the element-wise kernels. Mirrored by `ElementwiseParams` in
/// `shaders/elementwise.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ElementwiseParams {
    /// Number of elements.
    pub len: u32,
    /// Negative slope of leaky ReLU, 0 for other activations.
    pub slope: f32,
    /// Keeps the size a multiple of 16 bytes.
    pub _padding: [u32; 2],
}

const WORKGROUP_SIZE: u32 = 256;

/// Records `y = activation(x)` over every element; `x` and `y` have the same shape.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ, and the errors of
/// [`Recorder::dispatch`].
pub fn activation_forward(
    recorder: &mut Recorder,
    activation: Activation,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<()> {
    same_shape("activation forward", ("x", x), ("y", y))?;
    let unused = recorder.context().unused_read.clone();
    dispatch(
        recorder,
        "activation_forward",
        activation,
        (x, x.len()),
        &unused,
        y,
    )
}

/// Records `grad_x = grad_y ⊙ activation'(y)`, with `y` the forward output (for GELU,
/// the forward input). All three have the same shape.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ, and the errors of
/// [`Recorder::dispatch`].
pub fn activation_backward(
    recorder: &mut Recorder,
    activation: Activation,
    y: &GpuTensor,
    grad_y: &GpuTensor,
    grad_x: &GpuTensor,
) -> Result<()> {
    same_shape("activation backward", ("y", y), ("grad_y", grad_y))?;
    same_shape("activation backward", ("y", y), ("grad_x", grad_x))?;
    activation_backward_rows(recorder, activation, y, grad_y, grad_x, y.rows())
}

/// [`activation_backward`] over the first `rows` rows of tensors with room for more.
///
/// # Errors
/// [`Error::ShapeMismatch`] when a tensor has another width or fewer rows, and the
/// errors of [`Recorder::dispatch`].
pub fn activation_backward_rows(
    recorder: &mut Recorder,
    activation: Activation,
    y: &GpuTensor,
    grad_y: &GpuTensor,
    grad_x: &GpuTensor,
    rows: usize,
) -> Result<()> {
    let cols = y.cols();
    for (name, tensor) in [("y", y), ("grad_y", grad_y), ("grad_x", grad_x)] {
        expect_batch_shape("activation backward", name, tensor, rows, cols)?;
    }
    let len = rows * cols;
    dispatch(
        recorder,
        "activation_backward",
        activation,
        (y, len),
        grad_y.buffer(),
        grad_x,
    )
}

/// Dispatches `entry` over the first `len` elements of `input`.
fn dispatch(
    recorder: &mut Recorder,
    entry: &'static str,
    activation: Activation,
    (input, len): (&GpuTensor, usize),
    upstream: &wgpu::Buffer,
    output: &GpuTensor,
) -> Result<()> {
    if !activation.is_elementwise() {
        return Err(Error::config(
            "activation",
            activation,
            "is not element-wise; use the softmax kernels",
        ));
    }
    let params = ElementwiseParams {
        len: to_u32("element count", len)?,
        slope: activation.slope(),
        _padding: [0; 2],
    };
    let label = format!("{entry}.{activation}");
    let constants = [
        ("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE)),
        ("ACTIVATION", f64::from(activation.shader_id())),
    ];
    let spec = PipelineSpec {
        label: &label,
        source: shaders::ELEMENTWISE,
        entry,
        constants: &constants,
        reads: 2,
        writes: 1,
    };
    let max = recorder.context().max_workgroups_per_dimension();
    let groups = grid_1d(params.len.div_ceil(WORKGROUP_SIZE), max);
    recorder.dispatch(
        &spec,
        &[input.buffer(), upstream],
        &[output.buffer()],
        &params,
        groups,
    )
}

fn same_shape(
    operation: &'static str,
    (lhs, a): (&'static str, &GpuTensor),
    (rhs, b): (&'static str, &GpuTensor),
) -> Result<()> {
    if (a.rows(), a.cols()) == (b.rows(), b.cols()) {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        operation,
        lhs,
        lhs_shape: vec![a.rows(), a.cols()],
        rhs,
        rhs_shape: vec![b.rows(), b.cols()],
    })
}

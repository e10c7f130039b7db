//! Launcher of `shaders/matmul.wgsl`.

use crate::backend::MatmulForm;
use crate::error::Result;
use crate::gpu::kernels::{expect_batch_shape, expect_shape, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};
use crate::model::Activation;

/// Uniform parameters of the matmul kernel. Mirrored by `MatmulParams` in
/// `shaders/matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    /// Rows of the output and of op(A).
    pub m: u32,
    /// Columns of the output and of op(B).
    pub n: u32,
    /// The reduction length: columns of op(A), rows of op(B).
    pub k: u32,
    /// Negative slope of leaky ReLU, 0 for other activations.
    pub slope: f32,
}

/// Sizes of a product `C [m, n] = op(A) [m, k] · op(B) [k, n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulSize {
    /// Rows of the output.
    pub m: usize,
    /// Columns of the output.
    pub n: usize,
    /// The reduction length.
    pub k: usize,
}

/// What the kernel does with each output element before storing it.
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    /// Store the product.
    None,
    /// Add `bias [1, n]` and apply `activation`; store the sum in `pre [m, n]` if given.
    BiasActivation {
        /// The bias row.
        bias: &'a GpuTensor,
        /// The activation applied after the bias.
        activation: Activation,
        /// Where to store the pre-activation.
        pre: Option<&'a GpuTensor>,
    },
    /// Multiply by `activation'(input)`, elementwise, with `input [m, n]` the output of
    /// the activation (or its input, for GELU).
    ActivationGrad {
        /// The activation whose derivative is applied.
        activation: Activation,
        /// The values the derivative is evaluated at.
        input: &'a GpuTensor,
    },
}

/// Outputs per invocation along each axis; `BLOCK` in the shader.
const BLOCK: u32 = 4;

/// Records `c = epilogue(op(a) · op(b))` for the first `m` rows of `c`.
///
/// `form` says which operands are transposed. Shapes are checked against `form` and
/// `size`; operands whose rows are batch rows may have more rows than are used.
///
/// # Errors
/// [`Error::ShapeMismatch`](crate::Error::ShapeMismatch) when an operand's shape does not
/// fit `form` and the sizes, and the errors of [`Recorder::dispatch`].
pub fn matmul(
    recorder: &mut Recorder,
    form: MatmulForm,
    a: &GpuTensor,
    b: &GpuTensor,
    c: &GpuTensor,
    size: MatmulSize,
    epilogue: Epilogue<'_>,
) -> Result<()> {
    const OP: &str = "matmul";
    let MatmulSize { m, n, k } = size;
    match form {
        MatmulForm::Nn => {
            expect_batch_shape(OP, "a", a, m, k)?;
            expect_shape(OP, "b", b, k, n)?;
        }
        MatmulForm::Tn => {
            expect_batch_shape(OP, "a", a, k, m)?;
            expect_batch_shape(OP, "b", b, k, n)?;
        }
        MatmulForm::Nt => {
            expect_batch_shape(OP, "a", a, m, k)?;
            expect_shape(OP, "b", b, n, k)?;
        }
    }
    // The weight gradient is the only product whose output is not batch-sized.
    match form {
        MatmulForm::Tn => expect_shape(OP, "c", c, m, n)?,
        _ => expect_batch_shape(OP, "c", c, m, n)?,
    }

    let ctx = recorder.context().clone();
    let (activation, epilogue_id, aux, pre) = match epilogue {
        Epilogue::None => (Activation::Identity, 0, None, None),
        Epilogue::BiasActivation {
            bias,
            activation,
            pre,
        } => {
            expect_shape(OP, "bias", bias, 1, n)?;
            if let Some(pre) = pre {
                expect_batch_shape(OP, "pre", pre, m, n)?;
            }
            (activation, 1, Some(bias), pre)
        }
        Epilogue::ActivationGrad { activation, input } => {
            expect_batch_shape(OP, "activation input", input, m, n)?;
            (activation, 2, Some(input), None)
        }
    };
    let params = MatmulParams {
        m: to_u32("matmul rows", m)?,
        n: to_u32("matmul columns", n)?,
        k: to_u32("matmul reduction length", k)?,
        slope: activation.slope(),
    };

    let tiles = ctx.tiles();
    let (transpose_a, transpose_b) = form.transposes();
    let label = format!("matmul.{}.{}.{}", form.name(), epilogue_id, activation);
    let constants = [
        ("WORKGROUP_X", f64::from(tiles.matmul_workgroup_x)),
        ("WORKGROUP_Y", f64::from(tiles.matmul_workgroup_y)),
        ("TRANSPOSE_A", f64::from(u8::from(transpose_a))),
        ("TRANSPOSE_B", f64::from(u8::from(transpose_b))),
        ("EPILOGUE", f64::from(epilogue_id)),
        ("ACTIVATION", f64::from(activation.shader_id())),
        ("STORE_PRE", f64::from(u8::from(pre.is_some()))),
    ];
    let spec = PipelineSpec {
        label: &label,
        source: shaders::MATMUL,
        entry: "matmul",
        constants: &constants,
        reads: 3,
        writes: 2,
    };

    let groups_x = params.n.div_ceil(BLOCK).div_ceil(tiles.matmul_workgroup_x);
    let row_groups = params.m.div_ceil(BLOCK).div_ceil(tiles.matmul_workgroup_y);
    // Row blocks past the per-dimension limit continue along z; see the shader.
    let max = ctx.limits().max_compute_workgroups_per_dimension;
    let groups_z = row_groups.div_ceil(max).max(1);
    let groups_y = row_groups.div_ceil(groups_z);

    let aux = aux.map_or(&ctx.unused_read, GpuTensor::buffer);
    let pre = pre.map_or(&ctx.unused_write, GpuTensor::buffer);
    recorder.dispatch(
        &spec,
        &[a.buffer(), b.buffer(), aux],
        &[c.buffer(), pre],
        &params,
        [groups_x, groups_y, groups_z],
    )
}

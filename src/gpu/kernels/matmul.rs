//! Launchers of the matmul kernels in `shaders/matmul*.wgsl`.

use crate::backend::MatmulForm;
use crate::error::Result;
use crate::gpu::kernels::{expect_batch_shape, expect_shape, to_u32};
use crate::gpu::{GpuTensor, PipelineSpec, Recorder, shaders};
use crate::model::Activation;

/// Uniform parameters of the matmul kernels. Mirrored by `MatmulParams` in
/// `shaders/matmul_common.wgsl`.
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

/// The matmul kernels. [`GpuContext`](crate::gpu::GpuContext) picks one per adapter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulKernel {
    /// One output per invocation; the baseline the others are measured against.
    Naive,
    /// 8 × 4 outputs per invocation in registers, with vec4 loads where aligned. For CPU
    /// adapters without subgroups, where workgroup memory is ordinary memory.
    Blocked,
    /// Like `Blocked`, but each subgroup loads the rows of A once and shares them by
    /// broadcast. Needs subgroups of at least 8 invocations; the fastest on lavapipe.
    Subgroup,
    /// 64 × 64 output tiles staged through workgroup memory, 4 × 4 per invocation. For
    /// discrete and integrated GPUs.
    Tiled,
}

impl MatmulKernel {
    /// Every kernel, for tests and benchmarks.
    pub const ALL: [MatmulKernel; 4] = [
        MatmulKernel::Naive,
        MatmulKernel::Blocked,
        MatmulKernel::Subgroup,
        MatmulKernel::Tiled,
    ];

    /// The kernel's name, as in its WGSL entry point without the `matmul_` prefix.
    pub fn name(self) -> &'static str {
        match self {
            MatmulKernel::Naive => "naive",
            MatmulKernel::Blocked => "blocked",
            MatmulKernel::Subgroup => "subgroup",
            MatmulKernel::Tiled => "tiled",
        }
    }
}

/// The operation applied to each output element before it is stored.
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
        /// The buffer that receives the pre-activation, if any.
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
    /// Add the product to the output's current values.
    Accumulate,
}

impl Epilogue<'_> {
    fn id(&self) -> u32 {
        match self {
            Epilogue::None => 0,
            Epilogue::BiasActivation { .. } => 1,
            Epilogue::ActivationGrad { .. } => 2,
            Epilogue::Accumulate => 3,
        }
    }
}

/// Rows of the output per subgroup or invocation in the blocked kernels; `BLOCK_ROWS` in
/// the shader.
const BLOCK_ROWS: u32 = 8;
/// Output tile of a workgroup in the tiled kernel; `TILE` in the shader.
const TILE: u32 = 64;
/// Workgroup side of the naive kernel.
const NAIVE_SIDE: u32 = 8;

/// Records `c = epilogue(op(a) · op(b))` for the first `size.m` rows of `c`, with the
/// kernel the context chose for its adapter.
///
/// `form` selects which operands are transposed. Shapes are checked against `form` and
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
    let kernel = recorder.context().matmul_kernel();
    matmul_with(recorder, kernel, form, a, b, c, size, epilogue)
}

/// [`matmul`] with a chosen kernel, for tests and benchmarks.
///
/// # Errors
/// As [`matmul`]; also [`Error::Gpu`](crate::Error::Gpu) when `kernel` is
/// [`MatmulKernel::Subgroup`] on a device without subgroups.
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    recorder: &mut Recorder,
    kernel: MatmulKernel,
    form: MatmulForm,
    a: &GpuTensor,
    b: &GpuTensor,
    c: &GpuTensor,
    size: MatmulSize,
    epilogue: Epilogue<'_>,
) -> Result<()> {
    check_shapes(form, a, b, c, size, &epilogue)?;
    let MatmulSize { m, n, k } = size;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let ctx = recorder.context().clone();
    let (activation, aux, pre) = match epilogue {
        Epilogue::BiasActivation {
            bias,
            activation,
            pre,
        } => (activation, Some(bias), pre),
        Epilogue::ActivationGrad { activation, input } => (activation, Some(input), None),
        Epilogue::None | Epilogue::Accumulate => (Activation::Identity, None, None),
    };
    let params = MatmulParams {
        m: to_u32("matmul rows", m)?,
        n: to_u32("matmul columns", n)?,
        k: to_u32("matmul reduction length", k)?,
        slope: activation.slope(),
    };

    let (transpose_a, transpose_b) = form.transposes();
    // The contiguous dimension of each stored operand must be a multiple of 4 for vec4
    // loads: k for A [m, k], m for A stored [k, m]; n for B [k, n], k for B stored [n, k].
    let vector_a = if transpose_a { m } else { k }.is_multiple_of(4);
    let vector_b = if transpose_b { k } else { n }.is_multiple_of(4);
    let workgroup_x = match kernel {
        MatmulKernel::Naive => NAIVE_SIDE,
        MatmulKernel::Tiled => 16,
        MatmulKernel::Blocked | MatmulKernel::Subgroup => ctx.blocked_workgroup_size(),
    };
    let workgroup_y = if kernel == MatmulKernel::Naive {
        NAIVE_SIDE
    } else {
        1
    };
    let flag = |value: bool| f64::from(u8::from(value));
    let constants = [
        ("WORKGROUP_X", f64::from(workgroup_x)),
        ("WORKGROUP_Y", f64::from(workgroup_y)),
        ("TRANSPOSE_A", flag(transpose_a)),
        ("TRANSPOSE_B", flag(transpose_b)),
        ("VECTOR_A", flag(vector_a)),
        ("VECTOR_B", flag(vector_b)),
        ("EPILOGUE", f64::from(epilogue.id())),
        ("ACTIVATION", f64::from(activation.shader_id())),
        ("STORE_PRE", flag(pre.is_some())),
    ];
    let label = format!(
        "matmul_{}.{}.{}.{}",
        kernel.name(),
        form.name(),
        epilogue.id(),
        activation
    );
    let (source, entry) = match kernel {
        MatmulKernel::Naive => (shaders::MATMUL, "matmul_naive"),
        MatmulKernel::Blocked => (shaders::MATMUL, "matmul_blocked"),
        MatmulKernel::Subgroup => (shaders::MATMUL_SUBGROUP, "matmul_subgroup"),
        MatmulKernel::Tiled => (shaders::MATMUL, "matmul_tiled"),
    };
    let spec = PipelineSpec {
        label: &label,
        source,
        entry,
        constants: &constants,
        reads: 5,
        writes: 2,
    };

    // Rows past the per-dimension limit continue along z. Columns are not split, which
    // still allows half a million columns at the usual limit of 65,535.
    let max = ctx.max_workgroups_per_dimension();
    let groups = match kernel {
        MatmulKernel::Naive => {
            let rows = params.m.div_ceil(NAIVE_SIDE);
            let z = rows.div_ceil(max);
            [params.n.div_ceil(NAIVE_SIDE), rows.div_ceil(z), z]
        }
        MatmulKernel::Tiled => {
            let rows = params.m.div_ceil(TILE);
            let z = rows.div_ceil(max);
            [params.n.div_ceil(TILE), rows.div_ceil(z), z]
        }
        MatmulKernel::Blocked | MatmulKernel::Subgroup => {
            // Row blocks run along x and continue along z; see `block_of` in the shader.
            let rows = params.m.div_ceil(BLOCK_ROWS);
            let z = rows.div_ceil(max);
            [
                rows.div_ceil(z),
                params.n.div_ceil(4).div_ceil(workgroup_x),
                z,
            ]
        }
    };

    let aux = aux.map_or(&ctx.unused_read, GpuTensor::buffer);
    let pre = pre.map_or(&ctx.unused_write, GpuTensor::buffer);
    recorder.dispatch(
        &spec,
        &[a.buffer(), b.buffer(), aux, a.buffer(), b.buffer()],
        &[c.buffer(), pre],
        &params,
        groups,
    )
}

fn check_shapes(
    form: MatmulForm,
    a: &GpuTensor,
    b: &GpuTensor,
    c: &GpuTensor,
    size: MatmulSize,
    epilogue: &Epilogue<'_>,
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
    match *epilogue {
        Epilogue::BiasActivation { bias, pre, .. } => {
            expect_shape(OP, "bias", bias, 1, n)?;
            if let Some(pre) = pre {
                expect_batch_shape(OP, "pre", pre, m, n)?;
            }
        }
        Epilogue::ActivationGrad { input, .. } => {
            expect_batch_shape(OP, "activation input", input, m, n)?;
        }
        Epilogue::None | Epilogue::Accumulate => {}
    }
    Ok(())
}

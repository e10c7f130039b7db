//! Matrix products of a dense layer, with the epilogues the GPU kernel fuses.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

use crate::backend::MatmulForm;
use crate::model::Activation;

/// Returns `op(a) · op(b)`, with the transposes given by `form` (see [`MatmulForm`]).
pub fn matmul(form: MatmulForm, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let (a, b) = match form {
        MatmulForm::Nn => (a, b),
        MatmulForm::Tn => (a.reversed_axes(), b),
        MatmulForm::Nt => (a, b.reversed_axes()),
    };
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    c
}

/// Computes `y = activation(x · weight + bias)`, storing `x · weight + bias` in `pre`
/// when given. Softmax is applied row by row.
///
/// Shapes: `x [rows, in]`, `weight [in, out]`, `bias [out]`, `pre` and `y [rows, out]`.
pub fn linear_forward(
    x: ArrayView2<'_, f32>,
    weight: ArrayView2<'_, f32>,
    bias: ArrayView1<'_, f32>,
    activation: Activation,
    pre: Option<ArrayViewMut2<'_, f32>>,
    mut y: ArrayViewMut2<'_, f32>,
) {
    let shape = y.raw_dim();
    y.assign(
        &bias
            .broadcast(shape)
            .expect("bias has one entry per column"),
    );
    ndarray::linalg::general_mat_mul(1.0, &x, &weight, 1.0, &mut y);
    if let Some(mut pre) = pre {
        pre.assign(&y);
    }
    if activation == Activation::Softmax {
        let z = y.to_owned();
        crate::cpu::softmax_forward_into(z.view(), y);
    } else if activation != Activation::Identity {
        y.par_mapv_inplace(|z| activation.apply(z));
    }
}

/// Computes `grad_weight = xᵀ · grad_out`, or adds it to `grad_weight` when `accumulate`
/// is set.
///
/// Shapes: `x [rows, in]`, `grad_out [rows, out]`, `grad_weight [in, out]`.
pub fn weight_grad(
    x: ArrayView2<'_, f32>,
    grad_out: ArrayView2<'_, f32>,
    mut grad_weight: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let beta = if accumulate { 1.0 } else { 0.0 };
    ndarray::linalg::general_mat_mul(1.0, &x.t(), &grad_out, beta, &mut grad_weight);
}

/// Computes `grad_in = (grad_out · weightᵀ) ⊙ activation'(act_input)`, where
/// `act_input` is the previous layer's output (for GELU, its pre-activation). Softmax,
/// which is not element-wise, leaves the product for [`softmax_backward`].
///
/// [`softmax_backward`]: crate::cpu::softmax_backward
///
/// Shapes: `grad_out [rows, out]`, `weight [in, out]`, `act_input` and
/// `grad_in [rows, in]`.
pub fn input_grad(
    grad_out: ArrayView2<'_, f32>,
    weight: ArrayView2<'_, f32>,
    activation: Activation,
    act_input: ArrayView2<'_, f32>,
    mut grad_in: ArrayViewMut2<'_, f32>,
) {
    ndarray::linalg::general_mat_mul(1.0, &grad_out, &weight.t(), 0.0, &mut grad_in);
    if activation.is_elementwise() && activation != Activation::Identity {
        Zip::from(&mut grad_in)
            .and(&act_input)
            .par_for_each(|g, &v| *g *= activation.grad(v));
    }
}

/// Computes the column sums of `x [rows, cols]` into `out [cols]`, or adds them to it
/// when `accumulate` is set: the bias gradient.
pub fn column_sum(x: ArrayView2<'_, f32>, mut out: ArrayViewMut1<'_, f32>, accumulate: bool) {
    if !accumulate {
        out.fill(0.0);
    }
    // Summing row after row matches the order of the GPU kernel's loop.
    for row in x.axis_iter(Axis(0)) {
        out += &row;
    }
}

/// Returns the column sums of `x [rows, cols]`.
pub fn column_sums(x: ArrayView2<'_, f32>) -> Array1<f32> {
    let mut out = Array1::zeros(x.ncols());
    column_sum(x, out.view_mut(), false);
    out
}

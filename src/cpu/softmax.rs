//! Row-wise softmax.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Zip};

/// Returns the row-wise softmax of `x [rows, cols]`, each row shifted by its own
/// maximum so that any finite input gives finite output.
pub fn softmax_forward(x: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut y = Array2::zeros(x.raw_dim());
    softmax_forward_into(x, y.view_mut());
    y
}

/// [`softmax_forward`] into a caller-owned array of the same shape.
pub fn softmax_forward_into(x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
    Zip::from(x.axis_iter(Axis(0)))
        .and(y.axis_iter_mut(Axis(0)))
        .par_for_each(|x, mut y| {
            let max = x.fold(f32::MIN, |m, &v| m.max(v));
            y.assign(&x.mapv(|v| (v - max).exp()));
            let sum = y.sum();
            y.mapv_inplace(|v| v / sum);
        });
}

/// Returns `y ⊙ (grad_y - Σ_j grad_y_j · y_j)` per row: the gradient with respect to the
/// softmax input, given its output `y` and the gradient with respect to that output.
pub fn softmax_backward(y: ArrayView2<'_, f32>, grad_y: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut grad_x = Array2::zeros(y.raw_dim());
    softmax_backward_into(y, grad_y, grad_x.view_mut());
    grad_x
}

/// [`softmax_backward`] into a caller-owned array of the same shape.
pub fn softmax_backward_into(
    y: ArrayView2<'_, f32>,
    grad_y: ArrayView2<'_, f32>,
    mut grad_x: ArrayViewMut2<'_, f32>,
) {
    Zip::from(y.axis_iter(Axis(0)))
        .and(grad_y.axis_iter(Axis(0)))
        .and(grad_x.axis_iter_mut(Axis(0)))
        .par_for_each(|y, g, mut out| {
            let dot: f32 = y.iter().zip(&g).map(|(a, b)| a * b).sum();
            Zip::from(&mut out)
                .and(&y)
                .and(&g)
                .for_each(|o, &yj, &gj| *o = yj * (gj - dot));
        });
}

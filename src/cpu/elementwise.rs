//! Element-wise activations.

use ndarray::{Array2, ArrayView2, Zip};

use crate::model::Activation;

/// Returns `activation(x)`, element by element.
pub fn activation_forward(activation: Activation, x: ArrayView2<'_, f32>) -> Array2<f32> {
    x.mapv(|v| activation.apply(v))
}

/// Returns `grad_y ⊙ activation'(y)`, with `y` the forward output (for GELU, the forward
/// input).
pub fn activation_backward(
    activation: Activation,
    y: ArrayView2<'_, f32>,
    grad_y: ArrayView2<'_, f32>,
) -> Array2<f32> {
    Zip::from(&y)
        .and(&grad_y)
        .map_collect(|&y, &g| g * activation.grad(y))
}

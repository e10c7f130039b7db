//! Optimizer updates.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use crate::backend::SgdStep;

/// Applies one SGD update to `param` in place; see [`SgdStep`] for the formula.
pub fn sgd(
    param: ArrayViewMut2<'_, f32>,
    grad: ArrayView2<'_, f32>,
    velocity: ArrayViewMut2<'_, f32>,
    step: SgdStep,
) {
    Zip::from(param)
        .and(grad)
        .and(velocity)
        .par_for_each(|w, &g, v| {
            let g = g + step.weight_decay * *w;
            *v = step.momentum * *v + g;
            let update = if step.nesterov {
                g + step.momentum * *v
            } else {
                *v
            };
            *w -= step.learning_rate * update;
        });
}

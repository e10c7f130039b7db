//! Optimizer updates.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use crate::backend::{StepState, UpdateRule};

/// Applies one update of `param` in place by `rule`, with the learning rate and bias
/// corrections of `state`; see [`UpdateRule`] for the formulas. `moment1` is SGD's
/// velocity or Adam's first moment, `moment2` Adam's second moment (ignored by SGD).
///
/// # Panics
/// When `rule` is Adam and `moment2` is `None`.
pub fn optimizer_update(
    rule: UpdateRule,
    state: StepState,
    param: ArrayViewMut2<'_, f32>,
    grad: ArrayView2<'_, f32>,
    moment1: ArrayViewMut2<'_, f32>,
    moment2: Option<ArrayViewMut2<'_, f32>>,
) {
    let lr = state.learning_rate;
    match rule {
        UpdateRule::Sgd {
            momentum,
            weight_decay,
            nesterov,
        } => Zip::from(param)
            .and(grad)
            .and(moment1)
            .par_for_each(|w, &g, v| {
                let g = g + weight_decay * *w;
                *v = momentum * *v + g;
                let step = if nesterov { g + momentum * *v } else { *v };
                *w -= lr * step;
            }),
        UpdateRule::Adam {
            beta1,
            beta2,
            epsilon,
            weight_decay,
            decoupled,
        } => {
            let moment2 = moment2.expect("Adam needs a second moment buffer");
            Zip::from(param)
                .and(grad)
                .and(moment1)
                .and(moment2)
                .par_for_each(|w, &g, m, v| {
                    let mut g = g;
                    if decoupled {
                        *w -= lr * weight_decay * *w;
                    } else {
                        g += weight_decay * *w;
                    }
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    let m_hat = *m / state.bias_correction1;
                    let v_hat = *v / state.bias_correction2;
                    *w -= lr * m_hat / (v_hat.sqrt() + epsilon);
                });
        }
    }
}

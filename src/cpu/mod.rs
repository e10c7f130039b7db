//! The CPU reference: every GPU kernel's operation on ndarray, under the launcher's name.
//!
//! These functions are what the GPU kernels are tested against, and through
//! [`CpuBackend`] they are also the fallback that trains where no adapter exists. Matrix
//! products go through ndarray's `general_mat_mul`, which uses every core, and the
//! element-wise passes run on rayon.

mod backend;
mod elementwise;
mod loss;
mod matmul;
mod optimizer;
mod softmax;

pub use backend::CpuBackend;
pub use elementwise::{activation_backward, activation_forward};
pub use loss::{
    LossRows, loss_with_targets, loss_with_targets_into, softmax_cross_entropy,
    softmax_cross_entropy_into,
};
pub use matmul::{column_sum, column_sums, input_grad, linear_forward, matmul, weight_grad};
pub use optimizer::optimizer_update;
pub use softmax::{softmax_backward, softmax_backward_into, softmax_forward, softmax_forward_into};

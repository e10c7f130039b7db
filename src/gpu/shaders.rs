//! The WGSL sources, compiled into the binary.
//!
//! `activations.wgsl` declares functions only, and is prepended at compile time to the
//! kernels that fuse an activation.

/// Activation functions and their derivatives, without entry points.
pub const ACTIVATIONS: &str = include_str!("../../shaders/activations.wgsl");

/// Matrix products with fused epilogues: the blocked, tiled and naive kernels.
pub const MATMUL: &str = concat!(
    include_str!("../../shaders/activations.wgsl"),
    include_str!("../../shaders/matmul_common.wgsl"),
    include_str!("../../shaders/matmul.wgsl")
);

/// The matmul kernel that shares loads through subgroup broadcasts; it needs
/// `wgpu::Features::SUBGROUP`, so it is a module of its own.
pub const MATMUL_SUBGROUP: &str = concat!(
    include_str!("../../shaders/activations.wgsl"),
    include_str!("../../shaders/matmul_common.wgsl"),
    include_str!("../../shaders/matmul_subgroup.wgsl")
);

/// Element-wise activation forward and backward.
pub const ELEMENTWISE: &str = concat!(
    include_str!("../../shaders/activations.wgsl"),
    include_str!("../../shaders/elementwise.wgsl")
);

/// Losses, their gradients and the epoch's running totals.
pub const LOSSES: &str = include_str!("../../shaders/losses.wgsl");

/// Row-wise softmax and its backward pass.
pub const SOFTMAX: &str = include_str!("../../shaders/softmax.wgsl");

/// Column sums, the bias gradient.
pub const COLUMN_SUM: &str = include_str!("../../shaders/column_sum.wgsl");

/// SGD and Adam updates.
pub const OPTIMIZERS: &str = include_str!("../../shaders/optimizers.wgsl");

/// Every complete shader module that needs no optional feature, with its file name, for
/// validation.
pub const ALL: &[(&str, &str)] = &[
    ("matmul.wgsl", MATMUL),
    ("elementwise.wgsl", ELEMENTWISE),
    ("losses.wgsl", LOSSES),
    ("softmax.wgsl", SOFTMAX),
    ("column_sum.wgsl", COLUMN_SUM),
    ("optimizers.wgsl", OPTIMIZERS),
];

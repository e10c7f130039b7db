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

/// Softmax cross-entropy loss, its gradient and the epoch's running totals.
pub const SOFTMAX_CROSS_ENTROPY: &str = include_str!("../../shaders/softmax_cross_entropy.wgsl");

/// Column sums, the bias gradient.
pub const COLUMN_SUM: &str = include_str!("../../shaders/column_sum.wgsl");

/// SGD with momentum and weight decay.
pub const SGD: &str = include_str!("../../shaders/sgd.wgsl");

/// Every complete shader module that needs no optional feature, with its file name, for
/// validation.
pub const ALL: &[(&str, &str)] = &[
    ("matmul.wgsl", MATMUL),
    ("elementwise.wgsl", ELEMENTWISE),
    ("softmax_cross_entropy.wgsl", SOFTMAX_CROSS_ENTROPY),
    ("column_sum.wgsl", COLUMN_SUM),
    ("sgd.wgsl", SGD),
];

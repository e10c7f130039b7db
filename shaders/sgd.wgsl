// Stochastic gradient descent with momentum and weight decay, in PyTorch's convention:
//   g = grad + weight_decay · param
//   v = momentum · v + g
//   param -= lr · (g + momentum · v)   with Nesterov momentum
//   param -= lr · v                    otherwise
// grad, param and velocity are flat arrays of `len` elements.

// Mirrors `SgdParams` in src/gpu/kernels/sgd.rs.
struct SgdParams {
    len: u32,
    learning_rate: f32,
    momentum: f32,
    weight_decay: f32,
    // 1 for Nesterov momentum, 0 for classical momentum.
    nesterov: u32,
    _padding0: u32,
    _padding1: u32,
    _padding2: u32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<uniform> params: SgdParams;

@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Arrays past 65,535 workgroups continue along y.
    let i = id.x + id.y * groups.x * WORKGROUP_SIZE;
    if (i >= params.len) {
        return;
    }
    let g = grad[i] + params.weight_decay * param[i];
    let v = params.momentum * velocity[i] + g;
    velocity[i] = v;
    var step = v;
    if (params.nesterov != 0u) {
        step = g + params.momentum * v;
    }
    param[i] = param[i] - params.learning_rate * step;
}

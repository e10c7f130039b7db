// Element-wise activation and its derivative over flat arrays of `len` elements.
//   activation_forward:  y = act(x)
//   activation_backward: dx = dy ⊙ act'(y), with y the forward output (GELU: its input)
// The activation functions come from activations.wgsl, which the launcher prepends.

// Mirrors `ElementwiseParams` in src/gpu/kernels/elementwise.rs.
struct ElementwiseParams {
    len: u32,
    slope: f32,
    _padding0: u32,
    _padding1: u32,
}

override WORKGROUP_SIZE: u32 = 256u;
override ACTIVATION: u32 = 0u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
// Only activation_backward reads it: the upstream gradient dy.
@group(0) @binding(1) var<storage, read> upstream: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<uniform> params: ElementwiseParams;

fn flat_index(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    // Arrays past 65,535 workgroups continue along y.
    return id.x + id.y * groups.x * WORKGROUP_SIZE;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_forward(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = flat_index(id, groups);
    if (i >= params.len) {
        return;
    }
    output[i] = activate(ACTIVATION, input[i], params.slope);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_backward(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = flat_index(id, groups);
    if (i >= params.len) {
        return;
    }
    output[i] = upstream[i] * activation_grad(ACTIVATION, input[i], params.slope);
}

// Optimizer updates over flat parameter arrays, 4 elements per invocation. Every tensor
// is allocated in whole multiples of 16 bytes and its padding is zero, where a zero
// gradient leaves zero parameters and state, so the last vec4 needs no bounds check
// beyond the array's end.
//
// sgd, in PyTorch's convention:
//   g = grad + weight_decay · param;  v = momentum · v + g
//   param -= lr · (g + momentum · v)   with Nesterov momentum, else  param -= lr · v
// adam (Kingma and Ba, 2015), and AdamW (Loshchilov and Hutter, 2019) when
// DECOUPLED_WEIGHT_DECAY is set:
//   Adam:  g = grad + weight_decay · param
//   AdamW: param -= lr · weight_decay · param, then g = grad
//   m = β1 m + (1 - β1) g;  v = β2 v + (1 - β2) g²
//   param -= lr · (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + ε)
// The learning rate and the bias corrections change every step, so they are read from
// a small storage buffer written before each step rather than from the uniform.

// Mirrors `OptimizerParams` in src/gpu/kernels/optimizer.rs.
struct OptimizerParams {
    // Number of vec4 groups to update.
    groups: u32,
    // SGD: momentum factor. Adam: β1.
    momentum: f32,
    // Adam: β2; unused by SGD.
    beta2: f32,
    // Adam: ε; unused by SGD.
    epsilon: f32,
    weight_decay: f32,
    // SGD: 1 for Nesterov momentum. Adam: 1 for decoupled weight decay (AdamW).
    variant: u32,
    _padding0: u32,
    _padding1: u32,
}

// Mirrors `StepState` in src/gpu/kernels/optimizer.rs.
struct StepState {
    learning_rate: f32,
    // 1 - β1^t and 1 - β2^t for step t, counted from 1.
    bias_correction1: f32,
    bias_correction2: f32,
    _padding: f32,
}

override WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> state: StepState;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
// SGD: the velocity. Adam: the first moment m.
@group(0) @binding(3) var<storage, read_write> moment1: array<vec4<f32>>;
// Adam: the second moment v; unused by SGD.
@group(0) @binding(4) var<storage, read_write> moment2: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> params: OptimizerParams;

fn group_index(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    // Arrays past 65,535 workgroups continue along y.
    return id.x + id.y * groups.x * WORKGROUP_SIZE;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = group_index(id, groups);
    if (i >= params.groups) {
        return;
    }
    let p = param[i];
    let g = grad[i] + params.weight_decay * p;
    let v = params.momentum * moment1[i] + g;
    moment1[i] = v;
    var step = v;
    if (params.variant != 0u) {
        step = g + params.momentum * v;
    }
    param[i] = p - state.learning_rate * step;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn adam(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = group_index(id, groups);
    if (i >= params.groups) {
        return;
    }
    let lr = state.learning_rate;
    var p = param[i];
    var g = grad[i];
    if (params.variant != 0u) {
        p -= lr * params.weight_decay * p;
    } else {
        g += params.weight_decay * p;
    }
    let beta1 = params.momentum;
    let m = beta1 * moment1[i] + (1.0 - beta1) * g;
    let v = params.beta2 * moment2[i] + (1.0 - params.beta2) * g * g;
    moment1[i] = m;
    moment2[i] = v;
    let m_hat = m / state.bias_correction1;
    let v_hat = v / state.bias_correction2;
    param[i] = p - lr * m_hat / (sqrt(v_hat) + params.epsilon);
}

// Row-wise softmax and its backward pass, one workgroup per row, so rows of any width
// reduce in parallel.
//   softmax_forward:  y[r, j] = exp(x[r, j] - max_r) / Σ_i exp(x[r, i] - max_r)
//   softmax_backward: dx[r, j] = y[r, j] · (dy[r, j] - Σ_i dy[r, i] · y[r, i])
// Subtracting the row's own maximum, which may be negative, keeps exp in range for any
// finite input: rows [1000, 1000] and [-10000, -10000] both give [0.5, 0.5].

// Mirrors `SoftmaxParams` in src/gpu/kernels/softmax.rs.
struct SoftmaxParams {
    rows: u32,
    cols: u32,
    _padding0: u32,
    _padding1: u32,
}

const WORKGROUP_SIZE: u32 = 64u;

// x for the forward pass, y for the backward pass.
@group(0) @binding(0) var<storage, read> input: array<f32>;
// dy, read by the backward pass only.
@group(0) @binding(1) var<storage, read> upstream: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<uniform> params: SoftmaxParams;

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;

fn reduce_max(lane: u32, value: f32) -> f32 {
    partial[lane] = value;
    workgroupBarrier();
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial[lane] = max(partial[lane], partial[lane + stride]);
        }
        workgroupBarrier();
    }
    let result = partial[0];
    workgroupBarrier();
    return result;
}

fn reduce_sum(lane: u32, value: f32) -> f32 {
    partial[lane] = value;
    workgroupBarrier();
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial[lane] += partial[lane + stride];
        }
        workgroupBarrier();
    }
    let result = partial[0];
    workgroupBarrier();
    return result;
}

// The row of a workgroup; rows past 65,535 workgroups continue along y.
fn row_of(workgroup: vec3<u32>, groups: vec3<u32>) -> u32 {
    return workgroup.x + workgroup.y * groups.x;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let row = row_of(workgroup, groups);
    // The whole workgroup shares the row, so this return keeps the barriers uniform.
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var local_max = -3.4028235e38;
    for (var j = lane; j < params.cols; j += WORKGROUP_SIZE) {
        local_max = max(local_max, input[base + j]);
    }
    let row_max = reduce_max(lane, local_max);
    var local_sum = 0.0;
    for (var j = lane; j < params.cols; j += WORKGROUP_SIZE) {
        local_sum += exp(input[base + j] - row_max);
    }
    let sum = reduce_sum(lane, local_sum);
    for (var j = lane; j < params.cols; j += WORKGROUP_SIZE) {
        output[base + j] = exp(input[base + j] - row_max) / sum;
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let row = row_of(workgroup, groups);
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var local_dot = 0.0;
    for (var j = lane; j < params.cols; j += WORKGROUP_SIZE) {
        local_dot += upstream[base + j] * input[base + j];
    }
    let dot = reduce_sum(lane, local_dot);
    for (var j = lane; j < params.cols; j += WORKGROUP_SIZE) {
        output[base + j] = input[base + j] * (upstream[base + j] - dot);
    }
}

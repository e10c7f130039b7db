// Losses with mean reduction and their gradients, each in one workgroup: invocations
// take every 256th row, then the workgroup sums the rows' losses into the epoch's
// running totals, so the loss never leaves the GPU until it is reported. A batch has at
// most a few thousand rows, so one workgroup costs little.
//   outputs [rows, cols]: the network's outputs (logits for the cross-entropies)
//   labels [rows] (u32):  class indices, for softmax_cross_entropy_labels
//   targets [rows, cols]: target values, for the other entry points
//   grad [rows, cols]:    written with d(mean loss)/d(outputs)
// A large batch may be split into chunks of rows, one dispatch each: `batch_rows` is
// the whole batch, and only the last chunk counts the batch in the totals.
//
// Per-row losses, averaged over the `batch_rows` rows:
//   softmax cross-entropy: ln Σ_j exp(z_j) - Σ_j t_j z_j   (t one-hot for labels)
//   mean squared error:    Σ_j (y_j - t_j)² / cols
//   binary cross-entropy:  Σ_j [max(z_j, 0) - z_j t_j + ln(1 + exp(-|z_j|))] / cols

// Mirrors `LossParams` in src/gpu/kernels/loss.rs.
struct LossParams {
    // Rows in this dispatch.
    rows: u32,
    cols: u32,
    // Rows of the whole batch, which the mean divides by.
    batch_rows: u32,
    // 1 if this dispatch ends a batch, so the totals count one more batch.
    ends_batch: u32,
}

// Mirrors `LossTotals` in src/gpu/kernels/loss.rs: running sums over an epoch.
struct LossTotals {
    // Sum of the per-row losses.
    loss_sum: f32,
    // Rows classified correctly (fractions of a row for binary cross-entropy).
    correct: f32,
    // Batches recorded so far.
    batches: f32,
    // Index of the first batch whose loss was NaN or infinite, or -1.
    first_non_finite: f32,
}

const WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<storage, read> outputs: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> totals: LossTotals;
@group(0) @binding(5) var<uniform> params: LossParams;

var<workgroup> partial_loss: array<f32, WORKGROUP_SIZE>;
var<workgroup> partial_correct: array<f32, WORKGROUP_SIZE>;

// WGSL has no isnan or isinf, and drivers may fold `x != x` away, so test the exponent
// bits: all ones means infinity or NaN.
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn grad_scale() -> f32 {
    return 1.0 / f32(params.batch_rows);
}

// Index of the largest of `cols` values starting at `base` in `outputs`.
fn arg_max_output(base: u32) -> u32 {
    var best = 0u;
    for (var j = 1u; j < params.cols; j++) {
        if (outputs[base + j] > outputs[base + best]) {
            best = j;
        }
    }
    return best;
}

// Target weight t_j of a row: one-hot of its label, or the given targets.
fn target_of(base: u32, j: u32, use_labels: bool, label: u32) -> f32 {
    if (use_labels) {
        return select(0.0, 1.0, j == label);
    }
    return targets[base + j];
}

// Writes one row's softmax cross-entropy gradient and returns (loss, correct), against
// its label when `use_labels` is set, else against its row of `targets`.
fn softmax_row(row: u32, use_labels: bool) -> vec2<f32> {
    let base = row * params.cols;
    var label = 0u;
    if (use_labels) {
        // Labels are validated on upload; the clamp only keeps a bad one in bounds.
        label = min(labels[row], params.cols - 1u);
    }
    let arg_max = arg_max_output(base);
    let row_max = outputs[base + arg_max];
    var sum = 0.0;
    var target_total = 0.0;
    var target_dot = 0.0;
    var target_arg_max = 0u;
    var best_target = target_of(base, 0u, use_labels, label);
    for (var j = 0u; j < params.cols; j++) {
        let shifted = outputs[base + j] - row_max;
        let t = target_of(base, j, use_labels, label);
        sum += exp(shifted);
        target_total += t;
        target_dot += t * shifted;
        if (t > best_target) {
            best_target = t;
            target_arg_max = j;
        }
    }
    for (var j = 0u; j < params.cols; j++) {
        let p = exp(outputs[base + j] - row_max) / sum;
        // d/dz_j of (ln Σ exp(z) · Σt - Σ t z) is p_j · Σt - t_j: p - t for a label.
        let t = target_of(base, j, use_labels, label);
        grad[base + j] = (p * target_total - t) * grad_scale();
    }
    // ln Σ exp(z - max) · Σt - Σ t (z - max): with logits near 1e8 the unshifted form
    // (max + ln sum) - z_label would round ln(sum) away.
    let loss = log(sum) * target_total - target_dot;
    return vec2(loss, select(0.0, 1.0, arg_max == target_arg_max));
}

fn squared_error_row(row: u32) -> vec2<f32> {
    let base = row * params.cols;
    let scale = 2.0 * grad_scale() / f32(params.cols);
    var sum = 0.0;
    for (var j = 0u; j < params.cols; j++) {
        let diff = outputs[base + j] - targets[base + j];
        sum += diff * diff;
        grad[base + j] = scale * diff;
    }
    return vec2(sum / f32(params.cols), 0.0);
}

// Splitting on the sign keeps exp's argument non-positive, so it never overflows.
fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

fn binary_cross_entropy_row(row: u32) -> vec2<f32> {
    let base = row * params.cols;
    let scale = grad_scale() / f32(params.cols);
    var sum = 0.0;
    var correct = 0.0;
    for (var j = 0u; j < params.cols; j++) {
        let z = outputs[base + j];
        let t = targets[base + j];
        sum += max(z, 0.0) - z * t + log(1.0 + exp(-abs(z)));
        grad[base + j] = scale * (sigmoid(z) - t);
        correct += select(0.0, 1.0, (z > 0.0) == (t > 0.5));
    }
    let cols = f32(params.cols);
    return vec2(sum / cols, correct / cols);
}

// Sums each invocation's (loss, correct) over the workgroup and adds them to the totals.
fn reduce_into_totals(lane: u32, mine: vec2<f32>) {
    partial_loss[lane] = mine.x;
    partial_correct[lane] = mine.y;
    workgroupBarrier();
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_loss[lane] += partial_loss[lane + stride];
            partial_correct[lane] += partial_correct[lane + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        let chunk_loss = partial_loss[0];
        if (!is_finite(chunk_loss) && totals.first_non_finite < 0.0) {
            totals.first_non_finite = totals.batches;
        }
        totals.loss_sum += chunk_loss;
        totals.correct += partial_correct[0];
        totals.batches += f32(params.ends_batch);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_cross_entropy_labels(@builtin(local_invocation_index) lane: u32) {
    var acc = vec2(0.0);
    for (var row = lane; row < params.rows; row += WORKGROUP_SIZE) {
        acc += softmax_row(row, true);
    }
    reduce_into_totals(lane, acc);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_cross_entropy_targets(@builtin(local_invocation_index) lane: u32) {
    var acc = vec2(0.0);
    for (var row = lane; row < params.rows; row += WORKGROUP_SIZE) {
        acc += softmax_row(row, false);
    }
    reduce_into_totals(lane, acc);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn mean_squared_error(@builtin(local_invocation_index) lane: u32) {
    var acc = vec2(0.0);
    for (var row = lane; row < params.rows; row += WORKGROUP_SIZE) {
        acc += squared_error_row(row);
    }
    reduce_into_totals(lane, acc);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary_cross_entropy_with_logits(@builtin(local_invocation_index) lane: u32) {
    var acc = vec2(0.0);
    for (var row = lane; row < params.rows; row += WORKGROUP_SIZE) {
        acc += binary_cross_entropy_row(row);
    }
    reduce_into_totals(lane, acc);
}

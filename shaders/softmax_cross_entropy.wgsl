// Softmax cross-entropy with integer labels, mean-reduced over the batch, in one
// workgroup: each invocation handles every 256th row, then the workgroup sums the
// per-row losses into the epoch's running totals. The batch is at most a few thousand
// rows of a few classes, so one workgroup keeps the loss on the GPU at negligible cost.
//   logits [rows, classes], labels [rows] (u32), grad [rows, classes]

// Mirrors `SoftmaxCrossEntropyParams` in src/gpu/kernels/loss.rs.
struct SoftmaxCrossEntropyParams {
    rows: u32,
    classes: u32,
    // Factor applied to the gradient: 1 / rows for the mean over the batch.
    grad_scale: f32,
    _padding: u32,
}

// Mirrors `LossTotals` in src/gpu/kernels/loss.rs: running sums over an epoch.
struct LossTotals {
    // Sum of the per-row losses.
    loss_sum: f32,
    // Rows whose largest logit is at their label.
    correct: f32,
    // Batches recorded so far.
    batches: f32,
    // Index of the first batch whose loss was NaN or infinite, or -1.
    first_non_finite: f32,
}

const WORKGROUP_SIZE: u32 = 256u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> totals: LossTotals;
@group(0) @binding(4) var<uniform> params: SoftmaxCrossEntropyParams;

var<workgroup> partial_loss: array<f32, WORKGROUP_SIZE>;
var<workgroup> partial_correct: array<f32, WORKGROUP_SIZE>;

// WGSL has no isnan or isinf, and drivers may fold `x != x` away, so test the exponent
// bits: all ones means infinity or NaN.
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// Returns (loss, correct) for one row and writes the row's gradient.
fn row_loss(row: u32) -> vec2<f32> {
    let base = row * params.classes;
    // Labels are validated on upload; the clamp only keeps a bad one in bounds.
    let label = min(labels[row], params.classes - 1u);

    var row_max = logits[base];
    var arg_max = 0u;
    for (var j = 1u; j < params.classes; j++) {
        let z = logits[base + j];
        if (z > row_max) {
            row_max = z;
            arg_max = j;
        }
    }
    var sum = 0.0;
    for (var j = 0u; j < params.classes; j++) {
        sum += exp(logits[base + j] - row_max);
    }
    for (var j = 0u; j < params.classes; j++) {
        let p = exp(logits[base + j] - row_max) / sum;
        grad[base + j] = (p - select(0.0, 1.0, j == label)) * params.grad_scale;
    }
    // log(sum) - (z_label - max) rather than (max + log(sum)) - z_label: with logits
    // near 1e8 the second form rounds log(sum) away.
    let loss = log(sum) - (logits[base + label] - row_max);
    return vec2(loss, select(0.0, 1.0, arg_max == label));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_cross_entropy(@builtin(local_invocation_index) lane: u32) {
    var acc = vec2(0.0, 0.0);
    if (params.classes > 0u) {
        for (var row = lane; row < params.rows; row += WORKGROUP_SIZE) {
            acc += row_loss(row);
        }
    }
    partial_loss[lane] = acc.x;
    partial_correct[lane] = acc.y;
    workgroupBarrier();

    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_loss[lane] += partial_loss[lane + stride];
            partial_correct[lane] += partial_correct[lane + stride];
        }
        workgroupBarrier();
    }

    if (lane == 0u) {
        let batch_loss = partial_loss[0];
        if (!is_finite(batch_loss) && totals.first_non_finite < 0.0) {
            totals.first_non_finite = totals.batches;
        }
        totals.loss_sum += batch_loss;
        totals.correct += partial_correct[0];
        totals.batches += 1.0;
    }
}

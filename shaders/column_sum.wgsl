// Column sums: out[j] = Σ_i x[i, j], the bias gradient of a dense layer, or
// out[j] += Σ_i x[i, j] to sum a batch split into chunks.
//   x [rows, cols] row-major, out [cols]
// One invocation per column; neighbouring invocations read neighbouring addresses.

// Mirrors `ColumnSumParams` in src/gpu/kernels/column_sum.rs.
struct ColumnSumParams {
    rows: u32,
    cols: u32,
    // 1 to add the sums to `out`, 0 to overwrite it.
    accumulate: u32,
    _padding: u32,
}

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: ColumnSumParams;

@compute @workgroup_size(WORKGROUP_SIZE)
fn column_sum(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let col = id.x + id.y * groups.x * WORKGROUP_SIZE;
    if (col >= params.cols) {
        return;
    }
    // Starting from the old value adds in the same order as the CPU reference.
    var sum = 0.0;
    if (params.accumulate != 0u) {
        sum = out[col];
    }
    for (var row = 0u; row < params.rows; row++) {
        sum += x[row * params.cols + col];
    }
    out[col] = sum;
}

// Matmul kernels that need no optional feature. Appended to activations.wgsl and
// matmul_common.wgsl.
//   matmul_blocked: each invocation computes 8 rows × 4 columns in registers, loading runs
//                   of 4 as vec4 where aligned; fastest where workgroup memory is ordinary
//                   memory, as on CPU adapters without subgroups.
//   matmul_tiled:   a 16×16 workgroup stages 64×16 tiles of A and B in workgroup memory
//                   and each invocation computes 4×4 outputs; for discrete GPUs.
//   matmul_naive:   one output per invocation; the reference the others are measured by.

// A[row0 + i, k0 .. k0 + 4] for i in 0..8: each invocation loads every row itself.
fn load_a_rows(row0: u32, k0: u32, lane: u32) -> RowsOfA {
    if (!TRANSPOSE_A) {
        let mask = k_mask4(k0);
        let last = params.m - 1u;
        return RowsOfA(
            load_a_run(min(row0, last), k0) * mask,
            load_a_run(min(row0 + 1u, last), k0) * mask,
            load_a_run(min(row0 + 2u, last), k0) * mask,
            load_a_run(min(row0 + 3u, last), k0) * mask,
            load_a_run(min(row0 + 4u, last), k0) * mask,
            load_a_run(min(row0 + 5u, last), k0) * mask,
            load_a_run(min(row0 + 6u, last), k0) * mask,
            load_a_run(min(row0 + 7u, last), k0) * mask,
        );
    }
    let upper = row0 + 4u;
    return transpose_runs(
        load_a_run(row0, k0) * k_mask(k0),
        load_a_run(upper, k0) * k_mask(k0),
        load_a_run(row0, k0 + 1u) * k_mask(k0 + 1u),
        load_a_run(upper, k0 + 1u) * k_mask(k0 + 1u),
        load_a_run(row0, k0 + 2u) * k_mask(k0 + 2u),
        load_a_run(upper, k0 + 2u) * k_mask(k0 + 2u),
        load_a_run(row0, k0 + 3u) * k_mask(k0 + 3u),
        load_a_run(upper, k0 + 3u) * k_mask(k0 + 3u),
    );
}

@compute @workgroup_size(WORKGROUP_X)
fn matmul_blocked(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let block = block_of(workgroup, groups, local.x);
    if (block.x >= params.m) {
        return;
    }
    compute_block(block.x, block.y, 0u);
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn matmul_naive(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Rows past 65,535 workgroups continue along z.
    let row = id.y + id.z * groups.y * WORKGROUP_Y;
    let col = id.x;
    if (row >= params.m || col >= params.n) {
        return;
    }
    var sum = 0.0;
    for (var kk = 0u; kk < params.k; kk++) {
        sum = fma(load_a(row, kk), load_b(kk, col), sum);
    }
    finish(row, col, sum);
}

// Output tile of a workgroup in the tiled kernel, and the reduction step staged at once.
const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
const TILE_THREADS: u32 = 256u;

// tile_a[kk * TILE + r] = A[row_base + r, k0 + kk]; tile_b[kk * TILE + c] likewise for B.
var<workgroup> tile_a: array<f32, TILE_K * TILE>;
var<workgroup> tile_b: array<f32, TILE_K * TILE>;

// Stages element `e` of each tile, zero past the edges. Neighbouring invocations read
// neighbouring addresses of the operand's contiguous dimension, which GPUs coalesce.
fn stage_tiles(e: u32, row_base: u32, col_base: u32, k0: u32) {
    var kk: u32;
    var r: u32;
    if (TRANSPOSE_A) {
        kk = e / TILE;
        r = e % TILE;
    } else {
        kk = e % TILE_K;
        r = e / TILE_K;
    }
    let row = row_base + r;
    let a_in = row < params.m && k0 + kk < params.k;
    let a_value = load_a(min(row, params.m - 1u), min(k0 + kk, params.k - 1u));
    tile_a[kk * TILE + r] = select(0.0, a_value, a_in);

    var kb: u32;
    var cb: u32;
    if (TRANSPOSE_B) {
        kb = e % TILE_K;
        cb = e / TILE_K;
    } else {
        kb = e / TILE;
        cb = e % TILE;
    }
    let col = col_base + cb;
    let b_in = col < params.n && k0 + kb < params.k;
    let b_value = load_b(min(k0 + kb, params.k - 1u), min(col, params.n - 1u));
    tile_b[kb * TILE + cb] = select(0.0, b_value, b_in);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
    @builtin(local_invocation_index) flat: u32,
) {
    let row_base = (workgroup.y + workgroup.z * groups.y) * TILE;
    let col_base = workgroup.x * TILE;
    // acc[i][j] accumulates C[row_base + 4·local.y + i, col_base + 4·local.x + j].
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        for (var step = 0u; step < TILE_K * TILE / TILE_THREADS; step++) {
            stage_tiles(flat + step * TILE_THREADS, row_base, col_base, k0);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let a_base = kk * TILE + local.y * 4u;
            let b_base = kk * TILE + local.x * 4u;
            let bv = vec4(tile_b[b_base], tile_b[b_base + 1u], tile_b[b_base + 2u], tile_b[b_base + 3u]);
            for (var i = 0u; i < 4u; i++) {
                acc[i] = fma(vec4(tile_a[a_base + i]), bv, acc[i]);
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row_base + local.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let col = col_base + local.x * 4u + j;
            if (row < params.m && col < params.n) {
                finish(row, col, acc[i][j]);
            }
        }
    }
}

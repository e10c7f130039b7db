// Matmul kernel for adapters with subgroups of at least 8 invocations, appended to
// activations.wgsl and matmul_common.wgsl.
//   matmul_subgroup: like matmul_blocked, each invocation computes 8 rows × 4 columns,
//                    but the 8 rows of A are loaded once per subgroup, one run per lane,
//                    and shared with subgroupBroadcast. On lavapipe, where every storage
//                    load costs a loop over the SIMD lanes, this cuts the loads per
//                    multiply-add about threefold.
// Every lane of a subgroup shares the workgroup's row block, so lanes past the edge
// still take part in the broadcasts, with clamped indices.

fn load_a_rows(row0: u32, k0: u32, lane: u32) -> RowsOfA {
    // Subgroups larger than 8 repeat the first 8 lanes' loads.
    let slot = lane % 8u;
    var mine: vec4<f32>;
    if (!TRANSPOSE_A) {
        // Lane `slot` loads A[row0 + slot, k0 .. k0 + 4].
        mine = load_a_run(min(row0 + slot, params.m - 1u), k0) * k_mask4(k0);
    } else {
        // Lane `slot` loads rows row0 + 4·(slot % 2) .. + 4 at reduction index
        // k0 + slot / 2, the order `transpose_runs` takes.
        let kk = k0 + slot / 2u;
        mine = load_a_run(row0 + 4u * (slot % 2u), kk) * k_mask(kk);
    }
    // subgroupBroadcast takes a constant lane, so the 8 broadcasts are written out.
    let s0 = subgroupBroadcast(mine, 0u);
    let s1 = subgroupBroadcast(mine, 1u);
    let s2 = subgroupBroadcast(mine, 2u);
    let s3 = subgroupBroadcast(mine, 3u);
    let s4 = subgroupBroadcast(mine, 4u);
    let s5 = subgroupBroadcast(mine, 5u);
    let s6 = subgroupBroadcast(mine, 6u);
    let s7 = subgroupBroadcast(mine, 7u);
    if (!TRANSPOSE_A) {
        return RowsOfA(s0, s1, s2, s3, s4, s5, s6, s7);
    }
    return transpose_runs(s0, s1, s2, s3, s4, s5, s6, s7);
}

@compute @workgroup_size(WORKGROUP_X)
fn matmul_subgroup(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let block = block_of(workgroup, groups, local.x);
    // The whole workgroup shares the row block, so this return keeps subgroups whole.
    if (block.x >= params.m) {
        return;
    }
    compute_block(block.x, block.y, lane);
}

// Matrix product C = op(A) · op(B) with a fused epilogue: declarations and helpers shared
// by every matmul kernel. A dense layer uses three forms:
//   forward         Y  = act(X · W + bias)       X [m, k], W [k, n], Y [m, n]
//   weight gradient dW = Xᵀ · dZ                  X [k, m] read transposed, dZ [k, n]
//   input gradient  dX = (dZ · Wᵀ) ⊙ act'(aux)   dZ [m, k], W [n, k] read transposed
// Every matrix is row-major f32. Transposed operands are indexed in place, never copied.
// The launcher prepends activations.wgsl and appends one kernel file, which defines
// `load_a_rows` and the entry points.

// Mirrors `MatmulParams` in src/gpu/kernels/matmul.rs.
struct MatmulParams {
    // Rows of C and of op(A).
    m: u32,
    // Columns of C and of op(B).
    n: u32,
    // Columns of op(A), rows of op(B): the reduction length.
    k: u32,
    // Negative slope of leaky ReLU; unused by other activations.
    slope: f32,
}

// Workgroup size in invocations; the launcher sets it per adapter type and kernel.
override WORKGROUP_X: u32 = 32u;
override WORKGROUP_Y: u32 = 1u;
// Whether A is stored as [k, m] and B as [n, k] instead of [m, k] and [k, n].
override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
// Whether the contiguous dimension of A (k, or m when transposed) and of B (n, or k
// when transposed) is a multiple of 4, so that runs of 4 can be loaded as one vec4.
override VECTOR_A: bool = false;
override VECTOR_B: bool = false;
// 0: store the product. 1: add bias[n] and apply ACTIVATION, storing the sum in `pre`
// when STORE_PRE is set. 2: multiply by the derivative of ACTIVATION at aux[m, n].
// 3: add the product to C, to sum a product over several dispatches.
override EPILOGUE: u32 = 0u;
override ACTIVATION: u32 = 0u;
override STORE_PRE: bool = false;

const EPILOGUE_STORE: u32 = 0u;
const EPILOGUE_BIAS_ACTIVATION: u32 = 1u;
const EPILOGUE_ACTIVATION_GRAD: u32 = 2u;
const EPILOGUE_ACCUMULATE: u32 = 3u;

// Rows of C per subgroup or invocation in the blocked kernels; each invocation owns 4
// consecutive columns of those rows.
const BLOCK_ROWS: u32 = 8u;

// A and B are bound twice, as scalars and as vec4, so each load can use the wider form
// where alignment allows.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
// bias [n] for epilogue 1, the derivative's input [m, n] for epilogue 2, else unused.
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;
// Pre-activation [m, n], written only when STORE_PRE is set.
@group(0) @binding(6) var<storage, read_write> pre: array<f32>;
@group(0) @binding(7) var<uniform> params: MatmulParams;

// A[row, kk] of op(A); the caller keeps both indices in bounds.
fn load_a(row: u32, kk: u32) -> f32 {
    if (TRANSPOSE_A) {
        return a[kk * params.m + row];
    }
    return a[row * params.k + kk];
}

// B[kk, col] of op(B); the caller keeps both indices in bounds.
fn load_b(kk: u32, col: u32) -> f32 {
    if (TRANSPOSE_B) {
        return b[col * params.k + kk];
    }
    return b[kk * params.n + col];
}

// Applies the epilogue to C[row, col] = value and stores it.
fn finish(row: u32, col: u32, value: f32) {
    let index = row * params.n + col;
    var result = value;
    if (EPILOGUE == EPILOGUE_BIAS_ACTIVATION) {
        let z = value + aux[col];
        if (STORE_PRE) {
            pre[index] = z;
        }
        result = activate(ACTIVATION, z, params.slope);
    } else if (EPILOGUE == EPILOGUE_ACTIVATION_GRAD) {
        result = value * activation_grad(ACTIVATION, aux[index], params.slope);
    } else if (EPILOGUE == EPILOGUE_ACCUMULATE) {
        result = c[index] + value;
    }
    c[index] = result;
}

// 1 where reduction index kk exists, 0 past the end, to cancel the padding of the last
// group of 4 when k is not a multiple of 4.
fn k_mask(kk: u32) -> f32 {
    return select(0.0, 1.0, kk < params.k);
}

// Rows row0 .. row0 + 8 of A at reduction indices k0 .. k0 + 4, one vec4 per row. Named
// fields rather than an array, and straight-line code throughout the blocked kernels,
// because a driver may keep an array that is indexed in a loop in memory rather than in
// registers; on lavapipe that made the kernel seven times slower.
struct RowsOfA {
    r0: vec4<f32>,
    r1: vec4<f32>,
    r2: vec4<f32>,
    r3: vec4<f32>,
    r4: vec4<f32>,
    r5: vec4<f32>,
    r6: vec4<f32>,
    r7: vec4<f32>,
}

// 1 for each of the reduction indices k0 .. k0 + 4 that exists, 0 past the end.
fn k_mask4(k0: u32) -> vec4<f32> {
    return vec4(k_mask(k0), k_mask(k0 + 1u), k_mask(k0 + 2u), k_mask(k0 + 3u));
}

// B[kk, col0 .. col0 + 4] with B stored [k, n]; columns past n repeat the last one.
fn load_b_row(kk: u32, col0: u32) -> vec4<f32> {
    let row = min(kk, params.k - 1u);
    if (VECTOR_B) {
        return b4[(row * params.n + min(col0, params.n - 4u)) / 4u];
    }
    let last_col = params.n - 1u;
    return vec4(
        load_b(row, min(col0, last_col)),
        load_b(row, min(col0 + 1u, last_col)),
        load_b(row, min(col0 + 2u, last_col)),
        load_b(row, min(col0 + 3u, last_col)),
    );
}

// B[k0 .. k0 + 4, col] with B stored [n, k]; indices past the end are clamped.
fn load_b_column(col: u32, k0: u32) -> vec4<f32> {
    let column = min(col, params.n - 1u);
    if (VECTOR_B) {
        return b4[(column * params.k + k0) / 4u];
    }
    let last_k = params.k - 1u;
    return vec4(
        load_b(min(k0, last_k), column),
        load_b(min(k0 + 1u, last_k), column),
        load_b(min(k0 + 2u, last_k), column),
        load_b(min(k0 + 3u, last_k), column),
    );
}

// The 4 values of A that one lane loads for the blocked kernels: with A stored [m, k],
// A[row, k0 .. k0 + 4]; with A stored [k, m], A[row .. row + 4, k0] for the single
// reduction index k0. Indices past the end are clamped; the callers mask reduction
// indices past k.
fn load_a_run(row: u32, k0: u32) -> vec4<f32> {
    let last_k = params.k - 1u;
    if (!TRANSPOSE_A) {
        if (VECTOR_A) {
            return a4[(row * params.k + k0) / 4u];
        }
        return vec4(
            load_a(row, min(k0, last_k)),
            load_a(row, min(k0 + 1u, last_k)),
            load_a(row, min(k0 + 2u, last_k)),
            load_a(row, min(k0 + 3u, last_k)),
        );
    }
    // Here `row` is the first of 4 rows and `k0` a single reduction index.
    let kk = min(k0, last_k);
    if (VECTOR_A) {
        return a4[(kk * params.m + min(row, params.m - 4u)) / 4u];
    }
    let last_row = params.m - 1u;
    return vec4(
        load_a(min(row, last_row), kk),
        load_a(min(row + 1u, last_row), kk),
        load_a(min(row + 2u, last_row), kk),
        load_a(min(row + 3u, last_row), kk),
    );
}

// Rows of A from runs of 4 rows at single reduction indices, with A stored [k, m]:
// `sJH` holds rows row0 + 4H .. row0 + 4H + 4 at reduction index k0 + J.
fn transpose_runs(
    s00: vec4<f32>, s01: vec4<f32>, s10: vec4<f32>, s11: vec4<f32>,
    s20: vec4<f32>, s21: vec4<f32>, s30: vec4<f32>, s31: vec4<f32>,
) -> RowsOfA {
    return RowsOfA(
        vec4(s00.x, s10.x, s20.x, s30.x),
        vec4(s00.y, s10.y, s20.y, s30.y),
        vec4(s00.z, s10.z, s20.z, s30.z),
        vec4(s00.w, s10.w, s20.w, s30.w),
        vec4(s01.x, s11.x, s21.x, s31.x),
        vec4(s01.y, s11.y, s21.y, s31.y),
        vec4(s01.z, s11.z, s21.z, s31.z),
        vec4(s01.w, s11.w, s21.w, s31.w),
    );
}

// acc + Σ_i a[i] · b_i: one row of A's 4 reduction indices times 4 rows of B.
fn multiply_add(acc: vec4<f32>, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    return fma(vec4(a.w), b3, fma(vec4(a.z), b2, fma(vec4(a.y), b1, fma(vec4(a.x), b0, acc))));
}

// Applies the epilogue to C[row, col0 .. col0 + 4] = values, skipping what is past the
// edge.
fn finish_row(row: u32, col0: u32, values: vec4<f32>) {
    if (row >= params.m) {
        return;
    }
    if (col0 < params.n) {
        finish(row, col0, values.x);
    }
    if (col0 + 1u < params.n) {
        finish(row, col0 + 1u, values.y);
    }
    if (col0 + 2u < params.n) {
        finish(row, col0 + 2u, values.z);
    }
    if (col0 + 3u < params.n) {
        finish(row, col0 + 3u, values.w);
    }
}

// Computes C[row0 .. row0 + 8, 4·col4 .. 4·col4 + 4] and applies the epilogue. `lane` is
// the invocation's index within its subgroup, used by `load_a_rows`. Every invocation of a
// subgroup must call this with the same row0, because rows may be shared between lanes.
fn compute_block(row0: u32, col4: u32, lane: u32) {
    let col0 = col4 * 4u;
    var acc0 = vec4(0.0);
    var acc1 = vec4(0.0);
    var acc2 = vec4(0.0);
    var acc3 = vec4(0.0);
    var acc4 = vec4(0.0);
    var acc5 = vec4(0.0);
    var acc6 = vec4(0.0);
    var acc7 = vec4(0.0);
    let k_groups = (params.k + 3u) / 4u;
    for (var kq = 0u; kq < k_groups; kq++) {
        let k0 = kq * 4u;
        // b0 .. b3 hold B[k0 + i, col0 .. col0 + 4], zero past the end of k.
        var b0: vec4<f32>;
        var b1: vec4<f32>;
        var b2: vec4<f32>;
        var b3: vec4<f32>;
        if (TRANSPOSE_B) {
            let c0 = load_b_column(col0, k0);
            let c1 = load_b_column(col0 + 1u, k0);
            let c2 = load_b_column(col0 + 2u, k0);
            let c3 = load_b_column(col0 + 3u, k0);
            b0 = vec4(c0.x, c1.x, c2.x, c3.x);
            b1 = vec4(c0.y, c1.y, c2.y, c3.y);
            b2 = vec4(c0.z, c1.z, c2.z, c3.z);
            b3 = vec4(c0.w, c1.w, c2.w, c3.w);
        } else {
            b0 = load_b_row(k0, col0);
            b1 = load_b_row(k0 + 1u, col0);
            b2 = load_b_row(k0 + 2u, col0);
            b3 = load_b_row(k0 + 3u, col0);
        }
        b0 *= k_mask(k0);
        b1 *= k_mask(k0 + 1u);
        b2 *= k_mask(k0 + 2u);
        b3 *= k_mask(k0 + 3u);

        let a = load_a_rows(row0, k0, lane);
        acc0 = multiply_add(acc0, a.r0, b0, b1, b2, b3);
        acc1 = multiply_add(acc1, a.r1, b0, b1, b2, b3);
        acc2 = multiply_add(acc2, a.r2, b0, b1, b2, b3);
        acc3 = multiply_add(acc3, a.r3, b0, b1, b2, b3);
        acc4 = multiply_add(acc4, a.r4, b0, b1, b2, b3);
        acc5 = multiply_add(acc5, a.r5, b0, b1, b2, b3);
        acc6 = multiply_add(acc6, a.r6, b0, b1, b2, b3);
        acc7 = multiply_add(acc7, a.r7, b0, b1, b2, b3);
    }
    finish_row(row0, col0, acc0);
    finish_row(row0 + 1u, col0, acc1);
    finish_row(row0 + 2u, col0, acc2);
    finish_row(row0 + 3u, col0, acc3);
    finish_row(row0 + 4u, col0, acc4);
    finish_row(row0 + 5u, col0, acc5);
    finish_row(row0 + 6u, col0, acc6);
    finish_row(row0 + 7u, col0, acc7);
}

// The row block and column group of an invocation in the blocked kernels. Row blocks run
// along x, so consecutive workgroups reuse the same columns of B while they are in cache,
// and continue along z past 65,535 workgroups.
fn block_of(workgroup: vec3<u32>, groups: vec3<u32>, local_x: u32) -> vec2<u32> {
    let row_block = workgroup.x + workgroup.z * groups.x;
    let col4 = workgroup.y * WORKGROUP_X + local_x;
    return vec2(row_block * BLOCK_ROWS, col4);
}

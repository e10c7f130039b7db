// Matrix product C = op(A) · op(B) with a fused epilogue, for the three products of a
// dense layer:
//   forward         Y  = act(X · W + bias)       X [m, k], W [k, n], Y [m, n]
//   weight gradient dW = Xᵀ · dZ                  X [k, m] read transposed, dZ [k, n]
//   input gradient  dX = (dZ · Wᵀ) ⊙ act'(aux)   dZ [m, k], W [n, k] read transposed
// Every matrix is row-major f32. Transposed operands are indexed in place, never copied.
// The activation functions come from activations.wgsl, which the launcher prepends.

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

// Workgroup shape in invocations; the launcher sets it per adapter type.
override WORKGROUP_X: u32 = 8u;
override WORKGROUP_Y: u32 = 8u;
// Whether A is stored as [k, m] and B as [n, k] instead of [m, k] and [k, n].
override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
// 0: store the product. 1: add bias[n] and apply ACTIVATION, storing the sum in `pre`
// when STORE_PRE is set. 2: multiply by the derivative of ACTIVATION at aux[m, n].
override EPILOGUE: u32 = 0u;
override ACTIVATION: u32 = 0u;
override STORE_PRE: bool = false;

const EPILOGUE_NONE: u32 = 0u;
const EPILOGUE_BIAS_ACTIVATION: u32 = 1u;
const EPILOGUE_ACTIVATION_GRAD: u32 = 2u;

// Each invocation computes a 4×4 block of C in registers.
const BLOCK: u32 = 4u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
// bias [n] for epilogue 1, the derivative's input [m, n] for epilogue 2, else unused.
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// Pre-activation [m, n], written only when STORE_PRE is set.
@group(0) @binding(4) var<storage, read_write> pre: array<f32>;
@group(0) @binding(5) var<uniform> params: MatmulParams;

fn load_a(row: u32, kk: u32) -> f32 {
    if (TRANSPOSE_A) {
        return a[kk * params.m + row];
    }
    return a[row * params.k + kk];
}

fn load_b(kk: u32, col: u32) -> f32 {
    if (TRANSPOSE_B) {
        return b[col * params.k + kk];
    }
    return b[kk * params.n + col];
}

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
    }
    c[index] = result;
}

@compute @workgroup_size(WORKGROUP_X, WORKGROUP_Y)
fn matmul(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Row blocks past 65,535 workgroups continue along z.
    let row0 = (id.y + id.z * groups.y * WORKGROUP_Y) * BLOCK;
    let col0 = id.x * BLOCK;
    if (row0 >= params.m || col0 >= params.n) {
        return;
    }

    // Rows and columns past the edge are clamped to the last valid one, so every load
    // stays in bounds without a branch; their sums are computed but never stored.
    var rows: array<u32, 4>;
    var cols: array<u32, 4>;
    for (var i = 0u; i < BLOCK; i++) {
        rows[i] = min(row0 + i, params.m - 1u);
        cols[i] = min(col0 + i, params.n - 1u);
    }

    // acc[i][j] accumulates C[row0 + i, col0 + j].
    var acc: array<vec4<f32>, 4>;
    for (var kk = 0u; kk < params.k; kk++) {
        let bv = vec4(load_b(kk, cols[0]), load_b(kk, cols[1]), load_b(kk, cols[2]), load_b(kk, cols[3]));
        for (var i = 0u; i < BLOCK; i++) {
            acc[i] = fma(vec4(load_a(rows[i], kk)), bv, acc[i]);
        }
    }

    for (var i = 0u; i < BLOCK; i++) {
        let row = row0 + i;
        if (row >= params.m) {
            break;
        }
        for (var j = 0u; j < BLOCK; j++) {
            let col = col0 + j;
            if (col >= params.n) {
                break;
            }
            finish(row, col, acc[i][j]);
        }
    }
}

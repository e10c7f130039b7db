// Element-wise activations and their derivatives, shared by the kernels that fuse them.
// This file declares no bindings, so the launchers prepend it to a kernel's source.

// Activation ids. They mirror `Activation::shader_id` in src/model/activation.rs.
const ACT_IDENTITY: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;
const ACT_TANH: u32 = 4u;
const ACT_GELU: u32 = 5u;

// sqrt(2 / pi), the scale inside the tanh approximation of GELU.
const GELU_SCALE: f32 = 0.7978845608028654;
const GELU_CUBIC: f32 = 0.044715;

// Splitting on the sign keeps exp's argument non-positive, so it never overflows:
// sigmoid(-1000) is 0 and sigmoid(1000) is 1, never NaN.
fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// Some drivers evaluate tanh through exp(2x), which overflows to NaN past |x| = 44.
// tanh(10) already rounds to 1 in f32, so larger inputs return the sign directly.
fn stable_tanh(x: f32) -> f32 {
    if (abs(x) > 10.0) {
        return sign(x);
    }
    return tanh(x);
}

// GELU with the tanh approximation (Hendrycks and Gimpel, 2016):
// x/2 · (1 + tanh(u)) with u = sqrt(2/pi) · (x + 0.044715 x³), written as x · sigmoid(2u)
// because 1 + tanh(u) = 2 · sigmoid(2u) keeps its relative precision where tanh(u) is
// near -1.
fn gelu_inner(x: f32) -> f32 {
    return GELU_SCALE * (x + GELU_CUBIC * x * x * x);
}

fn gelu(x: f32) -> f32 {
    return x * sigmoid(2.0 * gelu_inner(x));
}

// d/dx [x · s(2u)] = s + 2x · s · (1 - s) · du/dx, with 1 - s computed as sigmoid(-2u)
// so that it keeps its precision where s is near 1.
fn gelu_grad(x: f32) -> f32 {
    // Past |x| = 10 the derivative is 0 or 1 to f32 precision, and x² could overflow.
    if (abs(x) > 10.0) {
        return select(0.0, 1.0, x > 0.0);
    }
    let u2 = 2.0 * gelu_inner(x);
    let s = sigmoid(u2);
    let dinner = GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x * x);
    return s + 2.0 * x * s * sigmoid(-u2) * dinner;
}

// Applies activation `kind` to the pre-activation `x`. `slope` is the negative slope
// of leaky ReLU and is ignored by the other activations.
fn activate(kind: u32, x: f32, slope: f32) -> f32 {
    switch kind {
        case ACT_RELU: {
            return max(x, 0.0);
        }
        case ACT_LEAKY_RELU: {
            return select(slope * x, x, x > 0.0);
        }
        case ACT_SIGMOID: {
            return sigmoid(x);
        }
        case ACT_TANH: {
            return stable_tanh(x);
        }
        case ACT_GELU: {
            return gelu(x);
        }
        default: {
            return x;
        }
    }
}

// Derivative of activation `kind`, computed from its output `y`, except for GELU whose
// derivative cannot be recovered from the output and takes the pre-activation instead.
// Leaky ReLU with a slope in [0, 1) keeps the sign of its input, so y > 0 iff x > 0.
fn activation_grad(kind: u32, y: f32, slope: f32) -> f32 {
    switch kind {
        case ACT_RELU: {
            return select(0.0, 1.0, y > 0.0);
        }
        case ACT_LEAKY_RELU: {
            return select(slope, 1.0, y > 0.0);
        }
        case ACT_SIGMOID: {
            return y * (1.0 - y);
        }
        case ACT_TANH: {
            return 1.0 - y * y;
        }
        case ACT_GELU: {
            return gelu_grad(y);
        }
        default: {
            return 1.0;
        }
    }
}

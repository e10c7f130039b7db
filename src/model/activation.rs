//! Element-wise activation functions.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An element-wise activation applied to a dense layer's output.
///
/// The same formulas run in WGSL (`shaders/activations.wgsl`) and on the CPU
/// ([`Activation::apply`]), and both are stable for every finite input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `f(x) = x`, for output layers whose loss applies its own link function.
    Identity,
    /// `f(x) = max(x, 0)`.
    Relu,
    /// `f(x) = x` for `x > 0`, else `slope · x`, with `slope` in `[0, 1)`.
    LeakyRelu {
        /// The slope for negative inputs.
        slope: f32,
    },
    /// `f(x) = 1 / (1 + e^-x)`.
    Sigmoid,
    /// `f(x) = tanh(x)`.
    Tanh,
    /// GELU with the tanh approximation of Hendrycks and Gimpel (2016),
    /// `f(x) = x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`, as PyTorch's
    /// `gelu(approximate="tanh")`.
    Gelu,
    /// Row-wise softmax, `f(x)_j = exp(x_j) / Σ_i exp(x_i)`, with the row's maximum
    /// subtracted first. Not element-wise, so the network applies it with a kernel of its
    /// own; [`Activation::apply`] and [`Activation::grad`] do not cover it.
    Softmax,
}

const GELU_SCALE: f32 = 0.797_884_6;
const GELU_CUBIC: f32 = 0.044_715;

impl Activation {
    /// The id that `shaders/activations.wgsl` uses for this activation.
    pub fn shader_id(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::LeakyRelu { .. } => 2,
            Activation::Sigmoid => 3,
            Activation::Tanh => 4,
            Activation::Gelu => 5,
            // The matmul epilogue leaves softmax to its own kernel.
            Activation::Softmax => 0,
        }
    }

    /// Whether a layer with this activation keeps its pre-activation: GELU for its
    /// derivative, softmax as the input of its row-wise kernel.
    pub fn keeps_pre_activation(self) -> bool {
        matches!(self, Activation::Gelu | Activation::Softmax)
    }

    /// Whether the activation acts on each element alone; only softmax does not.
    pub fn is_elementwise(self) -> bool {
        self != Activation::Softmax
    }

    /// The negative slope of leaky ReLU, 0 for every other activation.
    pub fn slope(self) -> f32 {
        match self {
            Activation::LeakyRelu { slope } => slope,
            _ => 0.0,
        }
    }

    /// Whether [`Activation::grad`] takes the pre-activation rather than the output.
    ///
    /// Only GELU needs it, because its output does not determine its input.
    pub fn grad_needs_pre_activation(self) -> bool {
        matches!(self, Activation::Gelu)
    }

    /// Checks the activation's parameters.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a leaky ReLU slope outside `[0, 1)`: a negative or
    /// larger slope would break the derivative's use of the output's sign.
    pub fn validate(self) -> Result<()> {
        let slope = self.slope();
        if !(0.0..1.0).contains(&slope) {
            return Err(Error::config(
                "leaky ReLU slope",
                slope,
                "must be in [0, 1), such as 0.01",
            ));
        }
        Ok(())
    }

    /// Applies the activation to the pre-activation `x`. Softmax, which needs the whole
    /// row, returns `x` unchanged; see [`Activation::is_elementwise`].
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => stable_tanh(x),
            Activation::Gelu => x * sigmoid(2.0 * gelu_inner(x)),
        }
    }

    /// The derivative, given the output `y` or, when
    /// [`Activation::grad_needs_pre_activation`] holds, the pre-activation. Softmax,
    /// which needs the whole row, returns 1; see [`Activation::is_elementwise`].
    pub fn grad(self, y: f32) -> f32 {
        match self {
            Activation::Identity | Activation::Softmax => 1.0,
            Activation::Relu => f32::from(y > 0.0),
            Activation::LeakyRelu { slope } => {
                if y > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Gelu => gelu_grad(y),
        }
    }
}

/// Splitting on the sign keeps `exp`'s argument non-positive, so it never overflows.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Matches the WGSL version, which returns the sign past |x| = 10, where tanh already
/// rounds to ±1 in f32.
fn stable_tanh(x: f32) -> f32 {
    if x.abs() > 10.0 { x.signum() } else { x.tanh() }
}

fn gelu_inner(x: f32) -> f32 {
    GELU_SCALE * (x + GELU_CUBIC * x * x * x)
}

/// The derivative of `x · sigmoid(2u)`, which equals GELU's `x/2 · (1 + tanh(u))` but
/// keeps its relative precision where `tanh(u)` is near -1. `1 - s` is computed as
/// `sigmoid(-2u)` for the same reason.
fn gelu_grad(x: f32) -> f32 {
    if x.abs() > 10.0 {
        return f32::from(x > 0.0);
    }
    let u2 = 2.0 * gelu_inner(x);
    let s = sigmoid(u2);
    let dinner = GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x * x);
    s + 2.0 * x * s * sigmoid(-u2) * dinner
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => write!(f, "identity"),
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu { slope } => write!(f, "leaky_relu:{slope}"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Gelu => write!(f, "gelu"),
            Activation::Softmax => write!(f, "softmax"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses `identity`, `relu`, `leaky_relu` (slope 0.01), `leaky_relu:SLOPE`,
    /// `sigmoid`, `tanh`, `gelu` or `softmax`.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || {
            Error::config(
                "activation",
                s,
                "expected identity, relu, leaky_relu, leaky_relu:SLOPE, sigmoid, tanh, gelu or \
                 softmax",
            )
        };
        let activation = match s.to_ascii_lowercase().as_str() {
            "identity" | "linear" => Activation::Identity,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { slope: 0.01 },
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            "softmax" => Activation::Softmax,
            other => {
                let slope = other
                    .strip_prefix("leaky_relu:")
                    .and_then(|slope| slope.parse().ok())
                    .ok_or_else(invalid)?;
                Activation::LeakyRelu { slope }
            }
        };
        activation.validate()?;
        Ok(activation)
    }
}

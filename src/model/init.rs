//! Initial parameters, drawn on the CPU from one seeded generator.

use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::{Error, Result};
use crate::model::{Activation, MlpSpec};

/// A weight initialization scheme, with `fan_in` and `fan_out` the layer's input and
/// output widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Glorot and Bengio (2010), "Understanding the difficulty of training deep
    /// feedforward neural networks": `U(-a, a)` with `a = √(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// Glorot and Bengio (2010): `N(0, σ²)` with `σ = √(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// He et al. (2015), "Delving deep into rectifiers": `U(-a, a)` with
    /// `a = √(6 / fan_in)`.
    HeUniform,
    /// He et al. (2015): `N(0, σ²)` with `σ = √(2 / fan_in)`.
    HeNormal,
}

impl Init {
    /// The usual scheme for a layer followed by `activation`: He for the ReLU family and
    /// GELU, Xavier otherwise.
    pub fn for_activation(activation: Activation) -> Init {
        match activation {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Gelu => Init::HeUniform,
            _ => Init::XavierUniform,
        }
    }

    /// The uniform bound `a`, or the normal standard deviation `σ`.
    pub fn scale(self, fan_in: usize, fan_out: usize) -> f64 {
        let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
        match self {
            Init::XavierUniform => (6.0 / (fan_in + fan_out)).sqrt(),
            Init::XavierNormal => (2.0 / (fan_in + fan_out)).sqrt(),
            Init::HeUniform => (6.0 / fan_in).sqrt(),
            Init::HeNormal => (2.0 / fan_in).sqrt(),
        }
    }

    /// Draws a `[fan_in, fan_out]` weight matrix, in row-major order, from `rng`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when either fan is 0.
    pub fn sample(self, fan_in: usize, fan_out: usize, rng: &mut StdRng) -> Result<Array2<f32>> {
        if fan_in == 0 || fan_out == 0 {
            return Err(Error::config(
                "layer shape",
                format!("[{fan_in}, {fan_out}]"),
                "both fans must be at least 1",
            ));
        }
        let scale = self.scale(fan_in, fan_out) as f32;
        let shape = (fan_in, fan_out);
        let weights = match self {
            Init::XavierUniform | Init::HeUniform => {
                let uniform = Uniform::new_inclusive(-scale, scale)
                    .expect("the bound is positive and finite");
                Array2::from_shape_simple_fn(shape, || uniform.sample(rng))
            }
            Init::XavierNormal | Init::HeNormal => {
                // rand_distr's Normal takes the standard deviation, not the variance.
                let normal = Normal::new(0.0, scale).expect("the deviation is positive and finite");
                Array2::from_shape_simple_fn(shape, || normal.sample(rng))
            }
        };
        Ok(weights)
    }
}

/// Parameters of one dense layer, on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseParams {
    /// Weights `[fan_in, fan_out]`, row-major, so `y = x · weight`. PyTorch's
    /// `nn.Linear` stores the transpose, `[out, in]`.
    pub weight: Array2<f32>,
    /// Biases `[fan_out]`.
    pub bias: Array1<f32>,
}

/// Parameters of a whole network, on the host, first layer first.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameters {
    /// One entry per layer.
    pub layers: Vec<DenseParams>,
}

impl Parameters {
    /// Draws initial parameters for `spec`: each layer's weights from the scheme that
    /// [`Init::for_activation`] picks, or from `init` when given, and zero biases.
    ///
    /// The weights are drawn from one generator seeded with `seed`, layer by layer in
    /// row-major order, so a seed gives the same numbers on every backend.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `spec` is invalid.
    pub fn init(spec: &MlpSpec, init: Option<Init>, seed: u64) -> Result<Self> {
        spec.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = spec
            .layers
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                let scheme = init.unwrap_or(Init::for_activation(layer.activation));
                Ok(DenseParams {
                    weight: scheme.sample(spec.fan_in(index), layer.width, &mut rng)?,
                    bias: Array1::zeros(layer.width),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Parameters { layers })
    }

    /// Checks that the parameters have the shapes `spec` describes and are finite.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong shape, [`Error::InvalidConfig`] for a
    /// missing or extra layer or a non-finite value.
    pub fn check(&self, spec: &MlpSpec) -> Result<()> {
        if self.layers.len() != spec.layers.len() {
            return Err(Error::config(
                "parameter layer count",
                self.layers.len(),
                format!("the network has {} layers", spec.layers.len()),
            ));
        }
        for (index, (params, layer)) in self.layers.iter().zip(&spec.layers).enumerate() {
            let expected = [spec.fan_in(index), layer.width];
            if params.weight.shape() != expected || params.bias.len() != layer.width {
                return Err(Error::ShapeMismatch {
                    operation: "loading parameters",
                    lhs: "weight",
                    lhs_shape: params.weight.shape().to_vec(),
                    rhs: "layer",
                    rhs_shape: expected.to_vec(),
                });
            }
            let values = params.weight.iter().chain(&params.bias);
            if let Some(bad) = values.copied().find(|v| !v.is_finite()) {
                return Err(Error::config(
                    "parameter",
                    format!("{bad} in layer {index}"),
                    "parameters must be finite",
                ));
            }
        }
        Ok(())
    }

    /// A 64-bit FNV-1a hash of every parameter's bits, to show that two runs start from
    /// identical weights.
    pub fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let values = self
            .layers
            .iter()
            .flat_map(|layer| layer.weight.iter().chain(&layer.bias));
        for value in values {
            for byte in value.to_bits().to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }

    /// Total number of parameters.
    pub fn count(&self) -> usize {
        self.layers
            .iter()
            .map(|layer| layer.weight.len() + layer.bias.len())
            .sum()
    }
}

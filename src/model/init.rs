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
    /// [`Error::InvalidConfig`] when either fan is 0 or the matrix does not fit in host
    /// memory.
    pub fn sample(self, fan_in: usize, fan_out: usize, rng: &mut StdRng) -> Result<Array2<f32>> {
        let mut values = allocate_weights(fan_in, fan_out)?;
        self.fill(fan_in, fan_out, &mut values, rng);
        Ok(Array2::from_shape_vec((fan_in, fan_out), values)
            .expect("the length is fan_in · fan_out"))
    }

    /// Appends `fan_in · fan_out` draws to `values`.
    fn fill(self, fan_in: usize, fan_out: usize, values: &mut Vec<f32>, rng: &mut StdRng) {
        let scale = self.scale(fan_in, fan_out) as f32;
        let len = fan_in * fan_out;
        match self {
            Init::XavierUniform | Init::HeUniform => {
                let uniform = Uniform::new_inclusive(-scale, scale)
                    .expect("the bound is positive and finite");
                values.extend((0..len).map(|_| uniform.sample(rng)));
            }
            Init::XavierNormal | Init::HeNormal => {
                // rand_distr's Normal takes the standard deviation, not the variance.
                let normal = Normal::new(0.0, scale).expect("the deviation is positive and finite");
                values.extend((0..len).map(|_| normal.sample(rng)));
            }
        }
    }
}

/// Reserves room for a `[fan_in, fan_out]` matrix, so that a layer too large for memory
/// is reported as an error instead of aborting the process.
fn allocate_weights(fan_in: usize, fan_out: usize) -> Result<Vec<f32>> {
    let shape = || format!("[{fan_in}, {fan_out}]");
    if fan_in == 0 || fan_out == 0 {
        return Err(Error::config(
            "layer shape",
            shape(),
            "both fans must be at least 1",
        ));
    }
    let len = fan_in.saturating_mul(fan_out);
    let mut values = Vec::new();
    values.try_reserve_exact(len).map_err(|_| {
        Error::config(
            "layer shape",
            shape(),
            format!(
                "its {fan_in} × {fan_out} weights do not fit in host memory; use narrower layers"
            ),
        )
    })?;
    Ok(values)
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
        // Reserve every layer before drawing any, so a network too large for memory
        // fails at once.
        let mut weights = (0..spec.layers.len())
            .map(|index| allocate_weights(spec.fan_in(index), spec.layers[index].width))
            .collect::<Result<Vec<_>>>()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(spec.layers.len());
        for (index, (layer, mut values)) in spec.layers.iter().zip(weights.drain(..)).enumerate() {
            let scheme = init.unwrap_or(Init::for_activation(layer.activation));
            let fan_in = spec.fan_in(index);
            scheme.fill(fan_in, layer.width, &mut values, &mut rng);
            layers.push(DenseParams {
                weight: Array2::from_shape_vec((fan_in, layer.width), values)
                    .expect("the length is fan_in · fan_out"),
                bias: Array1::zeros(layer.width),
            });
        }
        Ok(Parameters { layers })
    }

    /// All-zero parameters for `spec`, for starting from known values.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `spec` is invalid or a layer does not fit in memory.
    pub fn zeros(spec: &MlpSpec) -> Result<Self> {
        spec.validate()?;
        let layers = (0..spec.layers.len())
            .map(|index| {
                let (fan_in, width) = (spec.fan_in(index), spec.layers[index].width);
                let mut values = allocate_weights(fan_in, width)?;
                values.resize(fan_in * width, 0.0);
                Ok(DenseParams {
                    weight: Array2::from_shape_vec((fan_in, width), values)
                        .expect("the length is fan_in · fan_out"),
                    bias: Array1::zeros(width),
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
            if !layer.bias && params.bias.iter().any(|&b| b != 0.0) {
                return Err(Error::config(
                    "bias",
                    format!("non-zero in layer {index}"),
                    "the layer has no bias; set its bias to zeros or give it one",
                ));
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

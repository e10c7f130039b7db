//! Optimizers, with their state on the network's backend.

use crate::backend::{Backend, StepState, UpdateRule};
use crate::error::{Error, Result};
use crate::model::Mlp;

/// Settings of stochastic gradient descent; see [`UpdateRule::Sgd`] for the formula.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate at the first epoch.
    pub learning_rate: f32,
    /// Momentum factor in `[0, 1)`; 0 gives plain SGD.
    pub momentum: f32,
    /// L2 penalty factor, at least 0.
    pub weight_decay: f32,
    /// Whether to use Nesterov momentum, which needs a non-zero momentum.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            learning_rate: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// Settings of Adam and AdamW; see [`UpdateRule::Adam`] for the formulas. The defaults
/// are PyTorch's: learning rate 0.001, β = (0.9, 0.999), ε = 1e-8, no weight decay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate at the first epoch.
    pub learning_rate: f32,
    /// Decay of the first moment, in `[0, 1)`.
    pub beta1: f32,
    /// Decay of the second moment, in `[0, 1)`.
    pub beta2: f32,
    /// Added to the denominator; positive.
    pub epsilon: f32,
    /// Weight decay factor, at least 0.
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW) rather than an L2 penalty (Adam).
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

impl AdamConfig {
    /// AdamW with PyTorch's defaults: learning rate 0.001 and weight decay 0.01.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 0.01,
            decoupled: true,
            ..Default::default()
        }
    }
}

/// An optimizer's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent, with optional momentum.
    Sgd(SgdConfig),
    /// Adam or AdamW.
    Adam(AdamConfig),
}

impl From<SgdConfig> for OptimizerConfig {
    fn from(config: SgdConfig) -> Self {
        OptimizerConfig::Sgd(config)
    }
}

impl From<AdamConfig> for OptimizerConfig {
    fn from(config: AdamConfig) -> Self {
        OptimizerConfig::Adam(config)
    }
}

impl OptimizerConfig {
    /// The learning rate at the first epoch.
    pub fn learning_rate(&self) -> f32 {
        match self {
            OptimizerConfig::Sgd(config) => config.learning_rate,
            OptimizerConfig::Adam(config) => config.learning_rate,
        }
    }

    /// The update rule, without the learning rate.
    pub fn rule(&self) -> UpdateRule {
        match *self {
            OptimizerConfig::Sgd(c) => UpdateRule::Sgd {
                momentum: c.momentum,
                weight_decay: c.weight_decay,
                nesterov: c.nesterov,
            },
            OptimizerConfig::Adam(c) => UpdateRule::Adam {
                beta1: c.beta1,
                beta2: c.beta2,
                epsilon: c.epsilon,
                weight_decay: c.weight_decay,
                decoupled: c.decoupled,
            },
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first setting out of range: a learning rate
    /// that is not positive and finite, a momentum or β outside `[0, 1)`, Nesterov
    /// momentum without momentum, a negative weight decay, or an ε that is not positive.
    pub fn validate(&self) -> Result<()> {
        let learning_rate = self.learning_rate();
        if !(learning_rate > 0.0 && learning_rate.is_finite()) {
            return Err(Error::config(
                "learning rate",
                learning_rate,
                "must be positive and finite, such as 0.01",
            ));
        }
        let unit = |name, value: f32, example| {
            if (0.0..1.0).contains(&value) {
                Ok(())
            } else {
                Err(Error::config(
                    name,
                    value,
                    format!("must be in [0, 1), such as {example}"),
                ))
            }
        };
        let weight_decay = match *self {
            OptimizerConfig::Sgd(c) => {
                unit("momentum", c.momentum, "0.9")?;
                if c.nesterov && c.momentum == 0.0 {
                    return Err(Error::config(
                        "momentum",
                        0,
                        "Nesterov momentum needs a momentum above 0, such as 0.9",
                    ));
                }
                c.weight_decay
            }
            OptimizerConfig::Adam(c) => {
                unit("beta1", c.beta1, "0.9")?;
                unit("beta2", c.beta2, "0.999")?;
                if !(c.epsilon > 0.0 && c.epsilon.is_finite()) {
                    return Err(Error::config(
                        "epsilon",
                        c.epsilon,
                        "must be positive and finite, such as 1e-8",
                    ));
                }
                c.weight_decay
            }
        };
        if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
            return Err(Error::config(
                "weight decay",
                weight_decay,
                "must be finite and at least 0",
            ));
        }
        Ok(())
    }
}

/// An optimizer whose moment buffers and per-step state live on the network's backend.
///
/// Each step has two halves: [`Optimizer::begin_step`] uploads the step's learning rate
/// and bias corrections, and [`Optimizer::update`] records the parameter updates.
/// Calling `begin_step` before recording the step's forward and backward passes lets
/// the whole step go to the device in one submission.
#[derive(Debug)]
pub struct Optimizer<B: Backend> {
    config: OptimizerConfig,
    /// The [`StepState`] of the current step, `[1, 4]`.
    state: B::Matrix,
    /// SGD's velocity or Adam's first moment, one per parameter index.
    moment1: Vec<Option<B::Matrix>>,
    /// Adam's second moment, one per parameter index.
    moment2: Vec<Option<B::Matrix>>,
    steps: u64,
}

impl<B: Backend> Optimizer<B> {
    /// Creates the optimizer for `mlp`, with zero moments.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for invalid settings, and the backend's allocation errors.
    pub fn new(mlp: &mut Mlp<B>, config: impl Into<OptimizerConfig>) -> Result<Self> {
        let config = config.into();
        config.validate()?;
        let state = mlp.backend_mut().zeros(1, 4, "optimizer.state")?;
        let mut optimizer = Optimizer {
            config,
            state,
            moment1: Vec::new(),
            moment2: Vec::new(),
            steps: 0,
        };
        optimizer.reset(mlp)?;
        Ok(optimizer)
    }

    /// The settings.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Optimizer steps taken since creation or the last reset.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Sets the moments back to zero and the step count to 0.
    ///
    /// # Errors
    /// The backend's allocation errors.
    pub fn reset(&mut self, mlp: &mut Mlp<B>) -> Result<()> {
        let adam = matches!(self.config, OptimizerConfig::Adam(_));
        let (mut moment1, mut moment2) = (Vec::new(), Vec::new());
        mlp.for_each_parameter(|backend, index, param, _| {
            let (rows, cols) = B::shape(param);
            moment1.resize_with(index + 1, || None);
            moment2.resize_with(index + 1, || None);
            moment1[index] = Some(backend.zeros(rows, cols, &format!("param{index}.moment1"))?);
            if adam {
                moment2[index] =
                    Some(backend.zeros(rows, cols, &format!("param{index}.moment2"))?);
            }
            Ok(())
        })?;
        self.moment1 = moment1;
        self.moment2 = moment2;
        self.steps = 0;
        Ok(())
    }

    /// Uploads the learning rate and bias corrections of the next step.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn begin_step(&mut self, mlp: &mut Mlp<B>, learning_rate: f32) -> Result<()> {
        self.steps += 1;
        let (bias_correction1, bias_correction2) = match self.config {
            OptimizerConfig::Sgd(_) => (1.0, 1.0),
            OptimizerConfig::Adam(c) => {
                // Steps count optimizer updates, not parameter tensors; computed in f64
                // because β2^t is close to 1 for thousands of steps.
                let t = self.steps as f64;
                let correction = |beta: f32| (1.0 - f64::from(beta).powf(t)) as f32;
                (correction(c.beta1), correction(c.beta2))
            }
        };
        let state = StepState {
            learning_rate,
            bias_correction1,
            bias_correction2,
            _padding: 0.0,
        };
        mlp.backend_mut().write(&mut self.state, &state.as_values())
    }

    /// Records the update of every parameter of `mlp` from its gradient, with the state
    /// of the last [`Optimizer::begin_step`].
    ///
    /// # Errors
    /// The backend's errors.
    pub fn update(&mut self, mlp: &mut Mlp<B>) -> Result<()> {
        let rule = self.config.rule();
        let (state, moment1, moment2) = (&self.state, &mut self.moment1, &mut self.moment2);
        mlp.for_each_parameter(|backend, index, param, grad| {
            let first = moment1[index]
                .as_mut()
                .expect("a moment exists for every parameter");
            let second = moment2[index].as_mut();
            backend.optimizer_update(rule, state, param, grad, first, second)
        })
    }

    /// [`Optimizer::begin_step`] then [`Optimizer::update`].
    ///
    /// # Errors
    /// The backend's errors.
    pub fn step(&mut self, mlp: &mut Mlp<B>, learning_rate: f32) -> Result<()> {
        self.begin_step(mlp, learning_rate)?;
        self.update(mlp)
    }
}

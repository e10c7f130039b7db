//! Stochastic gradient descent with momentum.

use crate::backend::{Backend, SgdStep};
use crate::error::{Error, Result};
use crate::model::Mlp;

/// Settings of [`Sgd`]; see [`SgdStep`] for the update formula.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate at the first epoch.
    pub learning_rate: f32,
    /// Momentum factor in `[0, 1)`; 0 gives plain SGD.
    pub momentum: f32,
    /// L2 penalty factor, at least 0.
    pub weight_decay: f32,
    /// Whether to use Nesterov momentum.
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

impl SgdConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a learning rate that is not positive and finite, a
    /// momentum outside `[0, 1)`, or a negative weight decay.
    pub fn validate(&self) -> Result<()> {
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::config(
                "learning rate",
                self.learning_rate,
                "must be positive and finite, such as 0.01",
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::config(
                "momentum",
                self.momentum,
                "must be in [0, 1), such as 0.9",
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::config(
                "weight decay",
                self.weight_decay,
                "must be finite and at least 0",
            ));
        }
        Ok(())
    }
}

/// SGD with momentum; its velocity buffers live on the network's backend.
#[derive(Debug)]
pub struct Sgd<B: Backend> {
    config: SgdConfig,
    velocity: Vec<B::Matrix>,
}

impl<B: Backend> Sgd<B> {
    /// Creates the optimizer for `mlp`, with zero velocity.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for invalid settings, and the backend's allocation errors.
    pub fn new(mlp: &mut Mlp<B>, config: SgdConfig) -> Result<Self> {
        config.validate()?;
        let mut sgd = Sgd {
            config,
            velocity: Vec::new(),
        };
        sgd.reset(mlp)?;
        Ok(sgd)
    }

    /// The settings.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Sets the velocity back to zero, with one buffer per parameter of `mlp`.
    ///
    /// # Errors
    /// The backend's allocation errors.
    pub fn reset(&mut self, mlp: &mut Mlp<B>) -> Result<()> {
        let mut velocity = Vec::new();
        mlp.for_each_parameter(|backend, index, param, _| {
            let (rows, cols) = B::shape(param);
            velocity.push(backend.zeros(rows, cols, &format!("param{index}.velocity"))?);
            Ok(())
        })?;
        self.velocity = velocity;
        Ok(())
    }

    /// Records one update of every parameter of `mlp` from its gradient, with
    /// `learning_rate` in place of the configured one (for schedules).
    ///
    /// # Errors
    /// The backend's errors.
    pub fn step(&mut self, mlp: &mut Mlp<B>, learning_rate: f32) -> Result<()> {
        let step = SgdStep {
            learning_rate,
            momentum: self.config.momentum,
            weight_decay: self.config.weight_decay,
            nesterov: self.config.nesterov,
        };
        let velocity = &mut self.velocity;
        mlp.for_each_parameter(|backend, index, param, grad| {
            backend.sgd(param, grad, &mut velocity[index], step)
        })
    }
}

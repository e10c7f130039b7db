//! The training loop over epochs and batches.

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use ndarray::{Array2, ArrayView2};

use crate::backend::Backend;
use crate::data::{Dataset, TargetData};
use crate::error::{Error, Result};
use crate::model::{Loss, Mlp, Targets};
use crate::train::Optimizer;

/// A learning-rate schedule over the epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// The configured rate throughout.
    Constant,
    /// Cosine annealing (Loshchilov and Hutter, 2017, without restarts): epoch `e` of
    /// `E` uses `lr · (1 + cos(π e / E)) / 2`.
    Cosine,
}

impl Schedule {
    /// The learning rate for zero-based `epoch` of `epochs`, from the base rate `lr`.
    pub fn learning_rate(self, lr: f32, epoch: usize, epochs: usize) -> f32 {
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                let progress = epoch as f64 / epochs.max(1) as f64;
                (f64::from(lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
            }
        }
    }
}

/// Settings of [`fit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per optimizer step; the last batch of an epoch may be smaller, and a value
    /// above the data set's size uses the whole set.
    pub batch_size: usize,
    /// Seed of the generator that shuffles the rows before each epoch.
    pub seed: u64,
    /// Learning-rate schedule over the epochs.
    pub schedule: Schedule,
    /// The loss to minimize.
    pub loss: Loss,
}

/// Measurements of one epoch of training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// Zero-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's rows, measured as the weights changed.
    pub loss: f64,
    /// Fraction of the epoch's rows classified correctly, measured as the weights
    /// changed; `None` for mean squared error, which has no classes.
    pub train_accuracy: Option<f64>,
    /// Learning rate used in this epoch.
    pub learning_rate: f32,
    /// Optimizer steps taken so far, counted by the optimizer across calls to [`fit`].
    pub steps: u64,
    /// Wall-clock time of the epoch in seconds, including its one readback.
    pub seconds: f64,
}

/// Trains `mlp` on `data` with `config.loss` and `optimizer`, calling `on_epoch` after
/// each epoch, and returns every epoch's report.
///
/// Rows are shuffled before each epoch by a generator seeded with `config.seed`, so the
/// same seed feeds the same batches to every backend. Each step uploads its batch,
/// records the forward pass, the loss, the backward pass and the update, and submits
/// them together. The loss stays on the device and is read back once per epoch.
///
/// # Errors
/// [`Error::InvalidConfig`] for a zero batch size or one above the network's capacity,
/// [`Error::ShapeMismatch`] when the data does not fit the network, and
/// [`Error::Diverged`] when a batch's loss is NaN or infinite. In that case the
/// parameters are restored to their values at the start of that epoch and the
/// optimizer's state is reset, so the network keeps its last finite weights.
pub fn fit<B: Backend>(
    mlp: &mut Mlp<B>,
    optimizer: &mut Optimizer<B>,
    data: &Dataset,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<Vec<EpochReport>> {
    // A batch larger than the data set is the whole data set.
    let config = &TrainConfig {
        batch_size: config.batch_size.min(data.len().max(1)),
        ..*config
    };
    check_fit(mlp, data, config)?;
    let mut snapshot = allocate_snapshot(mlp)?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut batch = Batch::new(data, config.batch_size);
    let mut reports = Vec::with_capacity(config.epochs);
    let base_rate = optimizer.config().learning_rate();

    for epoch in 0..config.epochs {
        let started = Instant::now();
        let learning_rate = config
            .schedule
            .learning_rate(base_rate, epoch, config.epochs);
        let epoch_start_step = optimizer.steps();
        copy_parameters(mlp, &mut snapshot, Direction::Save)?;
        order.shuffle(&mut rng);

        for rows in order.chunks(config.batch_size) {
            batch.gather(data, rows);
            optimizer.begin_step(mlp, learning_rate)?;
            mlp.compute_gradients(
                batch.features(rows.len()),
                batch.targets(rows.len()),
                config.loss,
            )?;
            optimizer.update(mlp)?;
            mlp.backend_mut().submit()?;
        }

        let totals = mlp.take_loss_totals()?;
        if let Some(batch) = totals.first_non_finite_batch {
            copy_parameters(mlp, &mut snapshot, Direction::Restore)?;
            optimizer.reset(mlp)?;
            return Err(Error::Diverged {
                step: epoch_start_step + batch,
                epoch,
                loss: totals.loss_sum as f32,
                learning_rate,
            });
        }
        let rows = data.len().max(1) as f64;
        let report = EpochReport {
            epoch,
            loss: totals.loss_sum / rows,
            train_accuracy: (config.loss != Loss::MeanSquaredError)
                .then_some(totals.correct / rows),
            learning_rate,
            steps: optimizer.steps(),
            seconds: started.elapsed().as_secs_f64(),
        };
        log::info!("epoch {}: loss {:.4}", epoch + 1, report.loss);
        on_epoch(&report);
        reports.push(report);
    }
    Ok(reports)
}

/// The rows of one batch, gathered from the shuffled data set into buffers reused for
/// every batch.
struct Batch {
    features: Array2<f32>,
    labels: Vec<u32>,
    values: Array2<f32>,
}

impl Batch {
    fn new(data: &Dataset, batch_size: usize) -> Self {
        let value_width = match data.target_data() {
            TargetData::Values(values) => values.ncols(),
            TargetData::Labels { .. } => 0,
        };
        Batch {
            features: Array2::zeros((batch_size, data.features().ncols())),
            labels: Vec::with_capacity(batch_size),
            values: Array2::zeros((batch_size, value_width)),
        }
    }

    fn gather(&mut self, data: &Dataset, rows: &[usize]) {
        for (slot, &row) in rows.iter().enumerate() {
            self.features
                .row_mut(slot)
                .assign(&data.features().row(row));
        }
        match data.target_data() {
            TargetData::Labels { labels, .. } => {
                self.labels.clear();
                self.labels.extend(rows.iter().map(|&row| labels[row]));
            }
            TargetData::Values(values) => {
                for (slot, &row) in rows.iter().enumerate() {
                    self.values.row_mut(slot).assign(&values.row(row));
                }
            }
        }
    }

    fn features(&self, rows: usize) -> ArrayView2<'_, f32> {
        self.features.slice(ndarray::s![..rows, ..])
    }

    fn targets(&self, rows: usize) -> Targets<'_> {
        if self.values.ncols() > 0 {
            Targets::Values(self.values.slice(ndarray::s![..rows, ..]))
        } else {
            Targets::Labels(&self.labels[..rows])
        }
    }
}

/// Returns the fraction of `data`'s rows whose largest output is at their label.
///
/// # Errors
/// [`Error::InvalidConfig`] for a data set without class labels, and the errors of
/// [`Mlp::predict`].
pub fn evaluate<B: Backend>(mlp: &mut Mlp<B>, data: &Dataset) -> Result<f64> {
    let labels = data.labels().ok_or_else(|| {
        Error::config(
            "data set",
            "target values",
            "accuracy needs class labels; compare predictions with the targets instead",
        )
    })?;
    let predicted = mlp.predict_classes(data.features())?;
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

fn check_fit<B: Backend>(mlp: &Mlp<B>, data: &Dataset, config: &TrainConfig) -> Result<()> {
    if config.batch_size == 0 || config.batch_size > mlp.batch_capacity() {
        return Err(Error::config(
            "batch size",
            config.batch_size,
            format!(
                "must be between 1 and the network's batch capacity, {}",
                mlp.batch_capacity()
            ),
        ));
    }
    let spec = mlp.spec();
    if data.features().ncols() != spec.inputs {
        return Err(Error::ShapeMismatch {
            operation: "fit",
            lhs: "features",
            lhs_shape: data.features().shape().to_vec(),
            rhs: "network inputs",
            rhs_shape: vec![spec.inputs],
        });
    }
    let needed = data.target_width();
    let fits = match data.target_data() {
        TargetData::Labels { classes, .. } => *classes <= spec.outputs(),
        TargetData::Values(values) => values.ncols() == spec.outputs(),
    };
    if !fits {
        return Err(Error::config(
            "target width",
            needed,
            format!(
                "the network has {} outputs; make the last layer {needed} wide",
                spec.outputs()
            ),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Direction {
    Save,
    Restore,
}

fn allocate_snapshot<B: Backend>(mlp: &mut Mlp<B>) -> Result<Vec<B::Matrix>> {
    let mut snapshot = Vec::new();
    mlp.for_each_parameter(|backend, index, param, _| {
        let (rows, cols) = B::shape(param);
        snapshot.push(backend.zeros(rows, cols, &format!("param{index}.snapshot"))?);
        Ok(())
    })?;
    Ok(snapshot)
}

fn copy_parameters<B: Backend>(
    mlp: &mut Mlp<B>,
    snapshot: &mut [B::Matrix],
    direction: Direction,
) -> Result<()> {
    mlp.for_each_parameter(|backend, index, param, _| match direction {
        Direction::Save => backend.copy(param, &mut snapshot[index]),
        Direction::Restore => backend.copy(&snapshot[index], param),
    })
}

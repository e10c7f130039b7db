//! A validated, in-memory data set.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::model::Targets;

/// The targets a data set's rows are trained towards.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetData {
    /// One class index per row, each below `classes`.
    Labels {
        /// The labels.
        labels: Vec<u32>,
        /// Number of classes.
        classes: usize,
    },
    /// One row of target values per row, `[rows, outputs]`.
    Values(Array2<f32>),
}

/// Feature rows with their targets.
///
/// Construction rejects NaN and infinite features and targets and out-of-range labels,
/// naming the first bad row and column, so that training never starts on data it cannot
/// learn from.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    features: Array2<f32>,
    targets: TargetData,
}

/// Returns the first non-finite value of `values` as an [`Error::InvalidData`].
fn reject_non_finite(values: ArrayView2<'_, f32>, source_name: &str, what: &str) -> Result<()> {
    match values.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some(((row, column), value)) => Err(Error::InvalidData {
            source_name: source_name.to_string(),
            row,
            column,
            value: value.to_string(),
            reason: format!("{what} must be finite numbers; remove or impute the row"),
        }),
    }
}

impl Dataset {
    /// Builds a classification data set from `features [rows, inputs]` and one label per
    /// row, each below `classes`. `source_name` names the data in error messages.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the label count differs from the row count, and
    /// [`Error::InvalidData`] for a NaN or infinite feature or a label not below
    /// `classes`.
    pub fn new(
        features: Array2<f32>,
        labels: Vec<u32>,
        classes: usize,
        source_name: &str,
    ) -> Result<Self> {
        if labels.len() != features.nrows() {
            return Err(Error::ShapeMismatch {
                operation: "building a data set",
                lhs: "features",
                lhs_shape: features.shape().to_vec(),
                rhs: "labels",
                rhs_shape: vec![labels.len()],
            });
        }
        reject_non_finite(features.view(), source_name, "features")?;
        if let Some(row) = labels.iter().position(|&label| label as usize >= classes) {
            return Err(Error::InvalidData {
                source_name: source_name.to_string(),
                row,
                column: 0,
                value: labels[row].to_string(),
                reason: format!("labels must be below the class count, {classes}"),
            });
        }
        Ok(Dataset {
            features,
            targets: TargetData::Labels { labels, classes },
        })
    }

    /// Builds a data set with target values: `features [rows, inputs]` and
    /// `values [rows, outputs]`, for regression or multi-label losses.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the row counts differ, and [`Error::InvalidData`]
    /// for a NaN or infinite feature or target.
    pub fn with_values(
        features: Array2<f32>,
        values: Array2<f32>,
        source_name: &str,
    ) -> Result<Self> {
        if values.nrows() != features.nrows() {
            return Err(Error::ShapeMismatch {
                operation: "building a data set",
                lhs: "features",
                lhs_shape: features.shape().to_vec(),
                rhs: "targets",
                rhs_shape: values.shape().to_vec(),
            });
        }
        reject_non_finite(features.view(), source_name, "features")?;
        reject_non_finite(values.view(), source_name, "targets")?;
        Ok(Dataset {
            features,
            targets: TargetData::Values(values),
        })
    }

    /// The features, `[rows, inputs]`.
    pub fn features(&self) -> ArrayView2<'_, f32> {
        self.features.view()
    }

    /// The targets.
    pub fn target_data(&self) -> &TargetData {
        &self.targets
    }

    /// The labels of a classification data set.
    pub fn labels(&self) -> Option<&[u32]> {
        match &self.targets {
            TargetData::Labels { labels, .. } => Some(labels),
            TargetData::Values(_) => None,
        }
    }

    /// The number of classes of a classification data set.
    pub fn classes(&self) -> Option<usize> {
        match &self.targets {
            TargetData::Labels { classes, .. } => Some(*classes),
            TargetData::Values(_) => None,
        }
    }

    /// Width of the targets the network must produce: the classes, or the value columns.
    pub fn target_width(&self) -> usize {
        match &self.targets {
            TargetData::Labels { classes, .. } => *classes,
            TargetData::Values(values) => values.ncols(),
        }
    }

    /// All targets, as a loss takes them.
    pub fn targets(&self) -> Targets<'_> {
        match &self.targets {
            TargetData::Labels { labels, .. } => Targets::Labels(labels),
            TargetData::Values(values) => Targets::Values(values.view()),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.features.nrows()
    }

    /// Whether the data set has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `rows` rows, or all of them if there are fewer.
    pub fn truncate(&mut self, rows: usize) {
        let rows = rows.min(self.len());
        self.features = self.features.slice(ndarray::s![..rows, ..]).to_owned();
        match &mut self.targets {
            TargetData::Labels { labels, .. } => labels.truncate(rows),
            TargetData::Values(values) => {
                *values = values.slice(ndarray::s![..rows, ..]).to_owned()
            }
        }
    }
}

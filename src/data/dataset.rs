//! A validated, in-memory classification data set.

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

/// Feature rows with one class label each.
///
/// Construction rejects NaN and infinite features and out-of-range labels, naming the
/// first bad row and column, so that training never starts on data it cannot learn from.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    features: Array2<f32>,
    labels: Vec<u32>,
    classes: usize,
}

impl Dataset {
    /// Builds a data set from `features [rows, inputs]` and one label per row, each below
    /// `classes`. `source_name` names the data in error messages.
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
        let bad = |row, column, value: String, reason: &str| Error::InvalidData {
            source_name: source_name.to_string(),
            row,
            column,
            value,
            reason: reason.to_string(),
        };
        for ((row, column), value) in features.indexed_iter() {
            if !value.is_finite() {
                return Err(bad(
                    row,
                    column,
                    value.to_string(),
                    "features must be finite numbers; remove or impute the row",
                ));
            }
        }
        if let Some(row) = labels.iter().position(|&label| label as usize >= classes) {
            return Err(bad(
                row,
                0,
                labels[row].to_string(),
                &format!("labels must be below the class count, {classes}"),
            ));
        }
        Ok(Dataset {
            features,
            labels,
            classes,
        })
    }

    /// The features, `[rows, inputs]`.
    pub fn features(&self) -> ArrayView2<'_, f32> {
        self.features.view()
    }

    /// One label per row.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Number of classes; every label is below it.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the data set has no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Keeps the first `rows` rows, or all of them if there are fewer.
    pub fn truncate(&mut self, rows: usize) {
        let rows = rows.min(self.len());
        self.features = self.features.slice(ndarray::s![..rows, ..]).to_owned();
        self.labels.truncate(rows);
    }
}

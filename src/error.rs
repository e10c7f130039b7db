//! The crate's error type.

use std::path::PathBuf;

/// Errors returned by every fallible function of this crate.
///
/// Each variant carries the values that were rejected, so the message alone names what
/// to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched the requested backends or adapter name.
    #[error("no GPU adapter found for backends {backends}; {hint}")]
    NoAdapter {
        /// The backends that were searched, as wgpu names them.
        backends: String,
        /// What to do about it, which depends on why none matched.
        hint: String,
    },

    /// The adapter refused to create a device.
    #[error("failed to create a device on adapter {adapter:?}: {message}")]
    RequestDevice {
        /// Name of the adapter.
        adapter: String,
        /// wgpu's description of the failure.
        message: String,
    },

    /// wgpu reported a validation or out-of-memory error while recording or running GPU
    /// work.
    #[error("GPU error during {operation}: {message}")]
    Gpu {
        /// The operation that failed, such as `"training step"`.
        operation: String,
        /// wgpu's description of the failure.
        message: String,
    },

    /// Reading a GPU buffer back to the host failed.
    #[error("failed to read GPU buffer {label:?} back to the host: {message}")]
    Readback {
        /// Label of the buffer.
        label: String,
        /// wgpu's description of the failure.
        message: String,
    },

    /// A buffer would exceed a device limit.
    #[error(
        "buffer {label:?} needs {bytes} bytes but the device allows at most {limit} bytes per \
         {what}; use narrower layers (a weight matrix is [inputs, outputs]), or fewer rows for \
         a matrix built by hand"
    )]
    BufferTooLarge {
        /// Label of the buffer.
        label: String,
        /// Requested size in bytes.
        bytes: u64,
        /// The device's limit in bytes.
        limit: u64,
        /// The limit: `"buffer"` or `"storage binding"`.
        what: &'static str,
    },

    /// Two operands have shapes that do not fit together.
    #[error("shape mismatch in {operation}: {lhs} is {lhs_shape:?} but {rhs} is {rhs_shape:?}")]
    ShapeMismatch {
        /// The operation that was attempted.
        operation: &'static str,
        /// Name of the first operand.
        lhs: &'static str,
        /// Shape of the first operand.
        lhs_shape: Vec<usize>,
        /// Name of the second operand.
        rhs: &'static str,
        /// Shape of the second operand.
        rhs_shape: Vec<usize>,
    },

    /// A network description or training setting is invalid.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidConfig {
        /// The setting, such as `"learning rate"`.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// The requirement the value fails.
        reason: String,
    },

    /// A data set contains a value that cannot be trained on.
    #[error("invalid data in {source_name}: row {row}, column {column} is {value}; {reason}")]
    InvalidData {
        /// The data's origin: a file path or `"input matrix"`.
        source_name: String,
        /// Zero-based row of the bad value.
        row: usize,
        /// Zero-based column of the bad value.
        column: usize,
        /// The bad value, formatted.
        value: String,
        /// The requirement the value fails.
        reason: String,
    },

    /// A file is not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// The file that was read.
        path: PathBuf,
        /// The problem found in the file.
        reason: String,
    },

    /// An I/O operation on a file failed.
    #[error("failed to read {path}")]
    Io {
        /// The file that was read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The loss became NaN or infinite, so training was stopped.
    ///
    /// The parameters are restored to their values at the start of the epoch in which
    /// this happened, so no NaN weights are kept.
    #[error(
        "training diverged at step {} (epoch {}): the loss became {loss}; lower the \
         learning rate (now {learning_rate}) or check the data for extreme values",
        step + 1,
        epoch + 1
    )]
    Diverged {
        /// Zero-based optimizer step whose loss was not finite, counted by the optimizer
        /// since its creation or last reset. The message counts steps and epochs from 1.
        step: u64,
        /// Zero-based epoch of that step within the call to `fit`.
        epoch: usize,
        /// The non-finite loss.
        loss: f32,
        /// The learning rate in use.
        learning_rate: f32,
    },
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::InvalidConfig`].
    pub(crate) fn config(
        name: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

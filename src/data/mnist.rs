//! MNIST in its original file layout.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::data::{Dataset, read_idx};
use crate::error::{Error, Result};

/// The half of an MNIST directory to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistSplit {
    /// `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`.
    Train,
    /// `t10k-…` in the original distribution, `test-…` in the bundled subset.
    Test,
}

/// Loads an MNIST split from `dir`, scaling pixels from 0–255 to `[0, 1]`.
///
/// Each file may be gzip-compressed (`.gz`) or plain. For the test split both the
/// bundled names (`test-…`) and the original ones (`t10k-…`) are accepted.
///
/// # Errors
/// [`Error::Io`] when no candidate file exists, [`Error::Format`] when a file is not an
/// image or label IDX file or the two files disagree on the count, and
/// [`Error::InvalidData`] for a label above 9.
pub fn load_mnist(dir: &Path, split: MnistSplit) -> Result<Dataset> {
    let prefixes: &[&str] = match split {
        MnistSplit::Train => &["train"],
        MnistSplit::Test => &["test", "t10k"],
    };
    let images_path = find(dir, prefixes, "images-idx3-ubyte")?;
    let labels_path = find(dir, prefixes, "labels-idx1-ubyte")?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;

    let format_error = |path: &Path, reason: String| Error::Format {
        path: path.to_path_buf(),
        reason,
    };
    let [count, height, width] = images.dims[..] else {
        return Err(format_error(
            &images_path,
            format!(
                "expected 3 dimensions (count, rows, columns), found {:?}",
                images.dims
            ),
        ));
    };
    if labels.dims != [count] {
        return Err(format_error(
            &labels_path,
            format!(
                "expected {count} labels to match {}, found dimensions {:?}",
                images_path.display(),
                labels.dims
            ),
        ));
    }
    let pixels = images.data.iter().map(|&p| f32::from(p) / 255.0).collect();
    let features = Array2::from_shape_vec((count, height * width), pixels)
        .expect("the IDX reader checked the length");
    let labels = labels.data.into_iter().map(u32::from).collect();
    Dataset::new(features, labels, 10, &labels_path.display().to_string())
}

fn find(dir: &Path, prefixes: &[&str], stem: &str) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = prefixes
        .iter()
        .flat_map(|prefix| {
            let name = format!("{prefix}-{stem}");
            [dir.join(format!("{name}.gz")), dir.join(name)]
        })
        .collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| Error::Io {
            path: candidates[0].clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no MNIST file found; looked for {}",
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        })
}

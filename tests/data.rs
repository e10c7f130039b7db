//! The bundled MNIST files and the validation of data sets.

use std::path::Path;

use mlp_wgpu::Error;
use mlp_wgpu::data::{Dataset, MnistSplit, load_mnist, read_idx};
use ndarray::{Array2, array};

fn bundled() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))
}

#[test]
fn bundled_digits_load_with_expected_counts() {
    let train = load_mnist(bundled(), MnistSplit::Train).unwrap();
    let test = load_mnist(bundled(), MnistSplit::Test).unwrap();
    assert_eq!((train.len(), test.len()), (8000, 2000));
    assert_eq!(train.features().ncols(), 784);
    assert_eq!(train.classes(), Some(10));
    for data in [&train, &test] {
        let mut per_class = [0usize; 10];
        for &label in data.labels().unwrap() {
            per_class[label as usize] += 1;
        }
        // About a tenth of the digits per class.
        let expected = data.len() / 10;
        assert!(
            per_class
                .iter()
                .all(|&n| n > expected * 7 / 10 && n < expected * 13 / 10),
            "{per_class:?}"
        );
        assert!(data.features().iter().all(|&p| (0.0..=1.0).contains(&p)));
    }
}

#[test]
fn idx_header_gives_image_dims() {
    let images = read_idx(&bundled().join("test-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(images.dims, vec![2000, 28, 28]);
    // Digits are mostly background, with some fully inked pixels.
    assert!(images.data.iter().filter(|&&p| p == 0).count() > images.data.len() / 2);
    assert_eq!(images.data.iter().max(), Some(&255));
}

#[test]
fn plain_idx_reads_like_gzip() {
    let dir = std::env::temp_dir().join(format!("mlp-wgpu-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("labels-idx1-ubyte");
    std::fs::write(&plain, [0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9]).unwrap();
    let array = read_idx(&plain).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(array.dims, vec![3]);
    assert_eq!(array.data, vec![7, 1, 9]);
}

#[test]
fn missing_directory_names_the_files_sought() {
    let error = load_mnist(Path::new("/nonexistent/mnist"), MnistSplit::Test).unwrap_err();
    let message = format!("{error} {}", std::error::Error::source(&error).unwrap());
    assert!(message.contains("test-images-idx3-ubyte.gz"), "{message}");
    assert!(message.contains("t10k-images-idx3-ubyte"), "{message}");
}

#[test]
fn nan_feature_is_rejected_with_position() {
    let features = array![[0.5, f32::NAN]];
    let error = Dataset::new(features, vec![0], 2, "input matrix").unwrap_err();
    match &error {
        Error::InvalidData { row, column, .. } => assert_eq!((*row, *column), (0, 1)),
        other => panic!("expected InvalidData, got {other}"),
    }
    assert!(error.to_string().contains("row 0, column 1"), "{error}");
}

#[test]
fn infinite_feature_is_rejected() {
    let mut features = Array2::zeros((3, 2));
    features[[2, 0]] = f32::INFINITY;
    let error = Dataset::new(features, vec![0, 0, 0], 1, "input matrix").unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidData {
                row: 2,
                column: 0,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn label_out_of_range_is_rejected() {
    let error = Dataset::new(Array2::zeros((2, 1)), vec![0, 10], 10, "labels").unwrap_err();
    assert!(
        matches!(error, Error::InvalidData { row: 1, .. }),
        "{error}"
    );
}

#[test]
fn label_count_must_match_rows() {
    let error = Dataset::new(Array2::zeros((2, 1)), vec![0], 10, "labels").unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error}");
}

#[test]
fn value_targets_are_checked() {
    let features = Array2::zeros((2, 3));
    let mut values = Array2::zeros((2, 1));
    values[[1, 0]] = f32::NAN;
    let error = Dataset::with_values(features.clone(), values, "targets").unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidData {
                row: 1,
                column: 0,
                ..
            }
        ),
        "{error}"
    );
    let error = Dataset::with_values(features, Array2::zeros((3, 1)), "targets").unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error}");
}

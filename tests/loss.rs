//! Losses on the CPU and the GPU: stability for extreme logits, parity on awkward
//! shapes, gradients against finite differences, shape errors, and the running totals
//! kept on the device.

mod common;

use common::{assert_close, download, pattern, recorder, upload, zeros};
use mlp_wgpu::cpu::{self, LossRows};
use mlp_wgpu::gpu::GpuTensor;
use mlp_wgpu::gpu::kernels::{LossTotals, loss_with_targets, softmax_cross_entropy};
use mlp_wgpu::model::Loss;
use mlp_wgpu::{Error, LossChunk};
use ndarray::{Array2, array};

/// Targets of a GPU loss run.
enum GpuTargets<'a> {
    Labels(&'a [u32]),
    Values(Loss, &'a Array2<f32>),
}

/// Runs a GPU loss over `outputs` in chunks of `chunk_rows` rows; returns the gradient
/// and the totals.
fn gpu_loss(
    outputs: &Array2<f32>,
    targets: GpuTargets<'_>,
    chunk_rows: usize,
) -> (Array2<f32>, LossTotals) {
    let mut rec = recorder();
    let ctx = rec.context().clone();
    let zero: &[f32] = bytemuck::cast_slice(std::slice::from_ref(&LossTotals::ZERO));
    let totals = GpuTensor::from_slice(&ctx, 1, 4, zero, "totals").unwrap();
    let (rows, cols) = outputs.dim();
    let mut grad = Array2::zeros((rows, cols));
    for start in (0..rows.max(1)).step_by(chunk_rows) {
        let end = (start + chunk_rows).min(rows);
        let chunk = LossChunk {
            rows: end - start,
            batch_rows: rows,
            ends_batch: end == rows,
        };
        let part = outputs.slice(ndarray::s![start..end, ..]).to_owned();
        let gout = upload(&rec, part.view());
        let ggrad = zeros(&rec, end - start, cols);
        match &targets {
            GpuTargets::Labels(labels) => {
                let glabels =
                    GpuTensor::from_slice(&ctx, end - start, 1, &labels[start..end], "labels")
                        .unwrap();
                softmax_cross_entropy(&mut rec, &gout, &glabels, &ggrad, &totals, chunk).unwrap();
            }
            GpuTargets::Values(loss, values) => {
                let gt = upload(&rec, values.slice(ndarray::s![start..end, ..]));
                loss_with_targets(&mut rec, *loss, &gout, &gt, &ggrad, &totals, chunk).unwrap();
            }
        }
        grad.slice_mut(ndarray::s![start..end, ..])
            .assign(&download(&mut rec, &ggrad));
    }
    let values = download(&mut rec, &totals);
    (
        grad,
        bytemuck::pod_read_unaligned(bytemuck::cast_slice(values.as_slice().unwrap())),
    )
}

/// Recovers the softmax probabilities from the mean gradient `(p - onehot) / rows`.
fn probabilities(grad: &Array2<f32>, labels: &[u32]) -> Array2<f32> {
    let rows = grad.nrows() as f32;
    let mut p = grad.mapv(|g| g * rows);
    for (row, &label) in labels.iter().enumerate() {
        p[[row, label as usize]] += 1.0;
    }
    p
}

#[test]
fn softmax_of_extreme_logits_is_exact() {
    let logits = array![
        [1000.0, 1000.0],
        [1000.0, 999.0],
        [-10000.0, -10000.0],
        [1000.0, 0.0]
    ];
    let labels = [0, 0, 1, 0];
    let want = array![
        [0.5, 0.5],
        [0.731_058_6, 0.268_941_4],
        [0.5, 0.5],
        [1.0, 0.0]
    ];

    let cpu_softmax = cpu::softmax_forward(logits.view());
    assert_close("cpu softmax", cpu_softmax.view(), want.view(), 1e-7, 1e-6);
    let mut rec = recorder();
    let (gx, gy) = (upload(&rec, logits.view()), zeros(&rec, 4, 2));
    mlp_wgpu::gpu::kernels::softmax_forward(&mut rec, &gx, &gy, 4).unwrap();
    assert_close(
        "gpu softmax",
        download(&mut rec, &gy).view(),
        want.view(),
        1e-7,
        1e-6,
    );

    // The loss kernel's gradient contains the same probabilities: p = 4·grad + onehot, so
    // allow a few ULP of 1.
    let atol = 4.0 * f32::EPSILON;
    let cpu_result = cpu::softmax_cross_entropy(logits.view(), &labels).unwrap();
    let (gpu_grad, _) = gpu_loss(&logits, GpuTargets::Labels(&labels), 4);
    assert_close(
        "cpu loss softmax",
        probabilities(&cpu_result.grad, &labels).view(),
        want.view(),
        atol,
        0.0,
    );
    assert_close(
        "gpu loss softmax",
        probabilities(&gpu_grad, &labels).view(),
        want.view(),
        atol,
        0.0,
    );
}

#[test]
fn cross_entropy_of_huge_equal_logits_is_ln2() {
    let logits = array![[1e8, 1e8]];
    let ln2 = std::f32::consts::LN_2;
    let cpu_loss = cpu::softmax_cross_entropy(logits.view(), &[1])
        .unwrap()
        .losses[0];
    let (_, labels_totals) = gpu_loss(&logits, GpuTargets::Labels(&[1]), 1);
    let one_hot = array![[0.0, 1.0]];
    let (_, targets_totals) = gpu_loss(
        &logits,
        GpuTargets::Values(Loss::SoftmaxCrossEntropy, &one_hot),
        1,
    );
    assert!((cpu_loss - ln2).abs() <= 1e-6, "cpu loss {cpu_loss}");
    assert!(
        (labels_totals.loss_sum - ln2).abs() <= 1e-6,
        "gpu loss {}",
        labels_totals.loss_sum
    );
    assert!(
        (targets_totals.loss_sum - ln2).abs() <= 1e-6,
        "gpu one-hot loss {}",
        targets_totals.loss_sum
    );
}

/// Compares a GPU run with the CPU reference: the gradient element by element, the loss
/// sum and correct count through the totals.
fn check_against_cpu(
    what: &str,
    want: &LossRows,
    grad: &Array2<f32>,
    totals: LossTotals,
    rtol: f32,
) {
    let rows = want.losses.len();
    let atol = rtol / rows as f32;
    assert_close(
        &format!("{what} gradient"),
        grad.view(),
        want.grad.view(),
        atol,
        rtol,
    );
    let want_sum: f32 = want.losses.sum();
    let tolerance = rtol * (want.losses.mapv(f32::abs).sum() + rows as f32);
    assert!(
        (totals.loss_sum - want_sum).abs() <= tolerance,
        "{what}: loss sum {} vs {want_sum}",
        totals.loss_sum
    );
    assert!(
        (totals.correct - want.correct.sum()).abs() <= 1e-3,
        "{what}: correct {} vs {}",
        totals.correct,
        want.correct.sum()
    );
    assert_eq!(totals.batches, 1.0, "{what}: batches");
    assert_eq!(totals.first_non_finite, -1.0, "{what}: non-finite flag");
}

const SHAPES: [(usize, usize); 17] = [
    (1, 1),
    (1, 7),
    (7, 10),
    (65, 3),
    (257, 65),
    (1000, 10),
    // The row sweep every kernel is checked over.
    (63, 10),
    (64, 10),
    (65, 10),
    (255, 10),
    (256, 10),
    (257, 10),
    (511, 10),
    (512, 10),
    (513, 10),
    (1024, 10),
    (1, 10),
];

#[test]
fn cross_entropy_with_labels_matches_cpu() {
    for (rows, classes) in SHAPES {
        let logits = pattern(rows, classes, 21).mapv(|v| 20.0 * v);
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7) % classes) as u32).collect();
        let want = cpu::softmax_cross_entropy(logits.view(), &labels).unwrap();
        // Chunks of 64 rows exercise the batch split: the mean still divides by all rows.
        let (grad, totals) = gpu_loss(&logits, GpuTargets::Labels(&labels), 64);
        // Each probability is exp(z - max) / Σ: exp is within 3 + 2|x| ULP on Vulkan
        // (|x| ≤ 40 here) and the sum adds `classes` roundings.
        let rtol = (100.0 + classes as f32) * f32::EPSILON;
        check_against_cpu(
            &format!("labels [{rows}, {classes}]"),
            &want,
            &grad,
            totals,
            rtol,
        );
    }
}

#[test]
fn losses_with_targets_match_cpu() {
    for loss in [
        Loss::SoftmaxCrossEntropy,
        Loss::MeanSquaredError,
        Loss::BinaryCrossEntropyWithLogits,
    ] {
        for (rows, cols) in SHAPES {
            let outputs = pattern(rows, cols, 22).mapv(|v| 8.0 * v);
            let targets = match loss {
                // Soft class probabilities: non-negative rows summing to 1.
                Loss::SoftmaxCrossEntropy => {
                    let raw = pattern(rows, cols, 23).mapv(|v| v + 1.0);
                    let sums = raw.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1));
                    &raw / &sums
                }
                Loss::MeanSquaredError => pattern(rows, cols, 23),
                Loss::BinaryCrossEntropyWithLogits => {
                    pattern(rows, cols, 23).mapv(|v| f32::from(v > 0.0))
                }
            };
            let want = cpu::loss_with_targets(loss, outputs.view(), targets.view()).unwrap();
            let (grad, totals) = gpu_loss(&outputs, GpuTargets::Values(loss, &targets), 64);
            let rtol = (100.0 + cols as f32) * f32::EPSILON;
            check_against_cpu(
                &format!("{loss:?} [{rows}, {cols}]"),
                &want,
                &grad,
                totals,
                rtol,
            );
        }
    }
}

/// Mean loss in f64, written independently of the crate.
fn mean_loss_f64(loss: Loss, z: &Array2<f32>, t: &Array2<f32>) -> f64 {
    let (rows, cols) = z.dim();
    let mut total = 0.0;
    for r in 0..rows {
        let zr: Vec<f64> = z.row(r).iter().map(|&v| f64::from(v)).collect();
        let tr: Vec<f64> = t.row(r).iter().map(|&v| f64::from(v)).collect();
        total += match loss {
            Loss::SoftmaxCrossEntropy => {
                let max = zr.iter().cloned().fold(f64::MIN, f64::max);
                let lse = max + zr.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                zr.iter().zip(&tr).map(|(z, t)| t * (lse - z)).sum::<f64>()
            }
            Loss::MeanSquaredError => {
                zr.iter()
                    .zip(&tr)
                    .map(|(z, t)| (z - t).powi(2))
                    .sum::<f64>()
                    / cols as f64
            }
            Loss::BinaryCrossEntropyWithLogits => {
                zr.iter()
                    .zip(&tr)
                    .map(|(z, t)| z.max(0.0) - z * t + (-z.abs()).exp().ln_1p())
                    .sum::<f64>()
                    / cols as f64
            }
        };
    }
    total / rows as f64
}

#[test]
fn loss_gradients_match_finite_differences() {
    let outputs = array![
        [0.3f32, -1.2, 2.0, 0.1],
        [1.0, 1.0, -0.5, 0.0],
        [-3.0, 0.5, 0.25, 4.0]
    ];
    let targets = array![
        [0.0f32, 0.0, 1.0, 0.0],
        [0.25, 0.25, 0.5, 0.0],
        [1.0, 0.0, 0.0, 0.0]
    ];
    for loss in [
        Loss::SoftmaxCrossEntropy,
        Loss::MeanSquaredError,
        Loss::BinaryCrossEntropyWithLogits,
    ] {
        let analytic = cpu::loss_with_targets(loss, outputs.view(), targets.view())
            .unwrap()
            .grad;
        let h = 1e-3f32;
        for ((row, col), &g) in analytic.indexed_iter() {
            let (mut plus, mut minus) = (outputs.clone(), outputs.clone());
            plus[[row, col]] += h;
            minus[[row, col]] -= h;
            // The perturbation is applied in f32, so divide by the step actually taken.
            let step = f64::from(plus[[row, col]]) - f64::from(minus[[row, col]]);
            let numeric = (mean_loss_f64(loss, &plus, &targets)
                - mean_loss_f64(loss, &minus, &targets))
                / step;
            assert!(
                (f64::from(g) - numeric).abs() < 1e-5,
                "{loss:?} d/dz[{row},{col}]: analytic {g}, numeric {numeric}"
            );
        }
        // The mean of the per-row losses is the loss.
        let rows = cpu::loss_with_targets(loss, outputs.view(), targets.view()).unwrap();
        let mean = f64::from(rows.losses.sum()) / 3.0;
        assert!(
            (mean - mean_loss_f64(loss, &outputs, &targets)).abs() < 1e-6,
            "{loss:?} mean {mean}"
        );
    }
}

#[test]
fn mse_of_column_against_row_is_shape_error() {
    let predictions = array![[1.0f32], [2.0], [3.0]];
    let row_targets = array![[1.0f32, 2.0, 3.0]];
    let error = cpu::loss_with_targets(
        Loss::MeanSquaredError,
        predictions.view(),
        row_targets.view(),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{message}");
    assert!(
        message.contains("[3, 1]") && message.contains("[1, 3]"),
        "{message}"
    );

    let mut rec = recorder();
    let (gp, gt) = (
        upload(&rec, predictions.view()),
        upload(&rec, row_targets.view()),
    );
    let (grad, totals) = (zeros(&rec, 3, 1), zeros(&rec, 1, 4));
    let chunk = LossChunk::whole(3);
    let error = loss_with_targets(
        &mut rec,
        Loss::MeanSquaredError,
        &gp,
        &gt,
        &grad,
        &totals,
        chunk,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("[3, 1]") && message.contains("[1, 3]"),
        "{message}"
    );

    // The same values in the same shape give a loss of 0, never 1.3333.
    let column_targets = array![[1.0f32], [2.0], [3.0]];
    let rows = cpu::loss_with_targets(
        Loss::MeanSquaredError,
        predictions.view(),
        column_targets.view(),
    )
    .unwrap();
    assert_eq!(rows.losses.sum(), 0.0);
    let (_, gpu_totals) = gpu_loss(
        &predictions,
        GpuTargets::Values(Loss::MeanSquaredError, &column_targets),
        3,
    );
    assert_eq!(gpu_totals.loss_sum, 0.0);
}

#[test]
fn non_finite_loss_marks_batch() {
    let logits = array![[f32::NAN, 0.0], [1.0, 2.0]];
    let (_, totals) = gpu_loss(&logits, GpuTargets::Labels(&[0, 1]), 2);
    assert_eq!(totals.first_non_finite, 0.0);
    let cpu_result = cpu::softmax_cross_entropy(logits.view(), &[0, 1]).unwrap();
    assert!(cpu_result.losses[0].is_nan());
    assert!(cpu_result.losses[1].is_finite());
}

#[test]
fn label_out_of_range_is_rejected_by_cpu_reference() {
    let error = cpu::softmax_cross_entropy(array![[0.0f32, 1.0]].view(), &[2]).unwrap_err();
    assert!(
        matches!(error, Error::InvalidData { row: 0, .. }),
        "{error}"
    );
}

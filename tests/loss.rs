//! Softmax cross-entropy on the CPU and the GPU: stability for extreme logits, parity on
//! awkward shapes, and the running totals kept on the device.

mod common;

use common::{assert_close, download, pattern, recorder, upload, zeros};
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::GpuTensor;
use mlp_wgpu::gpu::kernels::{LossTotals, softmax_cross_entropy};
use ndarray::{Array2, array};

/// Runs the GPU kernel once; returns the gradient and the totals.
fn gpu_loss(logits: &Array2<f32>, labels: &[u32]) -> (Array2<f32>, LossTotals) {
    let mut rec = recorder();
    let ctx = rec.context().clone();
    let glogits = upload(&rec, logits.view());
    let glabels = GpuTensor::from_slice(&ctx, labels.len(), 1, labels, "labels").unwrap();
    let ggrad = zeros(&rec, logits.nrows(), logits.ncols());
    let zero: &[f32] = bytemuck::cast_slice(std::slice::from_ref(&LossTotals::ZERO));
    let totals = GpuTensor::from_slice(&ctx, 1, 4, zero, "totals").unwrap();
    softmax_cross_entropy(
        &mut rec,
        &glogits,
        &glabels,
        &ggrad,
        &totals,
        logits.nrows(),
    )
    .unwrap();
    let grad = download(&mut rec, &ggrad);
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
    let cpu_result = cpu::softmax_cross_entropy(logits.view(), &labels);
    let (gpu_grad, _) = gpu_loss(&logits, &labels);
    // Recovering p multiplies the gradient by 4 and adds 1, so allow a few ULP of 1.
    let atol = 4.0 * f32::EPSILON;
    assert_close(
        "cpu softmax",
        probabilities(&cpu_result.grad, &labels).view(),
        want.view(),
        atol,
        0.0,
    );
    assert_close(
        "gpu softmax",
        probabilities(&gpu_grad, &labels).view(),
        want.view(),
        atol,
        0.0,
    );
}

#[test]
fn cross_entropy_of_huge_equal_logits_is_ln2() {
    let logits = array![[1e8, 1e8]];
    let labels = [1];
    let cpu_result = cpu::softmax_cross_entropy(logits.view(), &labels);
    let (_, totals) = gpu_loss(&logits, &labels);
    let ln2 = std::f32::consts::LN_2;
    assert!(
        (cpu_result.losses[0] - ln2).abs() <= 1e-6,
        "cpu loss {}",
        cpu_result.losses[0]
    );
    assert!(
        (totals.loss_sum - ln2).abs() <= 1e-6,
        "gpu loss {}",
        totals.loss_sum
    );
}

#[test]
fn cross_entropy_matches_cpu_on_awkward_shapes() {
    for (rows, classes) in [(1, 1), (1, 7), (7, 10), (65, 3), (257, 65), (1000, 10)] {
        let logits = pattern(rows, classes, 21).mapv(|v| 20.0 * v);
        let labels: Vec<u32> = (0..rows).map(|i| ((i * 7) % classes) as u32).collect();
        let want = cpu::softmax_cross_entropy(logits.view(), &labels);
        let (grad, totals) = gpu_loss(&logits, &labels);

        // Each probability is exp(z - max) / Σ: exp is within 3 + 2|x| ULP on Vulkan
        // (|x| ≤ 40 here) and the sum adds `classes` roundings, hence the rtol; the
        // gradient is divided by `rows`, which scales the absolute error the same way.
        let rtol = (100.0 + classes as f32) * f32::EPSILON;
        let atol = rtol / rows as f32;
        let what = format!("[{rows}, {classes}]");
        assert_close(
            &format!("{what} gradient"),
            grad.view(),
            want.grad.view(),
            atol,
            rtol,
        );

        let want_sum: f32 = want.losses.sum();
        let want_correct = want.correct.iter().filter(|&&c| c).count() as f32;
        let loss_tolerance = rtol * (want.losses.mapv(f32::abs).sum() + rows as f32);
        assert!(
            (totals.loss_sum - want_sum).abs() <= loss_tolerance,
            "{what}: loss sum {} vs {want_sum}",
            totals.loss_sum
        );
        assert_eq!(totals.correct, want_correct, "{what}: correct count");
        assert_eq!(totals.batches, 1.0, "{what}: batches");
        assert_eq!(totals.first_non_finite, -1.0, "{what}: non-finite flag");
    }
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let logits = array![[0.3f32, -1.2, 2.0, 0.1], [1.0, 1.0, -0.5, 0.0]];
    let labels = [2, 0];
    let analytic = cpu::softmax_cross_entropy(logits.view(), &labels).grad;
    let mean_loss = |z: &Array2<f32>| -> f64 {
        let z64 = z.mapv(f64::from);
        let mut total = 0.0;
        for (row, &label) in labels.iter().enumerate() {
            let r = z64.row(row);
            let max = r.fold(f64::MIN, |a, &b| a.max(b));
            let lse = max + r.mapv(|v| (v - max).exp()).sum().ln();
            total += lse - r[label as usize];
        }
        total / labels.len() as f64
    };
    let h = 1e-3f32;
    for ((row, col), &g) in analytic.indexed_iter() {
        let (mut plus, mut minus) = (logits.clone(), logits.clone());
        plus[[row, col]] += h;
        minus[[row, col]] -= h;
        let numeric = (mean_loss(&plus) - mean_loss(&minus)) / (2.0 * f64::from(h));
        assert!(
            (f64::from(g) - numeric).abs() < 1e-4,
            "d/dz[{row},{col}]: analytic {g}, numeric {numeric}"
        );
    }
}

#[test]
fn non_finite_loss_marks_batch() {
    let logits = array![[f32::NAN, 0.0], [1.0, 2.0]];
    let (_, totals) = gpu_loss(&logits, &[0, 1]);
    assert_eq!(totals.first_non_finite, 0.0);
    let cpu_result = cpu::softmax_cross_entropy(logits.view(), &[0, 1]);
    assert!(cpu_result.losses[0].is_nan());
    assert!(cpu_result.losses[1].is_finite());
}

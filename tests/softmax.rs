//! Parity of the row-wise softmax kernels with the CPU reference.

mod common;

use common::{assert_close, download, pattern, recorder, upload, zeros};
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::kernels::{softmax_backward, softmax_forward};

/// Row counts on both sides of the tile and block sizes.
const M_SWEEP: [usize; 11] = [1, 63, 64, 65, 255, 256, 257, 511, 512, 513, 1024];

#[test]
fn softmax_matches_cpu_over_row_sweep() {
    for rows in M_SWEEP {
        for cols in [1, 7, 65, 257] {
            let x = pattern(rows, cols, 71).mapv(|v| 30.0 * v);
            let grad_y = pattern(rows, cols, 72);
            let want_y = cpu::softmax_forward(x.view());
            let want_grad = cpu::softmax_backward(want_y.view(), grad_y.view());

            let mut rec = recorder();
            let (gx, gy) = (upload(&rec, x.view()), zeros(&rec, rows, cols));
            let (gg, gout) = (upload(&rec, grad_y.view()), zeros(&rec, rows, cols));
            softmax_forward(&mut rec, &gx, &gy, rows).unwrap();
            softmax_backward(&mut rec, &gy, &gg, &gout, rows).unwrap();
            let (y, grad) = (download(&mut rec, &gy), download(&mut rec, &gout));

            // Each output is exp(x - max) / Σ: exp within 3 + 2|x| ULP on Vulkan (|x| ≤ 60
            // here) and a sum of `cols` terms, so the tolerance grows with both.
            let rtol = (130.0 + cols as f32) * f32::EPSILON;
            let what = format!("[{rows}, {cols}]");
            assert_close(
                &format!("{what} forward"),
                y.view(),
                want_y.view(),
                rtol / cols as f32,
                rtol,
            );
            // The backward pass multiplies by y and subtracts a dot product of `cols`
            // terms of magnitude at most |dy|.
            assert_close(
                &format!("{what} backward"),
                grad.view(),
                want_grad.view(),
                2.0 * rtol,
                2.0 * rtol,
            );
        }
    }
}

#[test]
fn softmax_rows_sum_to_one() {
    let x = pattern(100, 33, 73).mapv(|v| 1000.0 * v);
    let mut rec = recorder();
    let (gx, gy) = (upload(&rec, x.view()), zeros(&rec, 100, 33));
    softmax_forward(&mut rec, &gx, &gy, 100).unwrap();
    let y = download(&mut rec, &gy);
    for (row, values) in y.rows().into_iter().enumerate() {
        let sum: f32 = values.sum();
        assert!(
            (sum - 1.0).abs() <= 33.0 * f32::EPSILON,
            "row {row} sums to {sum}"
        );
        assert!(
            values.iter().all(|v| v.is_finite() && *v >= 0.0),
            "row {row}: {values}"
        );
    }
}

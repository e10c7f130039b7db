//! Parity of the column-sum kernel (the bias gradient) with the CPU reference.

mod common;

use common::{assert_close, dot_tolerance, download, pattern, recorder, upload, zeros};
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::kernels::column_sum;
use ndarray::{Array2, Axis};

#[test]
fn column_sum_matches_cpu_on_awkward_shapes() {
    for rows in [1, 7, 63, 64, 65, 255, 256, 257, 511, 512, 513, 1024] {
        for cols in [1, 7, 65, 257] {
            let x = pattern(rows, cols, 31);
            let want = cpu::column_sums(x.view()).insert_axis(Axis(0));
            let mut rec = recorder();
            let (gx, gout) = (upload(&rec, x.view()), zeros(&rec, 1, cols));
            column_sum(&mut rec, &gx, &gout, rows, false).unwrap();
            let got = download(&mut rec, &gout);
            // A sum of `rows` terms of magnitude at most 1, in any order.
            let atol = dot_tolerance(rows, rows as f32);
            assert_close(
                &format!("[{rows}, {cols}]"),
                got.view(),
                want.view(),
                atol,
                0.0,
            );
        }
    }
}

#[test]
fn column_sum_reads_only_leading_rows() {
    let mut x = Array2::<f32>::ones((10, 3));
    x.row_mut(9).fill(1000.0);
    let mut rec = recorder();
    let (gx, gout) = (upload(&rec, x.view()), zeros(&rec, 1, 3));
    column_sum(&mut rec, &gx, &gout, 9, false).unwrap();
    assert_eq!(download(&mut rec, &gout), Array2::from_elem((1, 3), 9.0));
}

#[test]
fn column_sum_accumulates_across_chunks() {
    let x = pattern(100, 7, 32);
    let mut want = Array2::from_elem((1, 7), 0.5f32);
    cpu::column_sum(x.view(), want.row_mut(0), true);
    let mut rec = recorder();
    let (gx, gout) = (
        upload(&rec, x.view()),
        upload(&rec, Array2::from_elem((1, 7), 0.5f32).view()),
    );
    column_sum(&mut rec, &gx, &gout, 100, true).unwrap();
    let got = download(&mut rec, &gout);
    // Same order of additions on both sides: the old value, then the rows in order.
    assert_close(
        "accumulated sums",
        got.view(),
        want.view(),
        dot_tolerance(101, 101.0),
        0.0,
    );
}

//! Kernels whose work spans more workgroups than one dispatch dimension allows. The
//! context's limit is lowered to 4 so that small inputs take the same paths as inputs
//! past the usual 65,535.

mod common;

use common::{assert_close, download, limited_recorder, pattern, upload, zeros};
use mlp_wgpu::gpu::kernels::{
    activation_forward, column_sum, optimizer_update, softmax_backward, softmax_forward,
};
use mlp_wgpu::model::Activation;
use mlp_wgpu::{StepState, UpdateRule, cpu};
use ndarray::{Array2, Axis};

const LIMIT: u32 = 4;

#[test]
fn activation_spans_second_dimension() {
    // 3,000 elements are 12 workgroups of 256: 4 along x, 3 along y.
    let x = pattern(60, 50, 1);
    let mut rec = limited_recorder(LIMIT);
    let (gx, gy) = (upload(&rec, x.view()), zeros(&rec, 60, 50));
    activation_forward(&mut rec, Activation::Tanh, &gx, &gy).unwrap();
    let want = cpu::activation_forward(Activation::Tanh, x.view());
    assert_close(
        "tanh",
        download(&mut rec, &gy).view(),
        want.view(),
        1e-6,
        1e-5,
    );
}

#[test]
fn softmax_rows_span_second_dimension() {
    // 13 rows, one workgroup each: 4 along x, 4 along y.
    let x = pattern(13, 9, 2);
    let mut rec = limited_recorder(LIMIT);
    let (gx, gy, ggrad) = (
        upload(&rec, x.view()),
        zeros(&rec, 13, 9),
        zeros(&rec, 13, 9),
    );
    softmax_forward(&mut rec, &gx, &gy, 13).unwrap();
    let y = download(&mut rec, &gy);
    let want = cpu::softmax_forward(x.view());
    assert_close("softmax", y.view(), want.view(), 1e-7, 1e-5);

    let grad_y = pattern(13, 9, 3);
    let gg = upload(&rec, grad_y.view());
    softmax_backward(&mut rec, &gy, &gg, &ggrad, 13).unwrap();
    let want = cpu::softmax_backward(want.view(), grad_y.view());
    assert_close(
        "softmax backward",
        download(&mut rec, &ggrad).view(),
        want.view(),
        1e-6,
        1e-5,
    );
}

#[test]
fn column_sum_spans_second_dimension() {
    // 700 columns are 11 workgroups of 64: 4 along x, 3 along y.
    let x = pattern(5, 700, 4);
    let mut rec = limited_recorder(LIMIT);
    let (gx, gout) = (upload(&rec, x.view()), zeros(&rec, 1, 700));
    column_sum(&mut rec, &gx, &gout, 5, false).unwrap();
    let want = cpu::column_sums(x.view()).insert_axis(Axis(0));
    assert_close(
        "column sums",
        download(&mut rec, &gout).view(),
        want.view(),
        1e-6,
        0.0,
    );
}

#[test]
fn optimizer_spans_second_dimension() {
    // 12,000 parameters are 3,000 groups of 4, so 12 workgroups of 256.
    let rule = UpdateRule::Sgd {
        momentum: 0.5,
        weight_decay: 0.0,
        nesterov: false,
    };
    let step = StepState {
        learning_rate: 0.1,
        bias_correction1: 1.0,
        bias_correction2: 1.0,
        _padding: 0.0,
    };
    let (param, grad) = (pattern(120, 100, 5), pattern(120, 100, 6));
    let mut rec = limited_recorder(LIMIT);
    let (gp, gg) = (upload(&rec, param.view()), upload(&rec, grad.view()));
    let gm = upload(&rec, Array2::zeros((120, 100)).view());
    let gs = upload(&rec, ndarray::arr2(&[step.as_values()]).view());
    optimizer_update(&mut rec, rule, &gs, &gp, &gg, &gm, None).unwrap();
    let (mut want, mut moment) = (param.clone(), Array2::zeros((120, 100)));
    cpu::optimizer_update(
        rule,
        step,
        want.view_mut(),
        grad.view(),
        moment.view_mut(),
        None,
    );
    assert_close(
        "sgd",
        download(&mut rec, &gp).view(),
        want.view(),
        1e-7,
        1e-6,
    );
}

#[test]
fn dispatch_beyond_both_dimensions_is_an_error() {
    // 5,000 elements need 20 workgroups; 4 × 4 = 16 is too few, and the error names the limit.
    let x = pattern(100, 50, 7);
    let mut rec = limited_recorder(LIMIT);
    let (gx, gy) = (upload(&rec, x.view()), zeros(&rec, 100, 50));
    let error = activation_forward(&mut rec, Activation::Relu, &gx, &gy).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("at most 4 workgroups per dimension"),
        "{error}"
    );
}

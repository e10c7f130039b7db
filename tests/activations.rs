//! Activations and their derivatives on the CPU and the GPU, including the inputs where
//! naive formulas overflow.

mod common;

use common::{assert_close, download, pattern, recorder, upload, zeros};
use mlp_wgpu::cpu;
use mlp_wgpu::gpu::kernels::{activation_backward, activation_forward};
use mlp_wgpu::model::Activation;
use ndarray::{Array2, array};

fn gpu_forward(activation: Activation, x: &Array2<f32>) -> Array2<f32> {
    let mut rec = recorder();
    let (gx, gy) = (upload(&rec, x.view()), zeros(&rec, x.nrows(), x.ncols()));
    activation_forward(&mut rec, activation, &gx, &gy).unwrap();
    download(&mut rec, &gy)
}

fn gpu_backward(activation: Activation, y: &Array2<f32>, grad_y: &Array2<f32>) -> Array2<f32> {
    let mut rec = recorder();
    let (gy, gg) = (upload(&rec, y.view()), upload(&rec, grad_y.view()));
    let gx = zeros(&rec, y.nrows(), y.ncols());
    activation_backward(&mut rec, activation, &gy, &gg, &gx).unwrap();
    download(&mut rec, &gx)
}

/// Runs forward and backward with an upstream gradient of ones on both devices.
fn both_devices(
    activation: Activation,
    x: &Array2<f32>,
) -> [(&'static str, Array2<f32>, Array2<f32>); 2] {
    let ones = Array2::ones(x.raw_dim());
    let cpu_y = cpu::activation_forward(activation, x.view());
    let grad_input = if activation.grad_needs_pre_activation() {
        x.clone()
    } else {
        cpu_y.clone()
    };
    let cpu_grad = cpu::activation_backward(activation, grad_input.view(), ones.view());
    let gpu_y = gpu_forward(activation, x);
    let gpu_grad_input = if activation.grad_needs_pre_activation() {
        x.clone()
    } else {
        gpu_y.clone()
    };
    let gpu_grad = gpu_backward(activation, &gpu_grad_input, &ones);
    [("cpu", cpu_y, cpu_grad), ("gpu", gpu_y, gpu_grad)]
}

fn assert_no_nan(what: &str, values: &Array2<f32>) {
    assert!(
        values.iter().all(|v| !v.is_nan()),
        "{what} contains NaN: {values}"
    );
}

#[test]
fn sigmoid_saturates_without_nan() {
    let x = array![[-1000.0, -89.0, -88.0, 0.0, 88.0, 89.0, 1000.0]];
    let want_y = [0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0];
    let want_grad = [0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0];
    for (device, y, grad) in both_devices(Activation::Sigmoid, &x) {
        assert_no_nan(device, &y);
        assert_no_nan(device, &grad);
        for (i, (&got, &want)) in y.iter().zip(&want_y).enumerate() {
            // Values below 1.2e-38 (the smallest normal f32) may flush to 0.
            assert!(
                (got - want).abs() <= 1.2e-38,
                "{device} sigmoid({}) = {got}, want {want}",
                x[[0, i]]
            );
        }
        for (i, (&got, &want)) in grad.iter().zip(&want_grad).enumerate() {
            assert!(
                (got - want).abs() <= 1.2e-38,
                "{device} sigmoid'({}) = {got}, want {want}",
                x[[0, i]]
            );
        }
    }
}

#[test]
fn leaky_relu_backward_uses_slope() {
    let x = array![[-2.0, -0.5, 0.5, 3.0]];
    let [(_, cpu_y, cpu_grad), (_, gpu_y, gpu_grad)] =
        both_devices(Activation::LeakyRelu { slope: 0.01 }, &x);
    let want_y = array![[-0.02, -0.005, 0.5, 3.0]];
    assert_close("cpu forward", cpu_y.view(), want_y.view(), 0.0, 1e-6);
    assert_close("gpu forward", gpu_y.view(), want_y.view(), 0.0, 1e-6);
    let want_grad = array![[0.01, 0.01, 1.0, 1.0]];
    assert_eq!(cpu_grad, want_grad);
    assert_eq!(gpu_grad, want_grad);

    let [(_, _, cpu_grad), (_, _, gpu_grad)] =
        both_devices(Activation::LeakyRelu { slope: 0.0 }, &x);
    let want_grad = array![[0.0, 0.0, 1.0, 1.0]];
    assert_eq!(cpu_grad, want_grad);
    assert_eq!(gpu_grad, want_grad);
}

#[test]
fn tanh_is_sign_for_large_inputs() {
    let x = array![[-1e30, -1000.0, -45.0, 45.0, 1000.0, 1e30]];
    for (device, y, grad) in both_devices(Activation::Tanh, &x) {
        assert_eq!(y, array![[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]], "{device}");
        assert_eq!(grad, Array2::zeros((1, 6)), "{device}");
    }
}

#[test]
fn gelu_is_finite_for_large_inputs() {
    let x = array![[-1e30, -1000.0, -20.0, 20.0, 1000.0, 1e30]];
    for (device, y, grad) in both_devices(Activation::Gelu, &x) {
        assert_no_nan(device, &y);
        assert_no_nan(device, &grad);
        assert_eq!(y, array![[0.0, 0.0, 0.0, 20.0, 1000.0, 1e30]], "{device}");
        assert_eq!(grad, array![[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]], "{device}");
    }
}

#[test]
fn activations_match_cpu_on_awkward_lengths() {
    let activations = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.2 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
    ];
    for activation in activations {
        let sweep = [1, 63, 64, 65, 255, 256, 257, 511, 512, 513, 1024].map(|rows| (rows, 10));
        let awkward = [(1, 1), (7, 1), (65, 7), (257, 65)];
        for (rows, cols) in awkward.into_iter().chain(sweep) {
            let x = pattern(rows, cols, 11).mapv(|v| 6.0 * v);
            let [(_, cpu_y, cpu_grad), (_, gpu_y, gpu_grad)] = both_devices(activation, &x);
            // The drivers' exp and tanh may be off by 3 + 2|x| ULP (|x| ≤ 6 here), about
            // 2e-6 relative; 1e-6 absolute covers results near zero.
            let what = format!("{activation} [{rows}, {cols}]");
            assert_close(
                &format!("{what} forward"),
                gpu_y.view(),
                cpu_y.view(),
                1e-6,
                1e-5,
            );
            assert_close(
                &format!("{what} backward"),
                gpu_grad.view(),
                cpu_grad.view(),
                1e-6,
                1e-5,
            );
        }
    }
}

#[test]
fn leaky_relu_slope_outside_unit_interval_is_rejected() {
    for text in ["leaky_relu:-0.1", "leaky_relu:1.5", "leaky_relu:x", "swish"] {
        let error = text.parse::<Activation>().unwrap_err();
        assert!(error.to_string().contains("invalid"), "{text}: {error}");
    }
    assert_eq!(
        "leaky_relu:0.2".parse::<Activation>().unwrap(),
        Activation::LeakyRelu { slope: 0.2 }
    );
}

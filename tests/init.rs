//! Weight initializers: their scales, their distributions, and determinism by seed.

use mlp_wgpu::model::{Activation, Init, MlpSpec, Parameters};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn sample_std(values: &ndarray::Array2<f32>) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

fn max_abs(values: &ndarray::Array2<f32>) -> f32 {
    values.iter().fold(0.0, |m, &v| m.max(v.abs()))
}

#[test]
fn xavier_uniform_bound_for_784_by_128() {
    assert!((Init::XavierUniform.scale(784, 128) - 0.08111).abs() < 1e-5);
    let w = Init::XavierUniform
        .sample(784, 128, &mut StdRng::seed_from_u64(1))
        .unwrap();
    let bound = (6.0f64 / 912.0).sqrt() as f32;
    assert!(
        max_abs(&w) <= bound,
        "max |w| = {} above {bound}",
        max_abs(&w)
    );
    // A uniform sample of 100k values reaches within 0.1% of its bound.
    assert!(max_abs(&w) > 0.999 * bound);
}

#[test]
fn xavier_normal_std_for_784_by_128() {
    assert!((Init::XavierNormal.scale(784, 128) - 0.04683).abs() < 1e-5);
    let w = Init::XavierNormal
        .sample(784, 128, &mut StdRng::seed_from_u64(2))
        .unwrap();
    let std = sample_std(&w);
    assert!((std / 0.04683 - 1.0).abs() < 0.02, "sample std {std}");
}

#[test]
fn he_normal_std_for_fan_in_784() {
    assert!((Init::HeNormal.scale(784, 128) - 0.05051).abs() < 1e-5);
    let w = Init::HeNormal
        .sample(784, 128, &mut StdRng::seed_from_u64(3))
        .unwrap();
    let std = sample_std(&w);
    // √(1/784) = 0.0357 and 2/784 = 0.00255 are the two usual mistakes.
    assert!((0.0495..=0.0515).contains(&std), "sample std {std}");
}

#[test]
fn he_uniform_bound_for_fan_in_784() {
    assert!((Init::HeUniform.scale(784, 128) - 0.08748).abs() < 1e-5);
    let w = Init::HeUniform
        .sample(784, 128, &mut StdRng::seed_from_u64(4))
        .unwrap();
    let bound = (6.0f64 / 784.0).sqrt() as f32;
    assert!(max_abs(&w) <= bound);
    assert!(max_abs(&w) > 0.999 * bound);
}

#[test]
fn same_seed_gives_same_parameters() {
    let spec = MlpSpec::classifier(784, &[64, 32], Activation::Relu, 10);
    let a = Parameters::init(&spec, None, 7).unwrap();
    let b = Parameters::init(&spec, None, 7).unwrap();
    let c = Parameters::init(&spec, None, 8).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_ne!(a.fingerprint(), c.fingerprint());
}

#[test]
fn default_scheme_follows_activation() {
    assert_eq!(Init::for_activation(Activation::Relu), Init::HeUniform);
    assert_eq!(Init::for_activation(Activation::Tanh), Init::XavierUniform);
    let spec = MlpSpec::classifier(100, &[50], Activation::Relu, 10);
    let params = Parameters::init(&spec, None, 1).unwrap();
    let he_bound = (6.0f32 / 100.0).sqrt();
    let xavier_bound = (6.0f32 / 60.0).sqrt();
    assert!(max_abs(&params.layers[0].weight) <= he_bound);
    assert!(max_abs(&params.layers[1].weight) <= xavier_bound);
    assert!(
        params
            .layers
            .iter()
            .all(|l| l.bias.iter().all(|&b| b == 0.0))
    );
}

#[test]
fn zero_width_layer_is_rejected() {
    let spec = MlpSpec::classifier(784, &[0], Activation::Relu, 10);
    let error = Parameters::init(&spec, None, 1).unwrap_err();
    assert!(error.to_string().contains("layer width"), "{error}");
}

#[test]
fn zero_parameters_fit_spec() {
    let spec = MlpSpec::classifier(5, &[3], Activation::Relu, 2);
    let params = Parameters::zeros(&spec).unwrap();
    params.check(&spec).unwrap();
    assert_eq!(params.layers[0].weight.dim(), (5, 3));
    assert_eq!(params.layers[1].weight.dim(), (3, 2));
    assert!(
        params
            .layers
            .iter()
            .all(|l| l.weight.iter().chain(&l.bias).all(|&v| v == 0.0))
    );
}

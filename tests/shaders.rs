//! Validation of every WGSL file with naga, without a GPU: parsing, validation, and
//! translation to SPIR-V (Vulkan), MSL (Metal) and HLSL (DX12), so a shader that one of
//! those backends would reject fails on any machine.

use mlp_wgpu::StepState;
use mlp_wgpu::gpu::kernels::{
    ColumnSumParams, ElementwiseParams, LossParams, LossTotals, MatmulParams, OptimizerParams,
    SoftmaxParams,
};
use mlp_wgpu::gpu::shaders;
use naga::back::PipelineConstants;
use naga::valid::{Capabilities, ValidationFlags, Validator};

fn parse(name: &str, source: &str) -> naga::Module {
    naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|error| panic!("{name}: {}", error.emit_to_string(source)))
}

fn validate(name: &str, module: &naga::Module) -> naga::valid::ModuleInfo {
    // Only the subgroup matmul module may use subgroup operations.
    let capabilities = match name {
        "matmul_subgroup.wgsl" => Capabilities::SUBGROUP,
        _ => Capabilities::empty(),
    };
    Validator::new(ValidationFlags::all(), capabilities)
        .validate(module)
        .unwrap_or_else(|error| panic!("{name}: {error:?}"))
}

/// Substitutes the override values, then writes the module in each backend's language.
fn translate(name: &str, source: &str, constants: &[(&str, f64)]) {
    let module = parse(name, source);
    let info = validate(name, &module);
    let mut values = PipelineConstants::default();
    for &(key, value) in constants {
        values.insert(key.to_string(), value);
    }
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, None, &values)
            .unwrap_or_else(|error| panic!("{name} {constants:?}: {error:?}"));
    let what = format!("{name} with {constants:?}");

    naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
        .unwrap_or_else(|error| panic!("{what} to SPIR-V: {error:?}"));

    let msl_options = naga::back::msl::Options {
        lang_version: (2, 1),
        ..Default::default()
    };
    let msl_pipeline = naga::back::msl::PipelineOptions {
        entry_point: None,
        ..Default::default()
    };
    naga::back::msl::write_string(&module, &info, &msl_options, &msl_pipeline)
        .unwrap_or_else(|error| panic!("{what} to MSL: {error:?}"));

    // Wave intrinsics, which subgroup operations become, need shader model 6.0.
    let hlsl_options = naga::back::hlsl::Options {
        shader_model: naga::back::hlsl::ShaderModel::V6_0,
        ..Default::default()
    };
    let hlsl_pipeline = naga::back::hlsl::PipelineOptions { entry_point: None };
    let mut hlsl = String::new();
    naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &hlsl_pipeline)
        .write(&module, &info, None)
        .unwrap_or_else(|error| panic!("{what} to HLSL: {error:?}"));
}

#[test]
fn every_shader_parses_and_validates() {
    for (name, source) in shaders::ALL {
        let module = parse(name, source);
        validate(name, &module);
    }
    let library = parse("activations.wgsl", shaders::ACTIVATIONS);
    assert!(
        library.entry_points.is_empty(),
        "activations.wgsl must declare no entry point"
    );
}

#[test]
fn every_shader_translates_with_default_overrides() {
    for (name, source) in shaders::ALL {
        translate(name, source, &[]);
    }
}

#[test]
fn subgroup_matmul_needs_subgroup_capability() {
    let module = parse("matmul_subgroup.wgsl", shaders::MATMUL_SUBGROUP);
    let without = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module);
    assert!(
        without.is_err(),
        "the subgroup kernel must not validate without subgroups"
    );
    validate("matmul_subgroup.wgsl", &module);
}

#[test]
fn every_matmul_variant_translates() {
    for (transpose_a, transpose_b) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)] {
        for epilogue in [0.0, 1.0, 2.0, 3.0] {
            for activation in 0..6 {
                for vector in [0.0, 1.0] {
                    let constants = [
                        ("WORKGROUP_X", 32.0),
                        ("WORKGROUP_Y", 1.0),
                        ("TRANSPOSE_A", transpose_a),
                        ("TRANSPOSE_B", transpose_b),
                        ("VECTOR_A", vector),
                        ("VECTOR_B", vector),
                        ("EPILOGUE", epilogue),
                        ("ACTIVATION", f64::from(activation)),
                        ("STORE_PRE", 1.0),
                    ];
                    translate("matmul.wgsl", shaders::MATMUL, &constants);
                    translate("matmul_subgroup.wgsl", shaders::MATMUL_SUBGROUP, &constants);
                }
            }
        }
    }
}

/// Returns the size in bytes of the WGSL struct `name` in `source`.
fn wgsl_struct_size(source: &str, name: &str) -> u32 {
    let module = parse(name, source);
    let (_, ty) = module
        .types
        .iter()
        .find(|(_, ty)| ty.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("struct {name} not found"));
    ty.inner.size(module.to_ctx())
}

#[test]
fn uniform_structs_match_rust_sizes() {
    let cases = [
        (shaders::MATMUL, "MatmulParams", size_of::<MatmulParams>()),
        (
            shaders::ELEMENTWISE,
            "ElementwiseParams",
            size_of::<ElementwiseParams>(),
        ),
        (shaders::LOSSES, "LossParams", size_of::<LossParams>()),
        (shaders::LOSSES, "LossTotals", size_of::<LossTotals>()),
        (
            shaders::SOFTMAX,
            "SoftmaxParams",
            size_of::<SoftmaxParams>(),
        ),
        (
            shaders::COLUMN_SUM,
            "ColumnSumParams",
            size_of::<ColumnSumParams>(),
        ),
        (
            shaders::OPTIMIZERS,
            "OptimizerParams",
            size_of::<OptimizerParams>(),
        ),
        (shaders::OPTIMIZERS, "StepState", size_of::<StepState>()),
    ];
    for (source, name, rust_size) in cases {
        assert_eq!(wgsl_struct_size(source, name) as usize, rust_size, "{name}");
        assert_eq!(
            rust_size % 16,
            0,
            "{name}: uniform sizes are kept to multiples of 16 bytes"
        );
    }
}

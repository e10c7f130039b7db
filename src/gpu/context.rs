//! The GPU context: instance, adapter, device, queue, error capture and the pipelines
//! built on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::gpu::kernels::MatmulKernel;

/// One compute pipeline request: a WGSL source, its entry point, the override constants
/// and the number of storage bindings it declares.
///
/// The bindings are always, in order: `reads` read-only storage buffers, `writes`
/// read-write storage buffers, then one uniform buffer.
#[derive(Clone, Copy, Debug)]
pub struct PipelineSpec<'a> {
    /// Label shown by wgpu's validation errors and GPU debuggers.
    pub label: &'a str,
    /// The complete WGSL source.
    pub source: &'static str,
    /// The entry point's name.
    pub entry: &'static str,
    /// Values for the source's `override` declarations.
    pub constants: &'a [(&'static str, f64)],
    /// Number of read-only storage bindings.
    pub reads: u32,
    /// Number of read-write storage bindings.
    pub writes: u32,
}

/// Identity of a pipeline in the context's cache: the source's address, the entry point
/// and the bit patterns of the override values.
type PipelineKey = (usize, &'static str, Vec<(&'static str, u64)>);

/// Settings of a [`GpuContext`] beyond what wgpu's environment variables choose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextOptions {
    /// The matmul kernel to use instead of the one chosen for the adapter's type.
    pub matmul_kernel: Option<MatmulKernel>,
    /// A lower limit on workgroups per dispatch dimension than the device's, so tests
    /// can reach the paths that split large dispatches with small inputs.
    pub max_workgroups_per_dimension: Option<u32>,
}

/// The matmul kernel for an adapter, chosen once from its type and features, with no
/// tuning at start-up. On CPU adapters such as lavapipe, workgroup memory is ordinary
/// memory and every storage load costs a loop over the SIMD lanes. Register blocking
/// with loads shared through subgroups is fastest there, while GPUs gain from tiles
/// staged in workgroup memory.
// NOTE: the tiled kernel's speed on discrete GPUs is expected from how GPUs work, not
// measured: it has been tested for correctness on lavapipe and GL only.
fn choose_matmul_kernel(info: &wgpu::AdapterInfo, subgroups: bool) -> MatmulKernel {
    match info.device_type {
        wgpu::DeviceType::Cpu if subgroups && info.subgroup_min_size >= 8 => MatmulKernel::Subgroup,
        wgpu::DeviceType::Cpu => MatmulKernel::Blocked,
        _ => MatmulKernel::Tiled,
    }
}

/// A wgpu device with everything the kernels need, created once and shared.
///
/// Validation errors are captured with error scopes and returned as [`Error::Gpu`]; an
/// error that escapes every scope is stored and returned by the next submission instead
/// of panicking.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    matmul_kernel: MatmulKernel,
    blocked_workgroup_size: u32,
    max_workgroups_per_dimension: u32,
    layouts: Mutex<HashMap<(u32, u32), wgpu::BindGroupLayout>>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    modules: Mutex<HashMap<usize, wgpu::ShaderModule>>,
    uncaptured: Arc<Mutex<Option<String>>>,
    /// Bound where a kernel declares a binding that a variant does not use.
    pub(crate) unused_read: wgpu::Buffer,
    pub(crate) unused_write: wgpu::Buffer,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("device_type", &self.info.device_type)
            .finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Creates a context on the adapter that wgpu's environment variables select.
    ///
    /// The instance searches Vulkan, Metal and DX12 unless `WGPU_BACKEND` names others
    /// (for example `WGPU_BACKEND=gl`). `WGPU_ADAPTER_NAME` picks the first adapter whose
    /// name contains it, ignoring case, and `WGPU_POWER_PREF` (`low` or `high`) guides the
    /// choice otherwise. The device gets the adapter's own limits, which on most adapters
    /// allow larger buffers than wgpu's defaults.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter matches, [`Error::RequestDevice`] when the
    /// adapter refuses to create a device.
    pub fn new() -> Result<Arc<Self>> {
        Self::with_options(ContextOptions::default())
    }

    /// [`GpuContext::new`] with explicit settings.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub fn with_options(options: ContextOptions) -> Result<Arc<Self>> {
        pollster::block_on(Self::new_async(options))
    }

    async fn new_async(options: ContextOptions) -> Result<Arc<Self>> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = wgpu::Backends::PRIMARY;
        let descriptor = descriptor.with_env();
        let backends = descriptor.backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapter = choose_adapter(&instance, backends).await?;
        let info = adapter.get_info();
        let limits = adapter.limits();

        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("mlp-wgpu device"),
                // Subgroups are optional: without them the blocked kernel replaces the
                // subgroup one.
                required_features: adapter.features() & wgpu::Features::SUBGROUP,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                message: e.to_string(),
            })?;

        let uncaptured = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            let mut slot = sink.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| error.to_string());
        }));

        let subgroups = device.features().contains(wgpu::Features::SUBGROUP);
        let matmul_kernel = options
            .matmul_kernel
            .unwrap_or_else(|| choose_matmul_kernel(&info, subgroups));
        log::info!(
            "GPU adapter: {} ({:?}, {:?}), max storage binding {} MiB, max buffer {} MiB, \
             max workgroups per dimension {}, subgroups {}..{}, matmul kernel {}",
            info.name,
            info.backend,
            info.device_type,
            limits.max_storage_buffer_binding_size >> 20,
            limits.max_buffer_size >> 20,
            limits.max_compute_workgroups_per_dimension,
            info.subgroup_min_size,
            info.subgroup_max_size,
            matmul_kernel.name(),
        );

        let unused = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage,
                mapped_at_creation: false,
            })
        };
        let unused_read = unused("unused.read", wgpu::BufferUsages::STORAGE);
        let unused_write = unused("unused.write", wgpu::BufferUsages::STORAGE);
        Ok(Arc::new(GpuContext {
            matmul_kernel,
            max_workgroups_per_dimension: options
                .max_workgroups_per_dimension
                .map_or(limits.max_compute_workgroups_per_dimension, |limit| {
                    limit.clamp(1, limits.max_compute_workgroups_per_dimension)
                }),
            // Whole subgroups per workgroup, and at least 32 invocations.
            blocked_workgroup_size: info.subgroup_max_size.clamp(32, 256),
            device,
            queue,
            info,
            limits,
            layouts: Mutex::default(),
            pipelines: Mutex::default(),
            modules: Mutex::default(),
            uncaptured,
            unused_read,
            unused_write,
        }))
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The device's queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Name, backend and type of the adapter in use.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The limits the device was created with.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The matmul kernel chosen for this adapter.
    pub fn matmul_kernel(&self) -> MatmulKernel {
        self.matmul_kernel
    }

    /// Workgroup size of the blocked and subgroup matmul kernels: a multiple of the
    /// subgroup size, so no subgroup is split.
    pub fn blocked_workgroup_size(&self) -> u32 {
        self.blocked_workgroup_size
    }

    /// The maximum number of workgroups a dispatch uses along one dimension: the device's limit, or
    /// the lower one given in [`ContextOptions`]. Larger work continues along the next
    /// dimension.
    pub fn max_workgroups_per_dimension(&self) -> u32 {
        self.max_workgroups_per_dimension
    }

    /// Whether the device has subgroup operations.
    pub fn has_subgroups(&self) -> bool {
        self.device.features().contains(wgpu::Features::SUBGROUP)
    }

    /// A one-line description of the adapter, such as
    /// `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// Returns the pipeline for `spec`, building it on first use.
    ///
    /// # Errors
    /// [`Error::Gpu`] when wgpu rejects the shader or the pipeline.
    pub fn pipeline(&self, spec: &PipelineSpec<'_>) -> Result<wgpu::ComputePipeline> {
        let key: PipelineKey = (
            spec.source.as_ptr() as usize,
            spec.entry,
            spec.constants
                .iter()
                .map(|&(name, value)| (name, value.to_bits()))
                .collect(),
        );
        let mut pipelines = lock(&self.pipelines);
        if let Some(pipeline) = pipelines.get(&key) {
            return Ok(pipeline.clone());
        }

        let operation = format!("building pipeline {:?}", spec.label);
        let pipeline = self.scoped(&operation, || {
            let module = self.module(spec.source);
            let layout = self.bind_group_layout(spec.reads, spec.writes);
            let pipeline_layout =
                self.device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(spec.label),
                        bind_group_layouts: &[Some(&layout)],
                        immediate_size: 0,
                    });
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(spec.label),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(spec.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: spec.constants,
                        zero_initialize_workgroup_memory: true,
                    },
                    cache: None,
                })
        })?;
        pipelines.insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// Returns the layout with `reads` read-only storage bindings, `writes` read-write
    /// storage bindings and a final uniform binding.
    pub(crate) fn bind_group_layout(&self, reads: u32, writes: u32) -> wgpu::BindGroupLayout {
        let mut layouts = lock(&self.layouts);
        layouts
            .entry((reads, writes))
            .or_insert_with(|| {
                let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
                    binding,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                };
                let mut entries: Vec<_> = (0..reads).map(|i| storage(i, true)).collect();
                entries.extend((reads..reads + writes).map(|i| storage(i, false)));
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding: reads + writes,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
                self.device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: Some(&format!("layout.{reads}r{writes}w")),
                        entries: &entries,
                    })
            })
            .clone()
    }

    fn module(&self, source: &'static str) -> wgpu::ShaderModule {
        let mut modules = lock(&self.modules);
        modules
            .entry(source.as_ptr() as usize)
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: None,
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    })
            })
            .clone()
    }

    /// Runs `f` inside validation and out-of-memory error scopes and returns the first
    /// error either captured, or one that escaped an earlier scope.
    ///
    /// # Errors
    /// [`Error::Gpu`] naming `operation`.
    pub(crate) fn scoped<T>(&self, operation: &str, f: impl FnOnce() -> T) -> Result<T> {
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation_error = pollster::block_on(validation.pop());
        let memory_error = pollster::block_on(memory.pop());
        if let Some(error) = validation_error.or(memory_error) {
            return Err(gpu_error(operation, error.to_string()));
        }
        self.take_uncaptured(operation)?;
        Ok(value)
    }

    /// Returns an error that escaped every error scope, if one did.
    pub(crate) fn take_uncaptured(&self, operation: &str) -> Result<()> {
        match lock(&self.uncaptured).take() {
            Some(message) => Err(gpu_error(operation, message)),
            None => Ok(()),
        }
    }
}

fn gpu_error(operation: &str, message: String) -> Error {
    Error::Gpu {
        operation: operation.to_string(),
        message,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent even if a panic interrupted a holder, because every
    // insertion is a single call.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn choose_adapter(
    instance: &wgpu::Instance,
    backends: wgpu::Backends,
) -> Result<wgpu::Adapter> {
    let no_adapter = |hint: String| Error::NoAdapter {
        backends: format!("{backends:?}"),
        hint,
    };
    if backends.is_empty() {
        let value = std::env::var("WGPU_BACKEND").unwrap_or_default();
        return Err(no_adapter(format!(
            "WGPU_BACKEND={value:?} names no known backend; use vulkan, metal, dx12 or gl, \
             or unset it"
        )));
    }
    if let Ok(requested) = std::env::var("WGPU_ADAPTER_NAME") {
        let requested_lower = requested.to_lowercase();
        let adapters = instance.enumerate_adapters(backends).await;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&requested_lower))
            .ok_or_else(|| {
                no_adapter(format!(
                    "no adapter name contains WGPU_ADAPTER_NAME={requested:?}; the adapters are \
                     {names:?}, so set it to part of one of those names, or unset it"
                ))
            });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            ..Default::default()
        })
        .await
        .map_err(|_| {
            no_adapter(
                "install a Vulkan, Metal or DX12 driver (on Linux without a GPU: the \
                 mesa-vulkan-drivers package), or use the CPU path"
                    .to_string(),
            )
        })
}

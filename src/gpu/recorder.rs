//! Records kernel dispatches into one command encoder and submits them together.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, PipelineSpec};

/// Past this many cached bind groups the cache is emptied, so that a long-running
/// process that predicts on many different batch sizes does not grow without bound.
const MAX_CACHED_BIND_GROUPS: usize = 4096;

/// Identity of a bind group: its pipeline, its buffers in binding order and the bytes
/// of its uniform parameters.
type BindKey = (wgpu::ComputePipeline, Vec<wgpu::Buffer>, Vec<u8>);

/// Collects dispatches into one compute pass until [`Recorder::submit`].
///
/// Bind groups and their uniform buffers are created on first use and reused, so a
/// training step that repeats the same dispatches allocates nothing.
pub struct Recorder {
    ctx: Arc<GpuContext>,
    // Declared before `encoder`: the pass must be dropped before the encoder finishes.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("ctx", &self.ctx)
            .field("recording", &self.pass.is_some())
            .field("cached_bind_groups", &self.bind_groups.len())
            .finish()
    }
}

impl Recorder {
    /// Creates a recorder with nothing recorded.
    pub fn new(ctx: Arc<GpuContext>) -> Self {
        Recorder {
            ctx,
            pass: None,
            encoder: None,
            bind_groups: HashMap::new(),
        }
    }

    /// The context dispatches are recorded for.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Records one dispatch of the pipeline described by `spec`.
    ///
    /// `reads` and `writes` are bound in that order, followed by a uniform buffer that
    /// contains `params`. `workgroups` is the dispatch size; a zero anywhere skips the
    /// dispatch.
    ///
    /// # Errors
    /// [`Error::Gpu`] when the pipeline or the bind group is rejected, and
    /// [`Error::InvalidConfig`] when `workgroups` exceeds the device's per-dimension
    /// limit.
    pub fn dispatch<P: bytemuck::Pod>(
        &mut self,
        spec: &PipelineSpec<'_>,
        reads: &[&wgpu::Buffer],
        writes: &[&wgpu::Buffer],
        params: &P,
        workgroups: [u32; 3],
    ) -> Result<()> {
        debug_assert_eq!(reads.len() as u32, spec.reads, "{}", spec.label);
        debug_assert_eq!(writes.len() as u32, spec.writes, "{}", spec.label);
        if workgroups.contains(&0) {
            return Ok(());
        }
        let max = self.ctx.max_workgroups_per_dimension();
        if workgroups.iter().any(|&count| count > max) {
            return Err(Error::config(
                "dispatch size",
                format!("{workgroups:?} workgroups for {}", spec.label),
                format!("dispatches on this context allow at most {max} workgroups per dimension"),
            ));
        }
        let pipeline = self.ctx.pipeline(spec)?;
        let bind_group = self.bind_group(spec, &pipeline, reads, writes, params)?;

        if self.pass.is_none() {
            let encoder = self.encoder.get_or_insert_with(|| new_encoder(&self.ctx));
            let pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("recorder.pass"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        let pass = self.pass.as_mut().expect("the pass was created above");
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        Ok(())
    }

    fn bind_group<P: bytemuck::Pod>(
        &mut self,
        spec: &PipelineSpec<'_>,
        pipeline: &wgpu::ComputePipeline,
        reads: &[&wgpu::Buffer],
        writes: &[&wgpu::Buffer],
        params: &P,
    ) -> Result<wgpu::BindGroup> {
        let buffers: Vec<wgpu::Buffer> = reads.iter().chain(writes).map(|&b| b.clone()).collect();
        let key: BindKey = (
            pipeline.clone(),
            buffers,
            bytemuck::bytes_of(params).to_vec(),
        );
        if let Some(group) = self.bind_groups.get(&key) {
            return Ok(group.clone());
        }
        if self.bind_groups.len() >= MAX_CACHED_BIND_GROUPS {
            self.bind_groups.clear();
        }

        let ctx = &self.ctx;
        let operation = format!("binding buffers for {:?}", spec.label);
        let group = ctx.scoped(&operation, || {
            let uniform = ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{}.params", spec.label)),
                size: std::mem::size_of::<P>().max(16) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue()
                .write_buffer(&uniform, 0, bytemuck::bytes_of(params));
            let mut entries: Vec<wgpu::BindGroupEntry<'_>> = key
                .1
                .iter()
                .enumerate()
                .map(|(i, buffer)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: buffer.as_entire_binding(),
                })
                .collect();
            entries.push(wgpu::BindGroupEntry {
                binding: entries.len() as u32,
                resource: uniform.as_entire_binding(),
            });
            ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(spec.label),
                layout: &ctx.bind_group_layout(spec.reads, spec.writes),
                entries: &entries,
            })
        })?;
        self.bind_groups.insert(key, group.clone());
        Ok(group)
    }

    /// Runs `f` on the open command encoder, outside the compute pass, so that copies
    /// and clears stay in order with the dispatches around them.
    pub fn with_encoder(&mut self, f: impl FnOnce(&mut wgpu::CommandEncoder)) {
        // Ending the pass keeps the order: commands recorded so far run first.
        self.pass = None;
        let encoder = self.encoder.get_or_insert_with(|| new_encoder(&self.ctx));
        f(encoder);
    }

    /// Submits everything recorded since the last submission, without waiting for it.
    ///
    /// # Errors
    /// [`Error::Gpu`] when wgpu rejects the recorded commands.
    pub fn submit(&mut self) -> Result<()> {
        self.pass = None;
        let Some(encoder) = self.encoder.take() else {
            return Ok(());
        };
        let ctx = &self.ctx;
        ctx.scoped("submitting recorded GPU work", || {
            ctx.queue().submit([encoder.finish()]);
        })?;
        // A non-blocking poll lets wgpu free the staging memory of finished submissions.
        let _ = ctx.device().poll(wgpu::PollType::Poll);
        Ok(())
    }
}

fn new_encoder(ctx: &GpuContext) -> wgpu::CommandEncoder {
    ctx.device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("recorder"),
        })
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // The pass borrows the encoder's recording state, so end it first.
        self.pass = None;
    }
}

//! Device buffers that know their shape.

use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// A row-major `[rows, cols]` matrix of f32 (or of u32 labels) in a GPU storage buffer.
///
/// The buffer's size is rounded up to a multiple of 16 bytes, at least 16, so that a
/// matrix with no elements can still be bound and kernels can read and write whole vec4
/// groups. The padding starts at zero and only kernels that keep it zero write it.
#[derive(Clone, Debug)]
pub struct GpuTensor {
    buffer: wgpu::Buffer,
    rows: usize,
    cols: usize,
    label: String,
}

impl GpuTensor {
    /// Allocates a zero-filled `[rows, cols]` matrix of 4-byte elements.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`] when the matrix exceeds the device's buffer size or
    /// storage-binding limit.
    pub fn zeros(ctx: &GpuContext, rows: usize, cols: usize, label: &str) -> Result<Self> {
        let bytes = (rows as u64)
            .saturating_mul(cols as u64)
            .saturating_mul(4)
            .max(16)
            .checked_next_multiple_of(16)
            .unwrap_or(u64::MAX);
        let limits = ctx.limits();
        let too_large = |limit: u64, what| Error::BufferTooLarge {
            label: label.to_string(),
            bytes,
            limit,
            what,
        };
        if bytes > limits.max_buffer_size {
            return Err(too_large(limits.max_buffer_size, "buffer"));
        }
        if bytes > limits.max_storage_buffer_binding_size {
            return Err(too_large(
                limits.max_storage_buffer_binding_size,
                "storage binding",
            ));
        }
        let buffer = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuTensor {
            buffer,
            rows,
            cols,
            label: label.to_string(),
        })
    }

    /// Allocates a `[rows, cols]` matrix and uploads `data` into it.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data` does not hold `rows · cols` elements, and the
    /// errors of [`GpuTensor::zeros`].
    pub fn from_slice<T: bytemuck::Pod>(
        ctx: &GpuContext,
        rows: usize,
        cols: usize,
        data: &[T],
        label: &str,
    ) -> Result<Self> {
        let tensor = Self::zeros(ctx, rows, cols, label)?;
        tensor.write_rows(ctx, data)?;
        Ok(tensor)
    }

    /// Uploads `data` into the first `data.len() / cols` rows.
    ///
    /// The write is ordered before any work submitted afterwards.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data` is not a whole number of rows, or has more
    /// rows than the matrix.
    pub fn write_rows<T: bytemuck::Pod>(&self, ctx: &GpuContext, data: &[T]) -> Result<()> {
        debug_assert_eq!(std::mem::size_of::<T>(), 4);
        let whole_rows = data.len().is_multiple_of(self.cols);
        if !whole_rows || data.len() > self.len() {
            return Err(Error::ShapeMismatch {
                operation: "upload",
                lhs: "data",
                lhs_shape: vec![data.len()],
                rhs: "tensor",
                rhs_shape: vec![self.rows, self.cols],
            });
        }
        if !data.is_empty() {
            ctx.queue()
                .write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Copies the first `rows` rows back to the host, waiting for all submitted work.
    ///
    /// # Errors
    /// [`Error::Readback`] when mapping fails, [`Error::Gpu`] when earlier work failed.
    pub fn read_rows<T: bytemuck::Pod>(&self, ctx: &GpuContext, rows: usize) -> Result<Vec<T>> {
        let len = rows.min(self.rows) * self.cols;
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * 4) as u64;
        let device = ctx.device();
        let staging = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("{}.staging", self.label)),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some(&format!("{}.readback", self.label)),
        });
        encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, bytes);
        ctx.scoped("readback", || ctx.queue().submit([encoder.finish()]))?;

        let (sender, receiver) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver outlives this callback, which runs inside the poll below.
            let _ = sender.send(result);
        });
        let readback_error = |message: String| Error::Readback {
            label: self.label.clone(),
            message,
        };
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| readback_error(e.to_string()))?;
        receiver
            .recv()
            .map_err(|e| readback_error(e.to_string()))?
            .map_err(|e| readback_error(e.to_string()))?;
        let values = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| readback_error(e.to_string()))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        staging.unmap();
        Ok(values)
    }

    /// The wgpu buffer.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of elements, `rows · cols`.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the matrix has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label given at allocation.
    pub fn label(&self) -> &str {
        &self.label
    }
}

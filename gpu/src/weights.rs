//! Named tensors from safetensors files in the operator's `--weights`
//! directory. Files are memory-mapped and each tensor is copied once, from
//! the mapping straight into a GPU upload buffer; the guest never holds the
//! bytes. Loaded tensors are cached per model, so every instance of the
//! model shares one copy (charged once to the model's GPU quota).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

use super::session::{granule, upload_buffer};
use super::tensor::{DType, Quota, Tensor, TensorError};
use super::Gpu;

/// One model's view of the weights directory.
pub struct WeightStore {
    /// The granted directory, canonical when it could be resolved.
    dir: Option<PathBuf>,
    files: Mutex<HashMap<PathBuf, Arc<Mapped>>>,
    tensors: Mutex<HashMap<(PathBuf, String), Tensor>>,
}

/// A mapped file and its header, parsed (and validated) once.
struct Mapped {
    map: Mmap,
    /// Where the tensor data starts: after the length prefix and header.
    data_start: usize,
    meta: Metadata,
}

impl WeightStore {
    /// `dir`: what `serve --weights` granted, if anything.
    pub fn new(dir: Option<PathBuf>) -> WeightStore {
        WeightStore {
            dir: dir.map(|d| d.canonicalize().unwrap_or(d)),
            files: Mutex::new(HashMap::new()),
            tensors: Mutex::new(HashMap::new()),
        }
    }

    /// Tensor `name` of `file`, uploaded on first use.
    pub fn load(
        &self,
        gpu: &Gpu,
        quota: &Arc<Quota>,
        file: &str,
        name: &str,
    ) -> Result<Tensor, TensorError> {
        let path = self.resolve(file)?;
        let key = (path.clone(), name.to_string());
        // Held across the upload so two instances never upload one tensor twice.
        let mut tensors = self.tensors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tensors.get(&key) {
            return Ok(t.clone());
        }
        let mapped = self.map(&path, file)?;
        let info = mapped
            .meta
            .info(name)
            .ok_or_else(|| TensorError::NotFound(format!("{file} has no tensor named {name:?}")))?;
        let dtype = match info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::I32 => DType::I32,
            Dtype::U32 => DType::U32,
            // Kept at half size: the kernels widen as they load.
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(TensorError::DType(format!(
                    "{file}:{name} is {other:?}; the host loads F32, F16, BF16, I32 and U32 tensors"
                )))
            }
        };
        let shape = info.shape.clone();
        let (start, end) = info.data_offsets;
        let data = &mapped.map[mapped.data_start + start..mapped.data_start + end];
        let size = granule(data.len() as u64);
        if size > gpu.max_tensor_bytes() {
            return Err(TensorError::OutOfMemory(format!(
                "{file}:{name} takes {} bytes; this GPU binds {} at most",
                data.len(),
                gpu.max_tensor_bytes()
            )));
        }
        quota.charge(size)?;
        let buf = upload_buffer(gpu, quota, data, size)?;
        let tensor = Tensor::new(Arc::new(buf), shape, dtype);
        tensors.insert(key, tensor.clone());
        Ok(tensor)
    }

    /// The tensor names in `file`, sorted.
    pub fn names(&self, file: &str) -> Result<Vec<String>, TensorError> {
        let path = self.resolve(file)?;
        let mut names: Vec<String> = self.map(&path, file)?.meta.tensors().into_keys().collect();
        names.sort();
        Ok(names)
    }

    /// `file` inside the granted directory, refusing anything that would
    /// leave it (absolute paths, `..`, symlinks pointing out).
    fn resolve(&self, file: &str) -> Result<PathBuf, TensorError> {
        let dir = self.dir.as_ref().ok_or_else(|| {
            TensorError::NotFound("no weights directory was granted (serve --weights DIR)".into())
        })?;
        let rel = Path::new(file);
        if file.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(TensorError::NotFound(format!(
                "{file:?} is not a plain relative path inside the weights directory"
            )));
        }
        let path = dir
            .join(rel)
            .canonicalize()
            .map_err(|e| TensorError::NotFound(format!("{file}: {e}")))?;
        if !path.starts_with(dir) {
            return Err(TensorError::NotFound(format!(
                "{file} leads outside the weights directory"
            )));
        }
        Ok(path)
    }

    fn map(&self, path: &Path, file: &str) -> Result<Arc<Mapped>, TensorError> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = files.get(path) {
            return Ok(Arc::clone(m));
        }
        let f = File::open(path).map_err(|e| TensorError::NotFound(format!("{file}: {e}")))?;
        // SAFETY: the operator grants the directory read-only for serving;
        // a file truncated underneath a live server could fault, which is
        // the usual contract of serving from memory-mapped weights.
        let map = unsafe { Mmap::map(&f) }
            .map_err(|e| TensorError::Device(format!("cannot map {file}: {e}")))?;
        let (header, meta) = SafeTensors::read_metadata(&map).map_err(|e| {
            TensorError::InvalidArgument(format!("{file} is not a valid safetensors file: {e}"))
        })?;
        let mapped = Arc::new(Mapped {
            map,
            data_start: 8 + header,
            meta,
        });
        files.insert(path.to_owned(), Arc::clone(&mapped));
        Ok(mapped)
    }
}

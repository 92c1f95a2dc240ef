//! Layout ops: reshape (no copy), permute/transpose, slice, concat and
//! index-select (`shaders/layout.wgsl`), dtype-blind over 32-bit words.
//! Half tensors (two elements a word) go through f32 and back, which is
//! exact; moving them natively would need kernels that never split a word
//! between invocations.

use bytemuck::{Pod, Zeroable};

use crate::kernels::Kernel;
use crate::shape::{self, grid_for};
use crate::{DType, Session, Tensor, TensorError};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Layout {
    n: u32,
    rank: u32,
    in_offset: u32,
    out_offset: u32,
    shape: [u32; 8],
    in_strides: [u32; 8],
    out_strides: [u32; 8],
    sel: [u32; 4],
    signed_idx: u32,
    _pad: [u32; 3],
}

fn to_u32(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&x| x as u32).collect()
}

impl Session {
    /// The same data under a new shape; one entry may be -1 (inferred).
    pub fn reshape(&mut self, x: &Tensor, shape: &[i64]) -> Result<Tensor, TensorError> {
        let bad = || {
            TensorError::Shape(format!(
                "cannot reshape {:?} ({} elements) to {shape:?}",
                x.shape(),
                x.numel()
            ))
        };
        if shape.iter().filter(|&&d| d == -1).count() > 1 || shape.iter().any(|&d| d < -1) {
            return Err(bad());
        }
        let known: usize = shape
            .iter()
            .filter(|&&d| d >= 0)
            .map(|&d| d as usize)
            .product();
        let out: Vec<usize> = shape
            .iter()
            .map(|&d| {
                if d == -1 {
                    if known == 0 || x.numel() % known != 0 {
                        Err(bad())
                    } else {
                        Ok(x.numel() / known)
                    }
                } else {
                    Ok(d as usize)
                }
            })
            .collect::<Result<_, _>>()?;
        if out.iter().product::<usize>() != x.numel() {
            return Err(bad());
        }
        Ok(x.with_shape(out))
    }

    /// Result axis i is input axis `dims[i]`.
    pub fn permute(&mut self, x: &Tensor, dims: &[u32]) -> Result<Tensor, TensorError> {
        if x.dtype().is_half() {
            return self.through_f32(&[x], |s, w| s.permute(w[0], dims));
        }
        let rank = x.shape().len();
        let mut seen = vec![false; rank];
        if dims.len() != rank
            || dims
                .iter()
                .any(|&d| (d as usize) >= rank || std::mem::replace(&mut seen[d as usize], true))
        {
            return Err(TensorError::InvalidArgument(format!(
                "permute: {dims:?} is not a permutation of the {rank} axes of {:?}",
                x.shape()
            )));
        }
        shape::max_rank(x.shape(), "permute")?;
        let in_strides = shape::strides(x.shape());
        let out_shape: Vec<usize> = dims.iter().map(|&d| x.shape()[d as usize]).collect();
        let src: Vec<usize> = dims.iter().map(|&d| in_strides[d as usize]).collect();
        let out = self.alloc(out_shape.clone(), x.dtype())?;
        self.copy_view(x, &out, &out_shape, &src, 0, &shape::strides(&out_shape), 0)?;
        Ok(out)
    }

    pub fn transpose(&mut self, x: &Tensor, a: u32, b: u32) -> Result<Tensor, TensorError> {
        let rank = x.shape().len();
        shape::axis(a, rank, "transpose")?;
        shape::axis(b, rank, "transpose")?;
        let mut dims: Vec<u32> = (0..rank as u32).collect();
        dims.swap(a as usize, b as usize);
        self.permute(x, &dims)
    }

    /// Elements [start, end) along `axis`.
    pub fn slice(
        &mut self,
        x: &Tensor,
        axis: u32,
        start: u32,
        end: u32,
    ) -> Result<Tensor, TensorError> {
        if x.dtype().is_half() {
            return self.through_f32(&[x], |s, w| s.slice(w[0], axis, start, end));
        }
        let a = shape::axis(axis, x.shape().len(), "slice")?;
        let len = x.shape()[a];
        if start > end || end as usize > len {
            return Err(TensorError::InvalidArgument(format!(
                "slice [{start}, {end}) is out of range for axis {a} of {:?}",
                x.shape()
            )));
        }
        shape::max_rank(x.shape(), "slice")?;
        let mut out_shape = x.shape().to_vec();
        out_shape[a] = (end - start) as usize;
        let in_strides = shape::strides(x.shape());
        let out = self.alloc(out_shape.clone(), x.dtype())?;
        let offset = start as usize * in_strides[a];
        self.copy_view(
            x,
            &out,
            &out_shape,
            &in_strides,
            offset,
            &shape::strides(&out_shape),
            0,
        )?;
        Ok(out)
    }

    /// Joins tensors that agree on every axis but `axis`.
    pub fn concat(&mut self, parts: &[&Tensor], axis: u32) -> Result<Tensor, TensorError> {
        let first = parts.first().ok_or_else(|| {
            TensorError::InvalidArgument("concat needs at least one tensor".into())
        })?;
        if first.dtype().is_half() && parts.iter().all(|p| p.dtype() == first.dtype()) {
            return self.through_f32(parts, |s, w| s.concat(w, axis));
        }
        let a = shape::axis(axis, first.shape().len(), "concat")?;
        shape::max_rank(first.shape(), "concat")?;
        let mut out_shape = first.shape().to_vec();
        out_shape[a] = 0;
        for p in parts {
            let same = p.shape().len() == first.shape().len()
                && p.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (x, y))| i == a || x == y);
            if !same {
                return Err(TensorError::Shape(format!(
                    "concat along axis {a}: {:?} does not match {:?}",
                    p.shape(),
                    first.shape()
                )));
            }
            if p.dtype() != first.dtype() {
                return Err(TensorError::DType(format!(
                    "concat: {} and {} tensors do not mix",
                    first.dtype(),
                    p.dtype()
                )));
            }
            out_shape[a] += p.shape()[a];
        }
        let out = self.alloc(out_shape.clone(), first.dtype())?;
        let out_strides = shape::strides(&out_shape);
        let mut at = 0;
        for p in parts {
            let offset = at * out_strides[a];
            self.copy_view(
                p,
                &out,
                p.shape(),
                &shape::strides(p.shape()),
                0,
                &out_strides,
                offset,
            )?;
            at += p.shape()[a];
        }
        Ok(out)
    }

    /// Entries of `axis` picked by a 1-D index tensor.
    pub fn index_select(
        &mut self,
        x: &Tensor,
        axis: u32,
        indices: &Tensor,
    ) -> Result<Tensor, TensorError> {
        if x.dtype().is_half() {
            return self.through_f32(&[x], |s, w| s.index_select(w[0], axis, indices));
        }
        let a = shape::axis(axis, x.shape().len(), "index_select")?;
        if !matches!(indices.dtype(), DType::I32 | DType::U32) || indices.shape().len() != 1 {
            return Err(TensorError::DType(format!(
                "index_select takes a 1-D i32 or u32 index tensor, got {} {:?}",
                indices.dtype(),
                indices.shape()
            )));
        }
        let s = x.shape();
        let outer: usize = s[..a].iter().product();
        let inner: usize = s[a + 1..].iter().product();
        let picks = indices.shape()[0];
        let mut out_shape = s.to_vec();
        out_shape[a] = picks;
        let out = self.alloc(out_shape, x.dtype())?;
        let n = out.numel();
        let params = Layout {
            n: n as u32,
            sel: [outer as u32, s[a] as u32, picks as u32, inner.max(1) as u32],
            signed_idx: (indices.dtype() == DType::I32) as u32,
            ..Zeroable::zeroed()
        };
        self.dispatch(
            Kernel::IndexSelect,
            bytemuck::bytes_of(&params),
            &[x.buffer(), indices.buffer()],
            out.buffer(),
            grid_for(n),
        )?;
        Ok(out)
    }

    /// Runs a layout op on half tensors (all of one type) through f32 copies,
    /// and narrows the result back to that type.
    fn through_f32(
        &mut self,
        xs: &[&Tensor],
        op: impl FnOnce(&mut Session, &[&Tensor]) -> Result<Tensor, TensorError>,
    ) -> Result<Tensor, TensorError> {
        let narrow = xs[0].dtype();
        let wide = xs
            .iter()
            .map(|x| self.cast(x, DType::F32))
            .collect::<Result<Vec<_>, _>>()?;
        let result = op(self, &wide.iter().collect::<Vec<_>>());
        for w in wide {
            self.release(w);
        }
        let result = result?;
        let out = self.cast(&result, narrow);
        self.release(result);
        out
    }

    /// Copies the `shape`-shaped view of `from` (element strides and offset)
    /// into the view of `to`.
    #[allow(clippy::too_many_arguments)]
    fn copy_view(
        &mut self,
        from: &Tensor,
        to: &Tensor,
        shape: &[usize],
        from_strides: &[usize],
        from_offset: usize,
        to_strides: &[usize],
        to_offset: usize,
    ) -> Result<(), TensorError> {
        let n: usize = shape.iter().product();
        let params = Layout {
            n: n as u32,
            rank: shape.len() as u32,
            in_offset: from_offset as u32,
            out_offset: to_offset as u32,
            shape: shape::pack8(&to_u32(shape)),
            in_strides: shape::pack8(&to_u32(from_strides)),
            out_strides: shape::pack8(&to_u32(to_strides)),
            ..Zeroable::zeroed()
        };
        self.dispatch(
            Kernel::Copy,
            bytemuck::bytes_of(&params),
            &[from.buffer()],
            to.buffer(),
            grid_for(n),
        )
    }
}

//! Shape arithmetic shared by the ops: broadcasting, strides, axes, and
//! packing small vectors into the kernels' uniform blocks.

use super::tensor::TensorError;

/// Highest rank the strided kernels (elementwise, layout) index.
pub const MAX_RANK: usize = 8;

/// NumPy broadcasting of two shapes, aligned on the right.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let x = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let y = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Row-major element strides of a contiguous tensor.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides that read a contiguous `shape` as if it had shape `out` (which
/// it broadcasts to): 0 along stretched and missing axes.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<u32> {
    let own = strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < lead || shape[i - lead] == 1 {
                0
            } else {
                own[i - lead] as u32
            }
        })
        .collect()
}

/// Checks an axis against a rank.
pub fn axis(axis: u32, rank: usize, op: &str) -> Result<usize, TensorError> {
    let a = axis as usize;
    if a >= rank {
        return Err(TensorError::InvalidArgument(format!(
            "{op}: axis {axis} is out of range for a rank-{rank} tensor"
        )));
    }
    Ok(a)
}

/// Refuses ranks the strided kernels cannot index.
pub fn max_rank(shape: &[usize], op: &str) -> Result<(), TensorError> {
    if shape.len() > MAX_RANK {
        return Err(TensorError::Shape(format!(
            "{op} takes tensors of rank {MAX_RANK} at most, got {shape:?}"
        )));
    }
    Ok(())
}

/// Up to 8 values as the kernels' `array<vec4<u32>, 2>`.
pub fn pack8(values: &[u32]) -> [u32; 8] {
    let mut out = [0; 8];
    out[..values.len()].copy_from_slice(values);
    out
}

/// Workgroups as a 2-D grid: a dimension holds 65535 at most.
pub fn grid(workgroups: usize) -> [u32; 3] {
    const MAX: usize = 65535;
    if workgroups <= MAX {
        [workgroups as u32, 1, 1]
    } else {
        [MAX as u32, workgroups.div_ceil(MAX) as u32, 1]
    }
}

/// Workgroups of 256 invocations covering `n` elements.
pub fn grid_for(n: usize) -> [u32; 3] {
    grid(n.div_ceil(256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast(&[4, 1, 3], &[2, 1]), Some(vec![4, 2, 3]));
        assert_eq!(broadcast(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast(&[2, 3], &[2]), None);
        assert_eq!(broadcast_strides(&[2, 1], &[4, 2, 3]), vec![0, 1, 0]);
        assert_eq!(broadcast_strides(&[3], &[2, 3]), vec![0, 1]);
    }

    #[test]
    fn grids_fold_into_two_dimensions() {
        assert_eq!(grid_for(1), [1, 1, 1]);
        assert_eq!(grid_for(256 * 65535), [65535, 1, 1]);
        assert_eq!(grid_for(256 * 65535 + 1), [65535, 2, 1]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}

//! The numpy routines the reference's trajectory analysis leans on, ported
//! with numpy's own rules (edge handling, summation order, interpolation
//! ties), so the port's numbers round to the reference's.

use super::Failed;

pub type P2 = [f64; 2];

pub fn sub(a: P2, b: P2) -> P2 {
    [a[0] - b[0], a[1] - b[1]]
}

pub fn add(a: P2, b: P2) -> P2 {
    [a[0] + b[0], a[1] + b[1]]
}

pub fn scale(a: P2, k: f64) -> P2 {
    [a[0] * k, a[1] * k]
}

pub fn norm(a: P2) -> f64 {
    (a[0] * a[0] + a[1] * a[1]).sqrt()
}

/// The length of each step along a polyline.
pub fn steps(p: &[P2]) -> Vec<f64> {
    p.windows(2).map(|w| norm(sub(w[1], w[0]))).collect()
}

/// `concatenate([0], cumsum(x))`: the distance covered by each point.
pub fn cumsum0(x: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len() + 1);
    let mut acc = 0.0;
    out.push(acc);
    for v in x {
        acc += v;
        out.push(acc);
    }
    out
}

pub fn column(p: &[P2], j: usize) -> Vec<f64> {
    p.iter().map(|v| v[j]).collect()
}

pub fn zip2(x: &[f64], y: &[f64]) -> Vec<P2> {
    x.iter().zip(y).map(|(&a, &b)| [a, b]).collect()
}

/// `np.sum` of a contiguous 1-D array: pairwise summation in blocks of 128
/// with eight accumulators.
pub fn sum(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 8 {
        let mut s = -0.0;
        for &v in x {
            s += v;
        }
        return s;
    }
    if n <= 128 {
        let mut r = [x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]];
        let mut i = 8;
        while i < n - n % 8 {
            for k in 0..8 {
                r[k] += x[i + k];
            }
            i += 8;
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &x[i..] {
            s += v;
        }
        return s;
    }
    let mut half = n / 2;
    half -= half % 8;
    sum(&x[..half]) + sum(&x[half..])
}

pub fn mean(x: &[f64]) -> f64 {
    sum(x) / x.len() as f64
}

/// `a.mean(0)` of an (n, 2) array: numpy adds the rows in order.
pub fn mean_rows(p: &[P2]) -> P2 {
    let mut s = [0.0, 0.0];
    for v in p {
        s = add(s, *v);
    }
    [s[0] / p.len() as f64, s[1] / p.len() as f64]
}

pub fn max(x: &[f64]) -> f64 {
    x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

pub fn min(x: &[f64]) -> f64 {
    x.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn rms(x: &[f64]) -> f64 {
    let sq: Vec<f64> = x.iter().map(|v| v * v).collect();
    mean(&sq).sqrt()
}

/// `np.argmax`: the first index of the largest value.
pub fn argmax(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

pub fn argmin(x: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v < x[best] {
            best = i;
        }
    }
    best
}

/// `np.interp` at one point (xp ascending).
pub fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let n = xp.len();
    if n == 1 {
        return fp[0];
    }
    if x.is_nan() {
        return x;
    }
    if x < xp[0] {
        return fp[0];
    }
    if x > xp[n - 1] {
        return fp[n - 1];
    }
    let j = xp.partition_point(|&v| v <= x).saturating_sub(1);
    if j == n - 1 || xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let y = slope * (x - xp[j]) + fp[j];
    if !y.is_nan() {
        return y;
    }
    let y = slope * (x - xp[j + 1]) + fp[j + 1];
    if y.is_nan() && fp[j] == fp[j + 1] {
        fp[j]
    } else {
        y
    }
}

/// `np.interp(arange(n), idx, values[idx])`: fill the frames not in `idx`.
pub fn fill(n: usize, idx: &[usize], values: &[f64]) -> Vec<f64> {
    let xp: Vec<f64> = idx.iter().map(|&i| i as f64).collect();
    let fp: Vec<f64> = idx.iter().map(|&i| values[i]).collect();
    (0..n).map(|i| interp(i as f64, &xp, &fp)).collect()
}

/// `np.gradient` with unit spacing: central inside, one-sided at the ends.
pub fn gradient(x: &[f64]) -> Result<Vec<f64>, Failed> {
    let n = x.len();
    if n < 2 {
        return Err(Failed("gradient of fewer than two frames"));
    }
    let mut g = vec![0.0; n];
    for i in 1..n - 1 {
        g[i] = (x[i + 1] - x[i - 1]) / 2.0;
    }
    g[0] = x[1] - x[0];
    g[n - 1] = x[n - 1] - x[n - 2];
    Ok(g)
}

pub fn gradient2(p: &[P2]) -> Result<Vec<P2>, Failed> {
    Ok(zip2(&gradient(&column(p, 0))?, &gradient(&column(p, 1))?))
}

/// `norm(gradient(p), axis=1) * fps`: speed per frame.
pub fn speeds(p: &[P2], fps: f64) -> Result<Vec<f64>, Failed> {
    Ok(gradient2(p)?.iter().map(|g| norm(*g) * fps).collect())
}

/// numpy's floating modulo: the sign of the divisor.
fn pymod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m + b
    } else if m == 0.0 {
        0.0f64.copysign(b)
    } else {
        m
    }
}

/// `np.unwrap`: no jump between neighbours larger than π.
pub fn unwrap(p: &[f64]) -> Vec<f64> {
    use std::f64::consts::PI;
    let mut out = p.to_vec();
    let mut correction = 0.0;
    for i in 1..p.len() {
        let dd = p[i] - p[i - 1];
        let mut ddmod = pymod(dd + PI, 2.0 * PI) - PI;
        if ddmod == -PI && dd > 0.0 {
            ddmod = PI;
        }
        let mut fix = ddmod - dd;
        if dd.abs() < PI {
            fix = 0.0;
        }
        correction += fix;
        out[i] = p[i] + correction;
    }
    out
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// `np.percentile(x, q)`, linear method.
pub fn percentile(x: &[f64], q: f64) -> f64 {
    let v = sorted(x);
    let n = v.len();
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    if virtual_index >= (n - 1) as f64 {
        return v[n - 1];
    }
    let lo = virtual_index.floor();
    let t = virtual_index - lo;
    let (a, b) = (v[lo as usize], v[lo as usize + 1]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

pub fn median(x: &[f64]) -> f64 {
    let v = sorted(x);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `np.linspace(a, b, n)`: `a + i * step`, the last point exactly `b`.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    let step = (b - a) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + a).collect();
    v[n - 1] = b;
    v
}

/// Python's `round(x, digits)`: to the nearest decimal, ties to even, on the
/// exact binary value (Rust's fixed-precision formatting rounds the same way).
pub fn round(x: f64, digits: usize) -> f64 {
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// A monotone cubic through keys (the reference's own PCHIP variant).
pub fn pchip(tk: &[f64], yk: &[f64], t: &[f64]) -> Vec<f64> {
    let k = tk.len();
    let h: Vec<f64> = tk.windows(2).map(|w| w[1] - w[0]).collect();
    let d: Vec<f64> = (0..k - 1).map(|i| (yk[i + 1] - yk[i]) / h[i]).collect();
    let mut m = vec![0.0; k];
    for i in 1..k - 1 {
        if d[i - 1] * d[i] > 0.0 {
            let (w1, w2) = (2.0 * h[i] + h[i - 1], h[i] + 2.0 * h[i - 1]);
            m[i] = (w1 + w2) / (w1 / d[i - 1] + w2 / d[i]);
        }
    }
    m[0] = d[0];
    m[k - 1] = d[k - 2];
    t.iter()
        .map(|&x| {
            let i = (tk.partition_point(|&v| v < x) as isize - 1).clamp(0, k as isize - 2) as usize;
            let u = ((x - tk[i]) / h[i]).clamp(0.0, 1.0);
            // numpy squares by multiplying and cubes with libm's pow
            let (u2, u3) = (u * u, u.powf(3.0));
            let h00 = 2.0 * u3 - 3.0 * u2 + 1.0;
            let h10 = u3 - 2.0 * u2 + u;
            let h01 = -2.0 * u3 + 3.0 * u2;
            let h11 = u3 - u2;
            h00 * yk[i] + h10 * h[i] * m[i] + h01 * yk[i + 1] + h11 * h[i] * m[i + 1]
        })
        .collect()
}

/// Least squares `min |A x - b|` for a tall `A` (rows of `K` columns) and
/// `M` right-hand sides, by Householder QR. None when `A` is rank deficient.
pub fn lstsq<const K: usize, const M: usize>(
    a: &[[f64; K]],
    b: &[[f64; M]],
) -> Option<[[f64; M]; K]> {
    let n = a.len();
    if n < K {
        return None;
    }
    // column-major: each reflection works down whole columns
    let mut cols: Vec<Vec<f64>> = (0..K).map(|c| a.iter().map(|r| r[c]).collect()).collect();
    let mut rhs: Vec<Vec<f64>> = (0..M).map(|c| b.iter().map(|r| r[c]).collect()).collect();
    let largest = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let tiny = largest * n as f64 * f64::EPSILON;
    for c in 0..K {
        let alpha = cols[c][c..].iter().map(|x| x * x).sum::<f64>().sqrt();
        if alpha <= tiny {
            return None;
        }
        let alpha = if cols[c][c] > 0.0 { -alpha } else { alpha };
        let mut v: Vec<f64> = cols[c][c..].to_vec();
        v[0] -= alpha;
        let vv: f64 = v.iter().map(|x| x * x).sum();
        if vv == 0.0 {
            continue;
        }
        for col in cols[c..].iter_mut().chain(rhs.iter_mut()) {
            let f = 2.0 * v.iter().zip(&col[c..]).map(|(v, x)| v * x).sum::<f64>() / vv;
            for (x, v) in col[c..].iter_mut().zip(&v) {
                *x -= f * v;
            }
        }
    }
    let mut x = [[0.0; M]; K];
    for (m, col) in rhs.iter().enumerate() {
        for r in (0..K).rev() {
            let s: f64 = (r + 1..K).map(|k| cols[k][r] * x[k][m]).sum();
            x[r][m] = (col[r] - s) / cols[r][r];
        }
    }
    Some(x)
}

/// Centred moving average with a per-frame (fractional) width in frames: the
/// exact mean of the piecewise-linear signal over the window. One-shots
/// shrink the window at their ends; loops wrap, their travel repeating.
pub fn box_average(x: &[f64], width: &[f64], looped: bool) -> Vec<f64> {
    let n = x.len();
    let (xt, off) = if looped {
        let m = n - 1;
        let trend = x[n - 1] - x[0];
        let k = 3i32;
        let mut xt = Vec::with_capacity((2 * k as usize + 1) * m + 1);
        for c in -k..=k {
            xt.extend(x[..m].iter().map(|v| v + trend * c as f64));
        }
        xt.push(x[n - 1] + trend * k as f64);
        (xt, k as usize * m)
    } else {
        (x.to_vec(), 0)
    };
    let mut c = Vec::with_capacity(xt.len());
    c.push(0.0);
    let mut acc = 0.0;
    for w in xt.windows(2) {
        acc += (w[1] + w[0]) / 2.0;
        c.push(acc);
    }
    let grid: Vec<f64> = (0..xt.len()).map(|i| i as f64).collect();
    (0..n)
        .map(|i| {
            let h = if looped {
                width[i] / 2.0
            } else {
                (width[i] / 2.0).min(i as f64).min((n - 1 - i) as f64)
            };
            let u = (i + off) as f64;
            if h < 1e-6 {
                xt[i + off]
            } else {
                (interp(u + h, &grid, &c) - interp(u - h, &grid, &c)) / (2.0 * h)
            }
        })
        .collect()
}

pub fn box2(p: &[P2], width: &[f64], looped: bool) -> Vec<P2> {
    zip2(
        &box_average(&column(p, 0), width, looped),
        &box_average(&column(p, 1), width, looped),
    )
}

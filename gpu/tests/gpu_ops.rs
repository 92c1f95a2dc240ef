//! Every tensor op on the real GPU adapter (lavapipe in CI) against the CPU
//! reference in `motionmcp_gpu::reference`, on seeded random inputs of
//! odd sizes (1, 7, 33, 1000) and broadcasting shapes.
//!
//! Tolerances, per op, as |gpu - cpu| <= atol + rtol * |cpu|:
//! - elementwise maths, scale, clamp, binary ops, where, layout ops, casts:
//!   rtol 1e-5, atol 1e-6 (layout ops and casts must be exact and are);
//! - sin/cos: atol 1e-5 (GPU sin is specified in absolute error);
//! - atan2: rtol 3e-5, atol 5e-6. WGSL promises only 4096 ULP; lavapipe
//!   (Mesa's polynomial atan) measured at most 2.1e-5 relative (near 0) and
//!   3.6e-6 absolute (346 ULP) over 300k random pairs from 1e-3 to 1e20.
//!   Quadrants, the axes and +-0 against non-zero operands are checked
//!   one by one; at the origin WGSL's atan2 is indeterminate (lavapipe
//!   gives +-3pi/4 where IEEE and the reference give +-0 or +-pi), so only
//!   a finite angle in [-pi, pi] is asserted there;
//! - reductions, softmax, norms, matmul, linear, attention: rtol 1e-4,
//!   atol 1e-5 (sums of hundreds of terms in f32);
//! - rand: exact (integer arithmetic); randn: rtol 1e-5, atol 1e-5.

use std::sync::{Arc, OnceLock};

use motionmcp_gpu::reference::{self as cpu, Array};
use motionmcp_gpu::{
    BinaryOp, DType, Gpu, GpuChoice, GpuOptions, Quota, ReduceOp, Session, Tensor, TensorError,
    UnaryOp,
};

fn gpu() -> Arc<Gpu> {
    static GPU: OnceLock<Arc<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| Gpu::open(GpuChoice::Auto).expect("a GPU adapter (lavapipe in CI)"))
        .clone()
}

fn session() -> Session {
    Session::new(gpu(), Quota::new(1 << 30))
}

/// Deterministic inputs in [lo, hi): the CPU side of the random stream.
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    cpu::rand(n, seed)
        .into_iter()
        .map(|u| lo + (hi - lo) * u)
        .collect()
}

fn array(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Array {
    Array::new(values(shape.iter().product(), seed, lo, hi), shape)
}

fn upload(s: &mut Session, a: &Array) -> Tensor {
    s.from_f32(&a.data, &a.shape).unwrap()
}

#[track_caller]
fn close(what: &str, got: &[f32], want: &Array, rtol: f32, atol: f32) {
    assert_eq!(got.len(), want.data.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(&want.data).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan());
        assert!(
            ok,
            "{what}: element {i} of {:?}: gpu {g} vs cpu {w}",
            want.shape
        );
    }
}

#[track_caller]
fn check(s: &mut Session, what: &str, t: &Tensor, want: &Array, rtol: f32, atol: f32) {
    assert_eq!(t.shape(), &want.shape[..], "{what}: shape");
    let got = s.read_f32(t).unwrap();
    close(what, &got, want, rtol, atol);
}

const SIZES: [usize; 4] = [1, 7, 33, 1000];

#[test]
fn every_kernel_compiles_on_this_adapter() {
    let gpu = gpu();
    gpu.warm_up();
    assert_eq!(gpu.take_error(), None);
}

#[test]
fn unary_ops_match_the_reference() {
    let mut s = session();
    for (i, &n) in SIZES.iter().enumerate() {
        for op in UnaryOp::ALL {
            // Positive inputs where the op needs them.
            let (lo, hi) = match op {
                UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt => (0.01, 50.0),
                UnaryOp::Exp => (-20.0, 20.0),
                _ => (-8.0, 8.0),
            };
            let x = array(&[n], 100 + i as u64, lo, hi);
            let t = upload(&mut s, &x);
            let y = s.unary(&t, op).unwrap();
            let (rtol, atol) = match op {
                UnaryOp::Sin | UnaryOp::Cos => (0.0, 1e-5),
                _ => (1e-5, 1e-6),
            };
            check(
                &mut s,
                &format!("{op:?} n={n}"),
                &y,
                &cpu::unary(&x, op),
                rtol,
                atol,
            );
        }
    }
}

#[test]
fn gelu_is_accurate_in_its_negative_tail() {
    // Where 1 + erf(x) cancels, an erf-based kernel loses every digit; the
    // erfc form keeps a relative error of 1e-3 (bounded by the adapter's
    // exp, which lavapipe computes to about 1e-3 at these arguments) down
    // to results of 1e-10.
    let mut s = session();
    let x = Array::new((0..36).map(|i| -3.0 - i as f32 * 0.1).collect(), &[36]);
    let t = upload(&mut s, &x);
    let y = s.unary(&t, UnaryOp::Gelu).unwrap();
    check(
        &mut s,
        "gelu tail",
        &y,
        &cpu::unary(&x, UnaryOp::Gelu),
        1e-3,
        0.0,
    );
}

#[test]
fn scale_and_clamp_match_the_reference() {
    let mut s = session();
    for &n in &SIZES {
        let x = array(&[n], 7, -5.0, 5.0);
        let t = upload(&mut s, &x);
        let y = s.scale(&t, 0.37, -1.25).unwrap();
        check(
            &mut s,
            "scale",
            &y,
            &cpu::scale(&x, 0.37, -1.25),
            1e-5,
            1e-6,
        );
        let y = s.clamp(&t, -1.5, 2.0).unwrap();
        check(&mut s, "clamp", &y, &cpu::clamp(&x, -1.5, 2.0), 0.0, 0.0);
    }
    let t = s.full(&[3], 1.0).unwrap();
    assert!(matches!(
        s.clamp(&t, 2.0, 1.0),
        Err(TensorError::InvalidArgument(_))
    ));
}

#[test]
fn binary_ops_broadcast_like_numpy() {
    let mut s = session();
    let cases: &[(&[usize], &[usize])] = &[
        (&[1], &[1]),
        (&[7], &[7]),
        (&[33, 7], &[7]),
        (&[4, 1, 33], &[1000 / 40, 1]),
        (&[1000], &[]),
        (&[2, 3, 1, 5], &[3, 7, 1]),
    ];
    for (i, (sa, sb)) in cases.iter().enumerate() {
        for op in BinaryOp::ALL {
            let (lo, hi) = if op == BinaryOp::Pow {
                (0.1, 3.0)
            } else {
                (-4.0, 4.0)
            };
            let a = array(sa, 200 + i as u64, lo, hi);
            // Divisors kept away from zero.
            let b = if op == BinaryOp::Div {
                array(sb, 300 + i as u64, 0.5, 4.0)
            } else {
                array(sb, 300 + i as u64, lo, hi)
            };
            let (ta, tb) = (upload(&mut s, &a), upload(&mut s, &b));
            let y = s.binary(&ta, &tb, op).unwrap();
            let (rtol, atol) = if op == BinaryOp::Atan2 {
                ATAN2_TOL
            } else {
                (1e-5, 1e-6)
            };
            check(
                &mut s,
                &format!("{op:?} {sa:?} {sb:?}"),
                &y,
                &cpu::binary(&a, &b, op),
                rtol,
                atol,
            );
        }
    }
    let (a, b) = (s.full(&[2, 3], 1.0).unwrap(), s.full(&[2], 1.0).unwrap());
    assert!(matches!(
        s.binary(&a, &b, BinaryOp::Add),
        Err(TensorError::Shape(_))
    ));
}

/// atan2's (rtol, atol) against the f64 reference (see the module docs).
const ATAN2_TOL: (f32, f32) = (3e-5, 5e-6);

/// The angle's components, as y (= the receiver) and x (= the operand):
/// both signs of zero, every quadrant, the axes, and magnitudes from 1e-30
/// to 1e30 (normal floats only: WGSL may flush subnormals).
const ATAN2_YS: [f32; 14] = [
    0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 3.0, -0.125, 1e-30, -1e-30, 1e30, -1e30, 1e-6, -7e5,
];
const ATAN2_XS: [f32; 13] = [
    0.0, -0.0, 1.0, -1.0, 2.0, -0.5, 0.25, -3.0, 1e-30, -1e-30, 1e30, -1e30, 6e5,
];

#[test]
fn atan2_gives_the_angle_in_every_quadrant_and_on_the_axes() {
    // A column of y broadcast against a row of x: every pair once.
    let mut s = session();
    let y = Array::new(ATAN2_YS.to_vec(), &[ATAN2_YS.len(), 1]);
    let x = Array::new(ATAN2_XS.to_vec(), &[ATAN2_XS.len()]);
    let (ty, tx) = (upload(&mut s, &y), upload(&mut s, &x));
    let t = s.binary(&ty, &tx, BinaryOp::Atan2).unwrap();
    assert_eq!(t.shape(), &[ATAN2_YS.len(), ATAN2_XS.len()]);
    let got = s.read_f32(&t).unwrap();
    let want = cpu::binary(&y, &x, BinaryOp::Atan2);
    let (rtol, atol) = ATAN2_TOL;
    let pi = std::f32::consts::PI;
    for (i, (&g, &w)) in got.iter().zip(&want.data).enumerate() {
        let (yv, xv) = (ATAN2_YS[i / ATAN2_XS.len()], ATAN2_XS[i % ATAN2_XS.len()]);
        let what = format!("atan2({yv:e}, {xv:e}): gpu {g} vs cpu {w}");
        assert!((-pi..=pi).contains(&g), "{what}: out of [-pi, pi]");
        if yv == 0.0 && xv == 0.0 {
            // The origin: WGSL leaves atan2 indeterminate there (the
            // reference gives +-0 or +-pi by the signs); only a finite
            // angle is promised, checked above.
            continue;
        }
        if yv == 0.0 && xv < 0.0 {
            // On the negative x axis the angle is pi; IEEE picks the sign
            // of y (-0 gives -pi), the adapter may not: the same heading.
            assert!((g.abs() - pi).abs() <= atol + rtol * pi, "{what}");
            continue;
        }
        // Off the origin and the negative axis, the quadrant is exact: a
        // non-zero y keeps its sign, and the value is within tolerance.
        if yv != 0.0 && g != 0.0 {
            assert_eq!(g.is_sign_negative(), yv < 0.0, "{what}: quadrant");
        }
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{what}");
    }
}

#[test]
fn atan2_of_headings_is_their_difference() {
    // The yaw rate between headings t0 and t1, as models compute it:
    // atan2(sin t1 cos t0 - cos t1 sin t0, cos t1 cos t0 + sin t1 sin t0)
    // = t1 - t0 wrapped into [-pi, pi], on the GPU from end to end.
    let mut s = session();
    let n = 1000;
    let t0 = array(&[n], 31, -3.1, 3.1);
    let t1 = array(&[n], 32, -3.1, 3.1);
    let (a0, a1) = (upload(&mut s, &t0), upload(&mut s, &t1));
    let (s0, c0) = (
        s.unary(&a0, UnaryOp::Sin).unwrap(),
        s.unary(&a0, UnaryOp::Cos).unwrap(),
    );
    let (s1, c1) = (
        s.unary(&a1, UnaryOp::Sin).unwrap(),
        s.unary(&a1, UnaryOp::Cos).unwrap(),
    );
    let mul = |s: &mut Session, a: &Tensor, b: &Tensor| s.binary(a, b, BinaryOp::Mul).unwrap();
    let (p, q) = (mul(&mut s, &s1, &c0), mul(&mut s, &c1, &s0));
    let sin_d = s.binary(&p, &q, BinaryOp::Sub).unwrap();
    let (p, q) = (mul(&mut s, &c1, &c0), mul(&mut s, &s1, &s0));
    let cos_d = s.binary(&p, &q, BinaryOp::Add).unwrap();
    let d = s.binary(&sin_d, &cos_d, BinaryOp::Atan2).unwrap();
    let got = s.read_f32(&d).unwrap();
    let tau = std::f64::consts::TAU;
    for (i, &g) in got.iter().enumerate() {
        let raw = t1.data[i] as f64 - t0.data[i] as f64;
        let want = raw - tau * ((raw + std::f64::consts::PI) / tau).floor();
        // Angular distance, so that pi and -pi agree; sin and cos carry
        // their own 1e-5 (absolute) into the arguments.
        let diff = (g as f64 - want).rem_euclid(tau);
        let dist = diff.min(tau - diff);
        assert!(
            dist <= 5e-5,
            "heading {i}: {} -> {}: gpu {g} vs {want}",
            t0.data[i],
            t1.data[i]
        );
    }
}

#[test]
fn where_selects_with_broadcasting() {
    let mut s = session();
    let a = array(&[4, 33], 1, -1.0, 1.0);
    let b = array(&[33], 2, -1.0, 1.0);
    let bits: Vec<u32> = (0..4).map(|i| (i % 2) as u32).collect();
    let cond = s.from_u32(&bits, &[4, 1]).unwrap();
    let (ta, tb) = (upload(&mut s, &a), upload(&mut s, &b));
    let y = s.where_(&cond, &ta, &tb).unwrap();
    let bools: Vec<bool> = bits.iter().map(|&b| b != 0).collect();
    check(
        &mut s,
        "where",
        &y,
        &cpu::where_(&bools, &[4, 1], &a, &b),
        0.0,
        0.0,
    );
}

#[test]
fn matmul_matches_the_reference_at_odd_sizes() {
    let mut s = session();
    let cases: &[(&[usize], &[usize])] = &[
        (&[1, 1], &[1, 1]),
        (&[7, 33], &[33, 1]),
        (&[33, 7], &[7, 33]),
        (&[65, 130], &[130, 67]),
        (&[3, 33, 64], &[3, 64, 7]),
        (&[2, 1, 7, 33], &[3, 33, 5]),
        (&[1, 1000], &[1000, 7]),
    ];
    for (i, (sa, sb)) in cases.iter().enumerate() {
        let a = array(sa, 400 + i as u64, -1.0, 1.0);
        let b = array(sb, 500 + i as u64, -1.0, 1.0);
        let (ta, tb) = (upload(&mut s, &a), upload(&mut s, &b));
        let y = s.matmul(&ta, &tb).unwrap();
        check(
            &mut s,
            &format!("matmul {sa:?} @ {sb:?}"),
            &y,
            &cpu::matmul(&a, &b),
            1e-4,
            1e-5,
        );
    }
    let (a, b) = (s.full(&[2, 3], 1.0).unwrap(), s.full(&[4, 2], 1.0).unwrap());
    assert!(matches!(s.matmul(&a, &b), Err(TensorError::Shape(_))));
}

#[test]
fn linear_is_x_times_w_transposed_plus_bias() {
    let mut s = session();
    for (i, &(rows, inf, outf)) in [(1, 1, 1), (7, 33, 5), (33, 64, 100), (3, 1000, 7)]
        .iter()
        .enumerate()
    {
        let x = array(&[rows, inf], 600 + i as u64, -1.0, 1.0);
        let w = array(&[outf, inf], 700 + i as u64, -1.0, 1.0);
        let b = array(&[outf], 800 + i as u64, -1.0, 1.0);
        let (tx, tw, tb) = (upload(&mut s, &x), upload(&mut s, &w), upload(&mut s, &b));
        let y = s.linear(&tx, &tw, Some(&tb)).unwrap();
        check(
            &mut s,
            &format!("linear {rows}x{inf}->{outf}"),
            &y,
            &cpu::linear(&x, &w, Some(&b)),
            1e-4,
            1e-5,
        );
        let y = s.linear(&tx, &tw, None).unwrap();
        check(
            &mut s,
            "linear without bias",
            &y,
            &cpu::linear(&x, &w, None),
            1e-4,
            1e-5,
        );
    }
    let x = s.full(&[2, 4], 1.0).unwrap();
    let w = s.full(&[3, 5], 1.0).unwrap();
    assert!(matches!(s.linear(&x, &w, None), Err(TensorError::Shape(_))));
}

// Matmul kernel variants (issue #15): each forced variant against the
// reference, at shapes that cover partial tiles on both axes, depths below
// and between the tile depths, k and n that are not multiples of 4 (the
// vec4 kernels fall back to the general one), batches, both B layouts,
// half operands and the fused linear epilogue.

/// `matmul` and `linear` of one session under every matmul kernel.
fn each_matmul_kernel(s: &mut Session, mut f: impl FnMut(&mut Session, &str)) {
    for kernel in motionmcp_gpu::MatmulKernel::ALL {
        s.set_matmul_kernel(kernel);
        f(s, &format!("{kernel:?}"));
    }
    s.set_matmul_kernel(motionmcp_gpu::MatmulKernel::Auto);
}

#[test]
fn every_matmul_kernel_matches_the_reference() {
    let mut s = session();
    let cases: &[(&[usize], &[usize])] = &[
        (&[1, 1], &[1, 1]),
        // k = 4, below the vec4 kernels' tile depth of 8.
        (&[7, 4], &[4, 8]),
        // Two by three 128x128 tiles, the last ones partial; k = 36 ends in
        // half a depth tile.
        (&[130, 36], &[36, 260]),
        (&[65, 64], &[64, 132]),
        // Four 64-row tiles.
        (&[200, 8], &[8, 136]),
        (&[3, 33, 20], &[3, 20, 12]),
        (&[2, 1, 7, 12], &[3, 12, 8]),
        // k, then n, not a multiple of 4: the general kernel.
        (&[5, 33], &[33, 12]),
        (&[9, 16], &[16, 10]),
        // No depth at all: zeros.
        (&[3, 0], &[0, 8]),
    ];
    each_matmul_kernel(&mut s, |s, kernel| {
        for (i, (sa, sb)) in cases.iter().enumerate() {
            let a = array(sa, 1500 + i as u64, -1.0, 1.0);
            let b = array(sb, 1600 + i as u64, -1.0, 1.0);
            let (ta, tb) = (upload(s, &a), upload(s, &b));
            let y = s.matmul(&ta, &tb).unwrap();
            check(
                s,
                &format!("{kernel}: matmul {sa:?} @ {sb:?}"),
                &y,
                &cpu::matmul(&a, &b),
                1e-4,
                1e-5,
            );
        }
    });
}

#[test]
fn every_matmul_kernel_computes_linear_with_and_without_bias() {
    let mut s = session();
    // (rows, in, out): nn.Linear's [out, in] weight is the transposed B,
    // read along k, so any out goes through the vec4 kernels.
    let shapes = [
        (1, 4, 1),
        (7, 33, 5),
        (130, 36, 259),
        (65, 64, 130),
        (200, 8, 131),
        (3, 1000, 7),
    ];
    each_matmul_kernel(&mut s, |s, kernel| {
        for (i, &(rows, inf, outf)) in shapes.iter().enumerate() {
            let x = array(&[rows, inf], 1700 + i as u64, -1.0, 1.0);
            let w = array(&[outf, inf], 1800 + i as u64, -1.0, 1.0);
            let b = array(&[outf], 1900 + i as u64, -1.0, 1.0);
            let (tx, tw, tb) = (upload(s, &x), upload(s, &w), upload(s, &b));
            let y = s.linear(&tx, &tw, Some(&tb)).unwrap();
            let what = format!("{kernel}: linear {rows}x{inf}->{outf}");
            check(s, &what, &y, &cpu::linear(&x, &w, Some(&b)), 1e-4, 1e-5);
            let y = s.linear(&tx, &tw, None).unwrap();
            let what = format!("{what} without bias");
            check(s, &what, &y, &cpu::linear(&x, &w, None), 1e-4, 1e-5);
        }
        // Half weights and bias, and a half A: the general kernel, whatever
        // was asked for.
        for dtype in [DType::F16, DType::BF16] {
            let x = array(&[130, 36], 2000, -1.0, 1.0);
            let w = array(&[259, 36], 2001, -1.0, 1.0);
            let b = array(&[259], 2002, -1.0, 1.0);
            let tx = upload(s, &x);
            let (tw, rw) = half_of(s, &w, dtype);
            let (tb, rb) = half_of(s, &b, dtype);
            let y = s.linear(&tx, &tw, Some(&tb)).unwrap();
            let what = format!("{kernel}: linear with {dtype} weights");
            check(s, &what, &y, &cpu::linear(&x, &rw, Some(&rb)), 1e-4, 1e-5);
            let (hx, rx) = half_of(s, &x, dtype);
            let tw = upload(s, &w);
            let y = s.linear(&hx, &tw, Some(&tb)).unwrap();
            let what = format!("{kernel}: linear of {dtype} x");
            check(s, &what, &y, &cpu::linear(&rx, &w, Some(&rb)), 1e-4, 1e-5);
        }
    });
}

#[test]
fn fused_linear_applies_bias_activation_and_residual() {
    let mut s = session();
    // 3-D input (the residual stream's shape), a fallback shape, one with
    // f16 weights (the general kernel's epilogue), and no inputs at all
    // (the product is zero; the epilogue still fills the output).
    let shapes: [(&[usize], usize, Option<DType>); 4] = [
        (&[2, 65, 64], 130, None),
        (&[7, 33], 5, None),
        (&[130, 36], 259, Some(DType::F16)),
        (&[3, 0], 5, None),
    ];
    let mut activations = vec![None];
    activations.extend(motionmcp_gpu::Activation::ALL.map(Some));
    each_matmul_kernel(&mut s, |s, kernel| {
        for (i, &(xs, outf, wtype)) in shapes.iter().enumerate() {
            let inf = xs[xs.len() - 1];
            let mut out_shape = xs[..xs.len() - 1].to_vec();
            out_shape.push(outf);
            let seed = 2100 + 10 * i as u64;
            // Wide enough that GELU's and SiLU's curved parts are used.
            let x = array(xs, seed, -2.0, 2.0);
            let w = array(&[outf, inf], seed + 1, -0.5, 0.5);
            let b = array(&[outf], seed + 2, -1.0, 1.0);
            let r = array(&out_shape, seed + 3, -1.0, 1.0);
            let (tx, tb, tr) = (upload(s, &x), upload(s, &b), upload(s, &r));
            let (tw, w) = match wtype {
                Some(dtype) => half_of(s, &w, dtype),
                None => (upload(s, &w), w),
            };
            for &act in &activations {
                for bias in [false, true] {
                    for residual in [false, true] {
                        let y = s
                            .linear_fused(
                                &tx,
                                &tw,
                                bias.then_some(&tb),
                                act,
                                residual.then_some(&tr),
                            )
                            .unwrap();
                        let mut want = cpu::linear(&x, &w, bias.then_some(&b));
                        if let Some(act) = act {
                            want = cpu::unary(&want, act.unary());
                        }
                        if residual {
                            want = cpu::binary(&want, &r, BinaryOp::Add);
                        }
                        let what = format!(
                            "{kernel}: linear_fused {xs:?}->{outf} {wtype:?} weights, \
                             {act:?}, bias {bias}, residual {residual}"
                        );
                        check(s, &what, &y, &want, 1e-4, 1e-5);
                    }
                }
            }
        }
    });
    // The residual is the output's shape, in f32.
    let x = s.full(&[2, 4], 1.0).unwrap();
    let w = s.full(&[3, 4], 1.0).unwrap();
    let wrong = s.full(&[3, 2], 1.0).unwrap();
    let gelu = Some(motionmcp_gpu::Activation::Gelu);
    let err = s.linear_fused(&x, &w, None, gelu, Some(&wrong));
    assert!(matches!(err, Err(TensorError::Shape(_))), "{err:?}");
    let f32_r = s.full(&[2, 3], 1.0).unwrap();
    let half = s.cast(&f32_r, DType::F16).unwrap();
    let err = s.linear_fused(&x, &w, None, gelu, Some(&half));
    assert!(matches!(err, Err(TensorError::DType(_))), "{err:?}");
}

#[test]
fn fused_gelu_equals_linear_then_gelu() {
    // The epilogue's GELU is elementwise.wgsl's formula: fused and unfused
    // agree to float rounding, far tighter than either to the reference.
    let mut s = session();
    let x = array(&[33, 64], 2200, -3.0, 3.0);
    let w = array(&[132, 64], 2201, -0.5, 0.5);
    let b = array(&[132], 2202, -1.0, 1.0);
    let (tx, tw, tb) = (upload(&mut s, &x), upload(&mut s, &w), upload(&mut s, &b));
    each_matmul_kernel(&mut s, |s, kernel| {
        for act in motionmcp_gpu::Activation::ALL {
            let fused = s
                .linear_fused(&tx, &tw, Some(&tb), Some(act), None)
                .unwrap();
            let plain = s.linear(&tx, &tw, Some(&tb)).unwrap();
            let unfused = s.unary(&plain, act.unary()).unwrap();
            let want = Array::new(s.read_f32(&unfused).unwrap(), &[33, 132]);
            let what = format!("{kernel}: fused {act:?}");
            check(s, &what, &fused, &want, 1e-6, 1e-7);
        }
    });
}

#[test]
fn reductions_softmax_and_norms_match_the_reference() {
    let mut s = session();
    for (i, shape) in [vec![1], vec![7], vec![3, 33], vec![2, 1000], vec![4, 7, 5]]
        .iter()
        .enumerate()
    {
        let x = array(shape, 900 + i as u64, -3.0, 3.0);
        let t = upload(&mut s, &x);
        for axis in 0..shape.len() {
            for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
                for keep in [false, true] {
                    let y = s.reduce(&t, op, axis as u32, keep).unwrap();
                    let want = cpu::reduce(&x, op, axis, keep);
                    check(
                        &mut s,
                        &format!("{op:?} axis {axis} of {shape:?}"),
                        &y,
                        &want,
                        1e-4,
                        1e-5,
                    );
                }
            }
        }
        let y = s.softmax(&t).unwrap();
        check(
            &mut s,
            &format!("softmax {shape:?}"),
            &y,
            &cpu::softmax(&x),
            1e-4,
            1e-6,
        );
        let len = *shape.last().unwrap();
        let w = array(&[len], 1, 0.5, 1.5);
        let b = array(&[len], 2, -0.5, 0.5);
        let (tw, tb) = (upload(&mut s, &w), upload(&mut s, &b));
        let y = s.layer_norm(&t, Some(&tw), Some(&tb), 1e-5).unwrap();
        check(
            &mut s,
            "layer_norm",
            &y,
            &cpu::layer_norm(&x, Some(&w), Some(&b), 1e-5),
            1e-4,
            1e-4,
        );
        let y = s.layer_norm(&t, None, None, 1e-5).unwrap();
        check(
            &mut s,
            "layer_norm plain",
            &y,
            &cpu::layer_norm(&x, None, None, 1e-5),
            1e-4,
            1e-4,
        );
        let y = s.rms_norm(&t, Some(&tw), 1e-6).unwrap();
        check(
            &mut s,
            "rms_norm",
            &y,
            &cpu::rms_norm(&x, Some(&w), 1e-6),
            1e-4,
            1e-5,
        );
    }
    let t = s.full(&[2, 3], 1.0).unwrap();
    assert!(matches!(
        s.reduce(&t, ReduceOp::Sum, 2, false),
        Err(TensorError::InvalidArgument(_))
    ));
    let w = s.full(&[4], 1.0).unwrap();
    assert!(matches!(
        s.rms_norm(&t, Some(&w), 1e-5),
        Err(TensorError::Shape(_))
    ));
}

#[test]
fn layer_norm_keeps_precision_for_large_means() {
    let mut s = session();
    let x = Array::new(
        (0..1000).map(|i| 1000.0 + (i % 7) as f32 * 0.01).collect(),
        &[1, 1000],
    );
    let t = upload(&mut s, &x);
    let y = s.layer_norm(&t, None, None, 1e-5).unwrap();
    check(
        &mut s,
        "layer_norm offset",
        &y,
        &cpu::layer_norm(&x, None, None, 1e-5),
        1e-4,
        1e-4,
    );
}

/// The adapter opened with subgroup operations allowed (`true`: what
/// `Gpu::open` does) or refused (`false`: the workgroup-memory fallback),
/// one device each for the whole test binary.
fn gpu_with_subgroups(allowed: bool) -> Arc<Gpu> {
    static ON: OnceLock<Arc<Gpu>> = OnceLock::new();
    static OFF: OnceLock<Arc<Gpu>> = OnceLock::new();
    let cell = if allowed { &ON } else { &OFF };
    cell.get_or_init(|| {
        let gpu = Gpu::open_with(GpuChoice::Auto, GpuOptions { subgroups: allowed })
            .expect("a GPU adapter (lavapipe in CI)");
        if allowed && gpu.describe().subgroups.is_none() {
            eprintln!(
                "WARNING: {} has no subgroup operations: the subgroup row kernels \
                 are NOT tested here, only the workgroup-memory fallback",
                gpu.describe()
            );
        }
        gpu
    })
    .clone()
}

/// Both variants of the row kernels, each with its own session: the label
/// says which one failed.
fn both_row_variants() -> Vec<(&'static str, Session)> {
    [(true, "subgroups"), (false, "workgroup memory")]
        .into_iter()
        .map(|(allowed, label)| {
            let gpu = gpu_with_subgroups(allowed);
            let label = match (allowed, gpu.describe().subgroups) {
                (true, None) => "subgroups asked, absent",
                _ => label,
            };
            (label, Session::new(gpu, Quota::new(1 << 30)))
        })
        .collect()
}

/// Row lengths around subgroup and workgroup edges: partial subgroups
/// (3, 31, 33), one short of and one past a workgroup's 256 (255, 257), and
/// rows that take each invocation round the stride loop several times.
const ROW_LENGTHS: [usize; 8] = [1, 3, 31, 33, 255, 257, 1024, 4099];

#[test]
fn row_kernels_say_whether_they_use_subgroups() {
    let on = gpu_with_subgroups(true).describe();
    let off = gpu_with_subgroups(false).describe();
    println!("subgroups allowed: {on}");
    println!("subgroups refused: {off}");
    assert_eq!(off.subgroups, None);
    if let Some((least, most)) = on.subgroups {
        assert!(least.is_power_of_two() && most.is_power_of_two() && least <= most);
        assert!(on.to_string().contains("subgroups of"));
    }
    assert!(off.to_string().contains("no subgroups"));
}

#[test]
fn softmax_with_and_without_subgroups_matches_the_reference() {
    for (variant, mut s) in both_row_variants() {
        for (i, &len) in ROW_LENGTHS.iter().enumerate() {
            let mut x = array(&[3, len], 1500 + i as u64, -8.0, 8.0);
            // Masked entries, as attention scores carry them: every fifth
            // of the second row (never all of it). A large last value in
            // the third row, in the workgroup's last subgroup at lengths 255
            // and 1024: exp overflows unless the true max is subtracted.
            for j in (1..len).step_by(5) {
                x.data[len + j] = f32::NEG_INFINITY;
            }
            x.data[3 * len - 1] = 100.0;
            let t = upload(&mut s, &x);
            let y = s.softmax(&t).unwrap();
            check(
                &mut s,
                &format!("softmax [3, {len}] ({variant})"),
                &y,
                &cpu::softmax(&x),
                1e-4,
                1e-6,
            );
        }
        assert_eq!(s.gpu().take_error(), None);
    }
}

#[test]
fn norms_with_and_without_subgroups_match_the_reference() {
    for (variant, mut s) in both_row_variants() {
        for (i, &len) in ROW_LENGTHS.iter().enumerate() {
            // Row 0 centred, row 1 around 1000 (LayerNorm's shift keeps the
            // spread's precision), row 2 around -300 with a wide spread.
            let mut x = array(&[3, len], 1600 + i as u64, -3.0, 3.0);
            for v in &mut x.data[len..2 * len] {
                *v = 1000.0 + *v * 0.01;
            }
            for v in &mut x.data[2 * len..] {
                *v = -300.0 + *v * 40.0;
            }
            let w = array(&[len], 1700 + i as u64, 0.5, 1.5);
            let b = array(&[len], 1800 + i as u64, -0.5, 0.5);
            let (t, tw, tb) = (upload(&mut s, &x), upload(&mut s, &w), upload(&mut s, &b));
            let y = s.layer_norm(&t, Some(&tw), Some(&tb), 1e-5).unwrap();
            check(
                &mut s,
                &format!("layer_norm [3, {len}] ({variant})"),
                &y,
                &cpu::layer_norm(&x, Some(&w), Some(&b), 1e-5),
                1e-4,
                1e-4,
            );
            let y = s.layer_norm(&t, None, None, 1e-5).unwrap();
            check(
                &mut s,
                &format!("layer_norm plain [3, {len}] ({variant})"),
                &y,
                &cpu::layer_norm(&x, None, None, 1e-5),
                1e-4,
                1e-4,
            );
            let y = s.rms_norm(&t, Some(&tw), 1e-6).unwrap();
            check(
                &mut s,
                &format!("rms_norm [3, {len}] ({variant})"),
                &y,
                &cpu::rms_norm(&x, Some(&w), 1e-6),
                1e-4,
                1e-5,
            );
        }
        assert_eq!(s.gpu().take_error(), None);
    }
}

#[test]
fn reductions_with_and_without_subgroups_match_the_reference() {
    for (variant, mut s) in both_row_variants() {
        for (i, &len) in ROW_LENGTHS.iter().enumerate() {
            // The reduced axis in the middle, so the kernel strides.
            let x = array(&[2, len, 3], 1900 + i as u64, -3.0, 3.0);
            let t = upload(&mut s, &x);
            for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max] {
                let y = s.reduce(&t, op, 1, false).unwrap();
                check(
                    &mut s,
                    &format!("{op:?} over {len} ({variant})"),
                    &y,
                    &cpu::reduce(&x, op, 1, false),
                    1e-4,
                    1e-4,
                );
            }
        }
        assert_eq!(s.gpu().take_error(), None);
    }
}

#[test]
fn attention_matches_the_reference_with_and_without_masks() {
    let mut s = session();
    for (i, &(b, h, lq, lk, d)) in [
        (1, 1, 1, 1, 1),
        (1, 2, 7, 33, 16),
        (2, 3, 33, 70, 64),
        (1, 1, 5, 130, 256),
    ]
    .iter()
    .enumerate()
    {
        let q = array(&[b, h, lq, d], 10 + i as u64, -1.0, 1.0);
        let k = array(&[b, h, lk, d], 20 + i as u64, -1.0, 1.0);
        let v = array(&[b, h, lk, d], 30 + i as u64, -1.0, 1.0);
        let (tq, tk, tv) = (upload(&mut s, &q), upload(&mut s, &k), upload(&mut s, &v));
        let y = s.attention(&tq, &tk, &tv, None, None).unwrap();
        check(
            &mut s,
            &format!("attention {b}x{h}x{lq}x{lk}x{d}"),
            &y,
            &cpu::attention(&q, &k, &v, None, None),
            1e-4,
            1e-5,
        );

        // Boolean key mask [b, 1, 1, lk]: every third key dropped.
        let keep: Vec<bool> = (0..b * lk).map(|j| j % 3 != 1 || lk == 1).collect();
        let bits: Vec<u32> = keep.iter().map(|&k| k as u32).collect();
        let tm = s.from_u32(&bits, &[b, 1, 1, lk]).unwrap();
        let y = s.attention(&tq, &tk, &tv, Some(&tm), Some(0.3)).unwrap();
        let want = cpu::attention(
            &q,
            &k,
            &v,
            Some(cpu::Mask::Keep(&keep, &[b, 1, 1, lk])),
            Some(0.3),
        );
        check(&mut s, "attention keep-mask", &y, &want, 1e-4, 1e-5);

        // Additive mask [lq, lk].
        let add = array(&[lq, lk], 40 + i as u64, -2.0, 0.0);
        let ta = upload(&mut s, &add);
        let y = s.attention(&tq, &tk, &tv, Some(&ta), None).unwrap();
        let want = cpu::attention(&q, &k, &v, Some(cpu::Mask::Additive(&add)), None);
        check(&mut s, "attention additive mask", &y, &want, 1e-4, 1e-5);
    }
}

#[test]
fn a_fully_masked_query_row_gets_zeros() {
    let mut s = session();
    let q = array(&[1, 1, 2, 4], 1, -1.0, 1.0);
    let k = array(&[1, 1, 3, 4], 2, -1.0, 1.0);
    let (tq, tk) = (upload(&mut s, &q), upload(&mut s, &k));
    let mask = s.from_u32(&[0, 0, 0, 1, 0, 1], &[1, 1, 2, 3]).unwrap();
    let y = s.attention(&tq, &tk, &tk, Some(&mask), None).unwrap();
    let got = s.read_f32(&y).unwrap();
    assert_eq!(&got[..4], &[0.0; 4]);
    assert!(got[4..].iter().all(|v| v.is_finite() && *v != 0.0));
}

/// The tiled (flash) path takes 16 query rows per workgroup and streams K
/// and V in tiles of 32 keys (head dims up to 128); wider heads take one
/// row per workgroup. Edges: partial query and key tiles, several key
/// tiles, a key tile masked whole, fully masked rows, d != dv, and both
/// sides of the 128 limit.
#[test]
fn attention_tiles_match_the_reference() {
    let mut s = session();
    for (i, &(b, h, lq, lk, d, dv)) in [
        (1, 2, 37, 75, 8, 24),
        (2, 1, 16, 32, 3, 5),
        (1, 1, 17, 100, 128, 128),
        // Several 32-wide head-dim chunks, the last one partial.
        (1, 1, 20, 70, 72, 40),
        (1, 1, 3, 40, 100, 129),
        (1, 1, 4, 40, 129, 7),
    ]
    .iter()
    .enumerate()
    {
        let what = format!("attention {b}x{h}x{lq}x{lk} d {d} dv {dv}");
        let q = array(&[b, h, lq, d], 50 + i as u64, -1.0, 1.0);
        let k = array(&[b, h, lk, d], 60 + i as u64, -1.0, 1.0);
        let v = array(&[b, h, lk, dv], 70 + i as u64, -1.0, 1.0);
        let (tq, tk, tv) = (upload(&mut s, &q), upload(&mut s, &k), upload(&mut s, &v));
        let y = s.attention(&tq, &tk, &tv, None, Some(0.7)).unwrap();
        let want = cpu::attention(&q, &k, &v, None, Some(0.7));
        check(&mut s, &what, &y, &want, 1e-4, 1e-5);

        // Keep-mask [1, 1, lq, lk]: keys 32..64 (the second key tile)
        // dropped for every query, row 1 dropped whole, and row 2 keeps
        // only its last key (none when that key is in 32..64: a second
        // fully masked row).
        let keep: Vec<bool> = (0..lq * lk)
            .map(|f| {
                let (r, j) = (f / lk, f % lk);
                !(32..64).contains(&j) && r != 1 && (r != 2 || j == lk - 1)
            })
            .collect();
        let bits: Vec<u32> = keep.iter().map(|&k| k as u32).collect();
        let tm = s.from_u32(&bits, &[1, 1, lq, lk]).unwrap();
        let y = s.attention(&tq, &tk, &tv, Some(&tm), None).unwrap();
        let want = cpu::attention(
            &q,
            &k,
            &v,
            Some(cpu::Mask::Keep(&keep, &[1, 1, lq, lk])),
            None,
        );
        check(&mut s, &format!("{what} keep-mask"), &y, &want, 1e-4, 1e-5);
        if lq > 1 {
            let got = s.read_f32(&y).unwrap();
            assert!(got[dv..2 * dv].iter().all(|&x| x == 0.0), "{what}: row 1");
        }

        // Additive [b, h, lq, lk] with -inf: query 0 of every head fully
        // masked, keys 0..32 (the first key tile) masked for query 3.
        let mut add = array(&[b, h, lq, lk], 80 + i as u64, -3.0, 1.0);
        for (f, x) in add.data.iter_mut().enumerate() {
            let (r, j) = ((f / lk) % lq, f % lk);
            if r == 0 || (r == 3 && j < 32) {
                *x = f32::NEG_INFINITY;
            }
        }
        let ta = upload(&mut s, &add);
        let y = s.attention(&tq, &tk, &tv, Some(&ta), None).unwrap();
        let want = cpu::attention(&q, &k, &v, Some(cpu::Mask::Additive(&add)), None);
        check(&mut s, &format!("{what} additive"), &y, &want, 1e-4, 1e-5);
    }
}

/// Kimodo's attention shape at a smaller length (batch 3 for guidance, head
/// dim 128) with the padded key mask issue #15 asks for (a batch of clips
/// of different lengths; Kimodo's own calls have equal lengths, unmasked),
/// [b, 1, 1, lk] with a different length per batch
/// entry (one ends inside the third key tile, one after the first).
#[test]
fn attention_with_a_padded_key_mask_at_head_dim_128() {
    let mut s = session();
    let (b, h, lq, lk, d) = (3, 2, 100, 120, 128);
    let q = array(&[b, h, lq, d], 91, -1.0, 1.0);
    let k = array(&[b, h, lk, d], 92, -1.0, 1.0);
    let v = array(&[b, h, lk, d], 93, -1.0, 1.0);
    let (tq, tk, tv) = (upload(&mut s, &q), upload(&mut s, &k), upload(&mut s, &v));
    let valid = [120, 70, 33];
    let keep: Vec<bool> = (0..b * lk).map(|f| f % lk < valid[f / lk]).collect();
    let bits: Vec<u32> = keep.iter().map(|&k| k as u32).collect();
    let tm = s.from_u32(&bits, &[b, 1, 1, lk]).unwrap();
    let y = s.attention(&tq, &tk, &tv, Some(&tm), None).unwrap();
    let want = cpu::attention(
        &q,
        &k,
        &v,
        Some(cpu::Mask::Keep(&keep, &[b, 1, 1, lk])),
        None,
    );
    check(&mut s, "attention padded keys", &y, &want, 1e-4, 1e-5);
    let y = s.attention(&tq, &tk, &tv, None, None).unwrap();
    let want = cpu::attention(&q, &k, &v, None, None);
    check(&mut s, "attention d 128", &y, &want, 1e-4, 1e-5);
}

#[test]
fn layout_ops_move_data_exactly() {
    let mut s = session();
    let x = array(&[2, 3, 7, 5], 77, -1.0, 1.0);
    let t = upload(&mut s, &x);
    for dims in [[0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 1, 3], [1, 3, 0, 2]] {
        let y = s.permute(&t, &dims.map(|d| d as u32)).unwrap();
        check(
            &mut s,
            &format!("permute {dims:?}"),
            &y,
            &cpu::permute(&x, &dims),
            0.0,
            0.0,
        );
    }
    let y = s.transpose(&t, 1, 3).unwrap();
    check(
        &mut s,
        "transpose",
        &y,
        &cpu::permute(&x, &[0, 3, 2, 1]),
        0.0,
        0.0,
    );
    for (axis, start, end) in [(0, 1, 2), (1, 0, 3), (2, 2, 7), (3, 4, 5), (2, 3, 3)] {
        let y = s.slice(&t, axis as u32, start, end).unwrap();
        check(
            &mut s,
            "slice",
            &y,
            &cpu::slice(&x, axis, start as usize, end as usize),
            0.0,
            0.0,
        );
    }
    let a = array(&[2, 1, 5], 1, -1.0, 1.0);
    let b = array(&[2, 33, 5], 2, -1.0, 1.0);
    let (ta, tb) = (upload(&mut s, &a), upload(&mut s, &b));
    let y = s.concat(&[&ta, &tb, &ta], 1).unwrap();
    check(
        &mut s,
        "concat",
        &y,
        &cpu::concat(&[&a, &b, &a], 1),
        0.0,
        0.0,
    );
    let idx: Vec<i32> = vec![4, 0, -1, 2, 2, 9];
    let ti = s.from_i32(&idx, &[6]).unwrap();
    let y = s.index_select(&t, 3, &ti).unwrap();
    let want = cpu::index_select(&x, 3, &idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
    check(&mut s, "index_select", &y, &want, 0.0, 0.0);
    let r = s.reshape(&t, &[6, -1]).unwrap();
    assert_eq!(r.shape(), &[6, 35]);
    check(
        &mut s,
        "reshape",
        &r,
        &Array::new(x.data.clone(), &[6, 35]),
        0.0,
        0.0,
    );

    assert!(matches!(
        s.reshape(&t, &[4, -1, 7]),
        Err(TensorError::Shape(_))
    ));
    assert!(matches!(
        s.permute(&t, &[0, 0, 1, 2]),
        Err(TensorError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.slice(&t, 1, 2, 4),
        Err(TensorError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.concat(&[&ta, &t], 1),
        Err(TensorError::Shape(_))
    ));
    assert!(matches!(
        s.index_select(&t, 0, &ta),
        Err(TensorError::DType(_))
    ));
}

#[test]
fn constructors_random_streams_and_casts() {
    let mut s = session();
    for &n in &SIZES {
        let u = s.random(&[n], 42, false).unwrap();
        assert_eq!(
            s.read_f32(&u).unwrap(),
            cpu::rand(n, 42),
            "rand is bit-exact"
        );
        let z = s.random(&[n], 0xDEAD_BEEF_0000_0001, true).unwrap();
        let want = Array::new(cpu::randn(n, 0xDEAD_BEEF_0000_0001), &[n]);
        check(&mut s, "randn", &z, &want, 1e-5, 1e-5);
        let f = s.full(&[n], 2.5).unwrap();
        assert!(s.read_f32(&f).unwrap().iter().all(|&v| v == 2.5));
        let r = s.arange(-1.0, 0.5, n).unwrap();
        let want = Array::new((0..n).map(|i| -1.0 + i as f32 * 0.5).collect(), &[n]);
        check(&mut s, "arange", &r, &want, 0.0, 0.0);
    }
    // The stream depends on the element index only, not on the shape.
    let a = s.random(&[10], 5, true).unwrap();
    let b = s.random(&[2, 5], 5, true).unwrap();
    assert_eq!(s.read_f32(&a).unwrap(), s.read_f32(&b).unwrap());

    let x = s.from_f32(&[-2.7, 0.0, 3.9, 7.0], &[4]).unwrap();
    let i = s.cast(&x, DType::I32).unwrap();
    assert_eq!(
        s.read(&i)
            .unwrap()
            .iter()
            .map(|&w| w as i32)
            .collect::<Vec<_>>(),
        [-2, 0, 3, 7]
    );
    let back = s.cast(&i, DType::F32).unwrap();
    assert_eq!(s.read_f32(&back).unwrap(), [-2.0, 0.0, 3.0, 7.0]);
    let m = s.from_u32(&[0, 1, 5], &[3]).unwrap();
    let mf = s.cast(&m, DType::F32).unwrap();
    assert_eq!(s.read_f32(&mf).unwrap(), [0.0, 1.0, 5.0]);
    assert!(matches!(
        s.unary(&m, UnaryOp::Exp),
        Err(TensorError::DType(_))
    ));
    assert!(matches!(s.read_f32(&m), Err(TensorError::DType(_))));
    assert!(matches!(
        s.from_f32(&[1.0, 2.0], &[3]),
        Err(TensorError::Shape(_))
    ));
}

#[test]
fn the_quota_refuses_and_freed_buffers_are_reused() {
    let mut s = Session::new(gpu(), Quota::new(64 << 10));
    let a = s.full(&[4096], 1.0).unwrap(); // 16 KiB
    let b = s.full(&[4096], 2.0).unwrap();
    let c = s.binary(&a, &b, BinaryOp::Add).unwrap();
    assert!(matches!(
        s.full(&[8192], 0.0),
        Err(TensorError::OutOfMemory(_))
    ));
    assert!(s.quota().take_refused());
    let used = s.quota().used();
    s.release(c);
    s.submit().unwrap();
    // Same size again: taken from the pool, no new charge.
    let d = s.binary(&a, &b, BinaryOp::Mul).unwrap();
    assert_eq!(s.quota().used(), used);
    assert_eq!(s.read_f32(&d).unwrap()[0], 2.0);
}

#[test]
fn a_sampling_loop_runs_without_reading_back() {
    // 300 recorded ops (more than one batch) and a single readback.
    let mut s = session();
    let mut x = s.full(&[1000], 1.0).unwrap();
    for _ in 0..300 {
        let next = s.scale(&x, 1.001, 0.0).unwrap();
        s.release(std::mem::replace(&mut x, next));
    }
    let v = s.read_f32(&x).unwrap();
    let want = 1.001f64.powi(300) as f32;
    assert!((v[999] - want).abs() < 1e-3 * want, "{} vs {want}", v[999]);
}

/// One pre-norm transformer block (the README's example) on both sides.
#[test]
fn a_transformer_block_matches_the_reference() {
    let mut s = session();
    let (b, n, d, heads) = (2, 33, 64, 4);
    let dh = d / heads;
    let p = |shape: &[usize], seed: u64| array(shape, seed, -0.2, 0.2);
    let x = array(&[b, n, d], 1, -1.0, 1.0);
    let (ln1_w, ln1_b, ln2_w, ln2_b) = (p(&[d], 2), p(&[d], 3), p(&[d], 4), p(&[d], 5));
    let (qkv_w, qkv_b) = (p(&[3 * d, d], 6), p(&[3 * d], 7));
    let (out_w, out_b) = (p(&[d, d], 8), p(&[d], 9));
    let (ff1_w, ff1_b) = (p(&[4 * d, d], 10), p(&[4 * d], 11));
    let (ff2_w, ff2_b) = (p(&[d, 4 * d], 12), p(&[d], 13));

    // CPU.
    let h = cpu::layer_norm(&x, Some(&ln1_w), Some(&ln1_b), 1e-5);
    let qkv = cpu::linear(&h, &qkv_w, Some(&qkv_b));
    let qkv = cpu::permute(
        &Array::new(qkv.data, &[b, n, 3, heads, dh]),
        &[2, 0, 3, 1, 4],
    );
    let part = |i| {
        let one = cpu::slice(&qkv, 0, i, i + 1);
        Array::new(one.data, &[b, heads, n, dh])
    };
    let att = cpu::attention(&part(0), &part(1), &part(2), None, None);
    let att = cpu::permute(&att, &[0, 2, 1, 3]);
    let att = cpu::linear(&Array::new(att.data, &[b, n, d]), &out_w, Some(&out_b));
    let x1 = cpu::binary(&x, &att, BinaryOp::Add);
    let f = cpu::layer_norm(&x1, Some(&ln2_w), Some(&ln2_b), 1e-5);
    let f = cpu::unary(&cpu::linear(&f, &ff1_w, Some(&ff1_b)), UnaryOp::Gelu);
    let f = cpu::linear(&f, &ff2_w, Some(&ff2_b));
    let want = cpu::binary(&x1, &f, BinaryOp::Add);

    // GPU.
    let up = |s: &mut Session, a: &Array| s.from_f32(&a.data, &a.shape).unwrap();
    let tx = up(&mut s, &x);
    let g = |s: &mut Session, a: &Array| up(s, a);
    let (l1w, l1b, l2w, l2b) = (
        g(&mut s, &ln1_w),
        g(&mut s, &ln1_b),
        g(&mut s, &ln2_w),
        g(&mut s, &ln2_b),
    );
    let (qw, qb, ow, ob) = (
        g(&mut s, &qkv_w),
        g(&mut s, &qkv_b),
        g(&mut s, &out_w),
        g(&mut s, &out_b),
    );
    let (f1w, f1b, f2w, f2b) = (
        g(&mut s, &ff1_w),
        g(&mut s, &ff1_b),
        g(&mut s, &ff2_w),
        g(&mut s, &ff2_b),
    );
    let h = s.layer_norm(&tx, Some(&l1w), Some(&l1b), 1e-5).unwrap();
    let qkv = s.linear(&h, &qw, Some(&qb)).unwrap();
    let qkv = s
        .reshape(&qkv, &[b as i64, n as i64, 3, heads as i64, dh as i64])
        .unwrap();
    let qkv = s.permute(&qkv, &[2, 0, 3, 1, 4]).unwrap();
    let mut parts = Vec::new();
    for i in 0..3 {
        let one = s.slice(&qkv, 0, i, i + 1).unwrap();
        parts.push(
            s.reshape(&one, &[b as i64, heads as i64, n as i64, dh as i64])
                .unwrap(),
        );
    }
    let att = s
        .attention(&parts[0], &parts[1], &parts[2], None, None)
        .unwrap();
    let att = s.permute(&att, &[0, 2, 1, 3]).unwrap();
    let att = s.reshape(&att, &[b as i64, n as i64, d as i64]).unwrap();
    let att = s.linear(&att, &ow, Some(&ob)).unwrap();
    let x1 = s.binary(&tx, &att, BinaryOp::Add).unwrap();
    let f = s.layer_norm(&x1, Some(&l2w), Some(&l2b), 1e-5).unwrap();
    let f = s.linear(&f, &f1w, Some(&f1b)).unwrap();
    let f = s.unary(&f, UnaryOp::Gelu).unwrap();
    let f = s.linear(&f, &f2w, Some(&f2b)).unwrap();
    let y = s.binary(&x1, &f, BinaryOp::Add).unwrap();
    check(&mut s, "transformer block", &y, &want, 1e-4, 1e-4);
}

/// `a` stored as `dtype` on the GPU (a cast from f32), and the values the
/// GPU then holds, by the CPU's rounding.
fn half_of(s: &mut Session, a: &Array, dtype: DType) -> (Tensor, Array) {
    let wide = upload(s, a);
    let t = s.cast(&wide, dtype).unwrap();
    let rounded = match dtype {
        DType::F16 => cpu::round_f16(a),
        DType::BF16 => cpu::round_bf16(a),
        other => panic!("{other} is not a half type"),
    };
    (t, rounded)
}

#[test]
fn half_casts_round_to_nearest_and_take_half_the_memory() {
    let mut s = session();
    // Besides random values: f16's limits (saturation past 65504), tiny
    // values, signed zeros and integers.
    let specials = [
        65504.0, 70000.0, -1e9, 6.1e-5, 1e-3, 0.0, -0.0, 2048.0, -3.0, 0.1,
    ];
    for (i, &n) in SIZES.iter().enumerate() {
        let mut a = array(&[n], 900 + i as u64, -4.0, 4.0);
        for (v, &sp) in a.data.iter_mut().zip(&specials) {
            *v = sp;
        }
        // f16: WGSL may round a value between two halves to either one, so
        // within one f16 ulp (2^-10 relative) of nearest; bf16 is rounded by
        // the kernel's own integer arithmetic, so bit-exact.
        let (h, want) = half_of(&mut s, &a, DType::F16);
        assert_eq!(h.dtype(), DType::F16);
        check(&mut s, &format!("f16 [{n}]"), &h, &want, 1.0 / 1024.0, 6e-8);
        let (bf, want) = half_of(&mut s, &a, DType::BF16);
        check(&mut s, &format!("bf16 [{n}]"), &bf, &want, 0.0, 0.0);

        // Widening on the GPU agrees with the host's readback; halves
        // convert between themselves and to ints by value.
        let wide = s.cast(&h, DType::F32).unwrap();
        assert_eq!(s.read_f32(&wide).unwrap(), s.read_f32(&h).unwrap());
        let h2 = s.cast(&bf, DType::F16).unwrap();
        let want = cpu::round_f16(&cpu::round_bf16(&a));
        check(&mut s, "bf16 -> f16", &h2, &want, 1.0 / 1024.0, 6e-8);
        let ints = s.cast(&h, DType::I32).unwrap();
        let got: Vec<i32> = s.read(&ints).unwrap().iter().map(|&w| w as i32).collect();
        let half_values = s.read_f32(&h).unwrap();
        assert_eq!(
            got,
            half_values.iter().map(|&v| v as i32).collect::<Vec<_>>()
        );

        // Two bytes an element, rounded up to whole words.
        assert_eq!(s.read(&h).unwrap().len(), n.div_ceil(2));
    }
    let counts: Vec<u32> = vec![0, 1, 2047, 3, 65535];
    let u = s.from_u32(&counts, &[5]).unwrap();
    let h = s.cast(&u, DType::F16).unwrap();
    assert_eq!(
        s.read_f32(&h).unwrap(),
        [0.0, 1.0, 2047.0, 3.0, 65504.0],
        "ints exact up to 2048, then saturating"
    );
    let back = s.cast(&h, DType::U32).unwrap();
    assert_eq!(s.read(&back).unwrap(), [0, 1, 2047, 3, 65504]);

    // A half tensor is charged half the bytes of an f32 one.
    let quota = Quota::new(1 << 30);
    let mut q = Session::new(gpu(), Arc::clone(&quota));
    let x = q.full(&[64, 1024], 1.0).unwrap();
    let f32_bytes = quota.used();
    let h = q.cast(&x, DType::F16).unwrap();
    assert_eq!(quota.used() - f32_bytes, f32_bytes / 2);
    drop(h);
}

#[test]
fn matmul_and_linear_take_half_operands() {
    let mut s = session();
    for (i, dtype) in [DType::F16, DType::BF16].into_iter().enumerate() {
        let seed = 1000 + 10 * i as u64;
        // Batched, with odd per-batch element offsets into the half buffer.
        let a = array(&[3, 33, 7], seed, -1.0, 1.0);
        let b = array(&[3, 7, 5], seed + 1, -1.0, 1.0);
        let (ta, ra) = half_of(&mut s, &a, dtype);
        let tb = upload(&mut s, &b);
        let y = s.matmul(&ta, &tb).unwrap();
        assert_eq!(y.dtype(), DType::F32);
        check(
            &mut s,
            &format!("{dtype} @ f32"),
            &y,
            &cpu::matmul(&ra, &b),
            1e-4,
            1e-5,
        );
        let (tb, rb) = half_of(&mut s, &b, dtype);
        let y = s.matmul(&ta, &tb).unwrap();
        check(
            &mut s,
            &format!("{dtype} @ {dtype}"),
            &y,
            &cpu::matmul(&ra, &rb),
            1e-4,
            1e-5,
        );

        // nn.Linear with weights and bias kept at half size.
        for (j, &(rows, inf, outf)) in [(1, 1, 1), (7, 33, 5), (3, 1000, 7)].iter().enumerate() {
            let seed = seed + 100 + 3 * j as u64;
            let x = array(&[rows, inf], seed, -1.0, 1.0);
            let w = array(&[outf, inf], seed + 1, -1.0, 1.0);
            let bias = array(&[outf], seed + 2, -1.0, 1.0);
            let tx = upload(&mut s, &x);
            let (tw, rw) = half_of(&mut s, &w, dtype);
            let (tbias, rbias) = half_of(&mut s, &bias, dtype);
            let y = s.linear(&tx, &tw, Some(&tbias)).unwrap();
            check(
                &mut s,
                &format!("linear {rows}x{inf}->{outf} with {dtype} weights"),
                &y,
                &cpu::linear(&x, &rw, Some(&rbias)),
                1e-4,
                1e-5,
            );
        }
    }
    let idx = s.from_u32(&[1, 2], &[1, 2]).unwrap();
    let w = s.full(&[2, 2], 1.0).unwrap();
    assert!(matches!(s.matmul(&idx, &w), Err(TensorError::DType(_))));
}

#[test]
fn layout_ops_keep_half_tensors_exactly() {
    let mut s = session();
    let x = array(&[2, 3, 7, 5], 1200, -3.0, 3.0);
    let (t, rx) = half_of(&mut s, &x, DType::F16);
    let y = s.permute(&t, &[3, 1, 0, 2]).unwrap();
    assert_eq!(y.dtype(), DType::F16);
    check(
        &mut s,
        "f16 permute",
        &y,
        &cpu::permute(&rx, &[3, 1, 0, 2]),
        0.0,
        0.0,
    );
    let y = s.slice(&t, 2, 1, 6).unwrap();
    check(&mut s, "f16 slice", &y, &cpu::slice(&rx, 2, 1, 6), 0.0, 0.0);
    let (b, rb) = half_of(&mut s, &array(&[2, 3, 7, 1], 1201, -3.0, 3.0), DType::F16);
    let y = s.concat(&[&t, &b, &t], 3).unwrap();
    check(
        &mut s,
        "f16 concat",
        &y,
        &cpu::concat(&[&rx, &rb, &rx], 3),
        0.0,
        0.0,
    );
    let (table, rt) = half_of(&mut s, &array(&[33, 5], 1202, -3.0, 3.0), DType::BF16);
    let idx = s.from_u32(&[32, 0, 7, 7], &[4]).unwrap();
    let y = s.index_select(&table, 0, &idx).unwrap();
    assert_eq!(y.dtype(), DType::BF16);
    check(
        &mut s,
        "bf16 index_select",
        &y,
        &cpu::index_select(&rt, 0, &[32, 0, 7, 7]),
        0.0,
        0.0,
    );
    let r = s.reshape(&t, &[-1, 5]).unwrap();
    assert_eq!((r.shape(), r.dtype()), (&[42, 5][..], DType::F16));

    // Arithmetic other than matmul wants f32, and says so.
    for result in [
        s.unary(&t, UnaryOp::Exp),
        s.softmax(&t),
        s.binary(&t, &t, BinaryOp::Add),
    ] {
        match result {
            Err(TensorError::DType(m)) => assert!(m.contains("cast it to f32 first"), "{m}"),
            other => panic!("expected a dtype error, got {other:?}"),
        }
    }
    assert!(matches!(
        s.concat(&[&t, &table], 0),
        Err(TensorError::Shape(_) | TensorError::DType(_))
    ));
    // Where a kernel reads words as they are, half storage is refused
    // rather than misread.
    let ones = s.full(&[42, 5], 1.0).unwrap();
    assert!(matches!(
        s.where_(&r, &ones, &ones),
        Err(TensorError::DType(_))
    ));
    let half_idx = s.cast(&idx, DType::F16).unwrap();
    assert!(matches!(
        s.index_select(&table, 0, &half_idx),
        Err(TensorError::DType(_))
    ));
    let q = s.full(&[1, 1, 3, 4], 1.0).unwrap();
    let mask = s.full(&[3, 3], 1.0).unwrap();
    let mask = s.cast(&mask, DType::F16).unwrap();
    assert!(matches!(
        s.attention(&q, &q, &q, Some(&mask), None),
        Err(TensorError::DType(_))
    ));
}

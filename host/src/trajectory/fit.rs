//! The simplest shape a game can re-apply within tolerance of the travel
//! path (gltf-output.md §7.3 steps 6–7): still, a line, an arc or a cubic
//! Bézier, and each frame's place along it, timed by the body.

use serde_json::{json, Map, Value};

use super::body::{Body, Phase};
use super::num::{self, P2};
use super::Failed;

/// Across the path: RMS 1.5 cm + 2.5 % of the distance, max 4 cm + 5 %.
const TOL_RMS: f64 = 0.015;
const TOL_MAX: f64 = 0.04;
const TOL_REL: f64 = 0.025;
/// Distance-curve keys at most this far apart (s), besides the take's events.
const KEY_GAP: f64 = 0.25;
/// On the spot: never strays further than this (m).
const STILL_MAX: f64 = 0.06;
/// ...or ends within this of where it began and never strays further than
/// the reach: the body settling, not travel.
const ON_SPOT_NET: f64 = 0.15;
const ON_SPOT_REACH: f64 = 0.25;
/// The COM is smoothed over this (s) before it times the trajectory.
const TIMING_SMOOTH: f64 = 0.1;
/// Past its ends a shape runs on this far (m), for a body that starts behind it.
const EXTEND: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Still,
    Line,
    Arc,
    Bezier,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Still => "still",
            Model::Line => "line",
            Model::Arc => "arc",
            Model::Bezier => "bezier",
        }
    }
}

/// The chosen shape: each frame's point on it, its numbers, and its points
/// in order (run on past its ends) for retiming.
pub struct Fit {
    pub xy: Vec<P2>,
    pub model: Model,
    pub params: Map<String, Value>,
    pub guide: Option<Vec<P2>>,
}

/// Frame times: `arange(n) / fps`.
pub fn times(n: usize, fps: f64) -> Vec<f64> {
    (0..n).map(|i| i as f64 / fps).collect()
}

fn degrees(radians: f64) -> f64 {
    // CPython divides by π/180 rather than multiplying by its inverse
    radians / (std::f64::consts::PI / 180.0)
}

pub fn on_the_spot(path: &[P2]) -> bool {
    if path.len() < 2 {
        return true;
    }
    let net = num::norm(num::sub(path[path.len() - 1], path[0]));
    let reach = path
        .iter()
        .map(|p| num::norm(num::sub(*p, path[0])))
        .fold(f64::NEG_INFINITY, f64::max);
    net < ON_SPOT_NET && reach < ON_SPOT_REACH
}

/// Key times of the distance and heading curves: the phase changes at least
/// 0.15 s apart, split until there are six and none is over `KEY_GAP` apart.
/// Clips under 0.15 s have a single key, which cannot be split: the
/// reference fails there (and sends no trajectory), and so does this.
pub fn key_times(labels: &[Phase], t: &[f64]) -> Result<Vec<f64>, Failed> {
    let last = t[t.len() - 1];
    let mut events = vec![0.0, last];
    events.extend(
        (1..t.len())
            .filter(|&i| labels[i] != labels[i - 1])
            .map(|i| t[i]),
    );
    events.sort_by(f64::total_cmp);
    events.dedup();
    let mut keep = vec![events[0]];
    for &e in &events[1..] {
        if e - keep[keep.len() - 1] >= 0.15 {
            keep.push(e);
        }
    }
    let k = keep.len();
    keep[k - 1] = last;
    let gaps = |keep: &[f64]| -> Vec<f64> { keep.windows(2).map(|w| w[1] - w[0]).collect() };
    while keep.len() < 6 || (keep.len() > 1 && num::max(&gaps(&keep)) > KEY_GAP) {
        if keep.len() < 2 {
            return Err(Failed("a clip under 0.15 s has no distance-curve keys"));
        }
        let g = num::argmax(&gaps(&keep));
        keep.insert(g + 1, (keep[g] + keep[g + 1]) / 2.0);
    }
    Ok(keep)
}

pub fn monotone_keys(s: &[f64], t: &[f64], tk: &[f64]) -> Vec<f64> {
    let mut ks: Vec<f64> = tk.iter().map(|&x| num::interp(x, t, s)).collect();
    let rising = ks[ks.len() - 1] >= ks[0];
    for i in 1..ks.len() {
        ks[i] = if rising {
            ks[i].max(ks[i - 1])
        } else {
            ks[i].min(ks[i - 1])
        };
    }
    ks
}

/// Distance from the travel path across its direction, per frame.
fn across(xy: &[P2], path: &[P2]) -> Result<Vec<f64>, Failed> {
    let n = path.len();
    let mut tan = num::gradient2(path)?;
    let ln: Vec<f64> = tan.iter().map(|v| num::norm(*v)).collect();
    let idx: Vec<usize> = (0..n).filter(|&i| ln[i] > 1e-6).collect();
    if idx.is_empty() {
        return Ok(xy
            .iter()
            .zip(path)
            .map(|(a, b)| num::norm(num::sub(*a, *b)))
            .collect());
    }
    for (v, l) in tan.iter_mut().zip(&ln) {
        *v = if *l > 1e-6 {
            [v[0] / l.max(1e-12), v[1] / l.max(1e-12)]
        } else {
            [0.0, 0.0]
        };
    }
    // standing still: the nearest direction
    let tx = num::fill(n, &idx, &num::column(&tan, 0));
    let ty = num::fill(n, &idx, &num::column(&tan, 1));
    let mut tan = num::zip2(&tx, &ty);
    // where it stops and turns back the two sides cancel: the nearest real one
    let weak: Vec<usize> = (0..n).filter(|&i| num::norm(tan[i]) < 0.5).collect();
    for i in weak {
        let near = idx
            .iter()
            .map(|&k| (k as f64 - i as f64).abs())
            .collect::<Vec<_>>();
        // the idx frames are never weak, so reading them while writing is safe
        tan[i] = tan[idx[num::argmin(&near)]];
    }
    for v in tan.iter_mut() {
        let l = num::norm(*v).max(1e-12);
        *v = [v[0] / l, v[1] / l];
    }
    Ok((0..n)
        .map(|i| {
            let d = num::sub(xy[i], path[i]);
            (d[0] * tan[i][1] - d[1] * tan[i][0]).abs()
        })
        .collect())
}

fn circle(p: &[P2]) -> Option<(P2, f64)> {
    let a: Vec<[f64; 3]> = p.iter().map(|v| [v[0], v[1], 1.0]).collect();
    let b: Vec<[f64; 1]> = p.iter().map(|v| [-(v[0] * v[0] + v[1] * v[1])]).collect();
    let [[d], [e], [f]] = num::lstsq(&a, &b)?;
    let c = [-d / 2.0, -e / 2.0];
    let r2 = (c[0] * c[0] + c[1] * c[1]) - f;
    if r2 <= 0.0 || r2 > 60.0 * 60.0 {
        return None;
    }
    Some((c, r2.sqrt()))
}

fn bernstein(e: f64) -> [f64; 4] {
    let f = 1.0 - e;
    [
        f.powf(3.0),
        3.0 * (f * f) * e,
        3.0 * f * (e * e),
        e.powf(3.0),
    ]
}

/// The curve's point for Bernstein weights `w`, summed in numpy's order.
fn bezier_at(w: &[f64; 4], pc: &[[f64; 2]; 4]) -> P2 {
    [0, 1].map(|j| ((w[0] * pc[0][j] + w[1] * pc[1][j]) + w[2] * pc[2][j]) + w[3] * pc[3][j])
}

fn bezier_points(pc: &[[f64; 2]; 4], n: usize) -> Vec<P2> {
    num::linspace(0.0, 1.0, n)
        .into_iter()
        .map(|e| bezier_at(&bernstein(e), pc))
        .collect()
}

/// A path's points in order, run straight on past both ends.
fn extend(p: &[P2]) -> Vec<P2> {
    let mut kept: Vec<P2> = vec![p[0]];
    kept.extend(
        p.windows(2)
            .filter(|w| num::norm(num::sub(w[1], w[0])) > 1e-6)
            .map(|w| w[1]),
    );
    if kept.len() < 2 {
        return kept;
    }
    let tangent = |a: P2, b: P2| {
        let d = num::sub(b, a);
        let l = num::norm(d).max(1e-9);
        [d[0] / l, d[1] / l]
    };
    let k = (kept.len() / 20).max(1);
    let last = kept.len() - 1;
    let start = num::sub(kept[0], num::scale(tangent(kept[0], kept[k]), EXTEND));
    let end = num::add(
        kept[last],
        num::scale(tangent(kept[last - k], kept[last]), EXTEND),
    );
    let mut out = vec![start];
    out.extend(kept);
    out.push(end);
    out
}

type Shape = (Vec<P2>, Map<String, Value>, Option<Vec<P2>>);

/// The travel path laid onto one shape (+Z up); None if it does not apply.
/// Headings: 0 faces −Y (the glTF +Z), + turns left.
fn shape(model: Model, path: &[P2], t: &[f64], tk: &[f64]) -> Option<Shape> {
    let n = path.len();
    match model {
        Model::Still => Some((vec![num::mean_rows(path); n], Map::new(), None)),
        Model::Line => {
            let m = num::mean_rows(path);
            let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
            for p in path {
                let d = num::sub(*p, m);
                sxx += d[0] * d[0];
                sxy += d[0] * d[1];
                syy += d[1] * d[1];
            }
            // the principal axis (the first right singular vector), pointing along the travel
            let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
            let mut u = [theta.cos(), theta.sin()];
            let net = num::sub(path[n - 1], path[0]);
            if u[0] * net[0] + u[1] * net[1] < 0.0 {
                u = [-u[0], -u[1]];
            }
            let along: Vec<f64> = path
                .iter()
                .map(|p| (p[0] - m[0]) * u[0] + (p[1] - m[1]) * u[1])
                .collect();
            let guide = num::linspace(num::min(&along) - EXTEND, num::max(&along) + EXTEND, 400)
                .into_iter()
                .map(|s| num::add(m, num::scale(u, s)))
                .collect();
            let xy = along
                .iter()
                .map(|&s| num::add(m, num::scale(u, s)))
                .collect();
            let mut params = Map::new();
            params.insert(
                "heading_deg".into(),
                json!(num::round(degrees(u[0].atan2(-u[1])), 1)),
            );
            Some((xy, params, Some(guide)))
        }
        Model::Arc => {
            let (c, r) = circle(path)?;
            let d: Vec<P2> = path.iter().map(|p| num::sub(*p, c)).collect();
            let ln: Vec<f64> = d.iter().map(|v| num::norm(*v)).collect();
            if num::min(&ln) < 1e-6 {
                return None;
            }
            let phi = num::unwrap(&d.iter().map(|v| v[1].atan2(v[0])).collect::<Vec<_>>());
            let ext = (std::f64::consts::PI / 2.0).min(EXTEND / r); // round on past both ends
            let mut a = num::linspace(num::min(&phi) - ext, num::max(&phi) + ext, 720);
            if phi[n - 1] < phi[0] {
                a.reverse();
            }
            let guide = a
                .iter()
                .map(|a| [c[0] + r * a.cos(), c[1] + r * a.sin()])
                .collect();
            let xy = d
                .iter()
                .zip(&ln)
                .map(|(v, l)| [c[0] + r * v[0] / l, c[1] + r * v[1] / l])
                .collect();
            let mut params = Map::new();
            params.insert("radius_m".into(), json!(num::round(r, 2)));
            Some((xy, params, Some(guide)))
        }
        Model::Bezier => {
            let seg = num::steps(path);
            let total = num::sum(&seg);
            if total < 1e-6 {
                return None;
            }
            let e_raw: Vec<f64> = num::cumsum0(&seg).iter().map(|v| v / total).collect();
            let e: Vec<f64> = num::pchip(tk, &monotone_keys(&e_raw, t, tk), t)
                .into_iter()
                .map(|v| v.clamp(0.0, 1.0))
                .collect();
            let basis: Vec<[f64; 4]> = e.iter().map(|&e| bernstein(e)).collect();
            let pc = num::lstsq(&basis, path)?;
            let xy = basis.iter().map(|w| bezier_at(w, &pc)).collect();
            let cp: Vec<Value> = pc
                .iter()
                .map(|p| json!([num::round(p[0], 3), num::round(-p[1], 3)])) // glTF (x, z)
                .collect();
            let mut params = Map::new();
            params.insert("control_points_xz".into(), Value::Array(cp));
            Some((xy, params, Some(extend(&bezier_points(&pc, 400)))))
        }
    }
}

/// The simplest shape within tolerance of the travel path.
pub fn select(body: &Body, path: &[P2], tk: Option<&[f64]>) -> Result<Fit, Failed> {
    let (n, fps) = (path.len(), body.fps);
    if n < 3 {
        return Ok(Fit {
            xy: path.to_vec(),
            model: Model::Still,
            params: Map::new(),
            guide: None,
        });
    }
    let tk = tk.ok_or(Failed("no key times"))?;
    let t = times(n, fps);
    let dist = num::sum(&num::steps(path));
    let (tol_rms, tol_max) = (TOL_RMS + TOL_REL * dist, TOL_MAX + 2.0 * TOL_REL * dist);
    let mut best: Option<(Fit, f64)> = None;
    for model in [Model::Still, Model::Line, Model::Arc, Model::Bezier] {
        if body.looped && model == Model::Bezier {
            continue; // a loop repeats: only shapes that repeat
        }
        let Some((xy, mut params, guide)) = shape(model, path, &t, tk) else {
            continue;
        };
        let err: Vec<f64> = xy
            .iter()
            .zip(path)
            .map(|(a, b)| num::norm(num::sub(*a, *b)))
            .collect();
        let (rms, max) = (num::rms(&err), num::max(&err));
        let across = across(&xy, path)?;
        let across_rms = num::rms(&across);
        let ok = if model == Model::Still {
            let net = num::norm(num::sub(path[n - 1], path[0]));
            max <= STILL_MAX
                || (net < 0.08 && dist / t[n - 1].max(1e-6) < 0.05)
                || on_the_spot(path)
        } else {
            across_rms <= tol_rms && num::max(&across) <= tol_max
        };
        params.insert("off_cm".into(), json!(num::round(across_rms * 100.0, 1)));
        let fit = Fit {
            xy,
            model,
            params,
            guide,
        };
        if ok {
            return Ok(fit);
        }
        if best.as_ref().is_none_or(|(_, r)| rms < *r) {
            best = Some((fit, rms));
        }
    }
    best.map(|(fit, _)| fit).ok_or(Failed("no shape applies"))
}

/// Each frame's place along a shape: the point of its guide nearest to the
/// COM (smoothed over `TIMING_SMOOTH`). None for a guide with no length.
pub fn retime(guide: &[P2], com: &[P2], fps: f64, looped: bool) -> Option<Vec<P2>> {
    let d: Vec<P2> = guide.windows(2).map(|w| num::sub(w[1], w[0])).collect();
    let l: Vec<f64> = d.iter().map(|v| num::norm(*v)).collect();
    if guide.len() < 2 || num::sum(&l) < 1e-3 {
        return None;
    }
    let cum = num::cumsum0(&l);
    let c = num::box2(com, &vec![TIMING_SMOOTH * fps; com.len()], looped);
    let gx = num::column(guide, 0);
    let gy = num::column(guide, 1);
    Some(
        c.iter()
            .map(|c| {
                let (mut near, mut best, mut near_u) = (0, f64::INFINITY, 0.0);
                for k in 0..d.len() {
                    let a = guide[k];
                    let u = (((c[0] - a[0]) * d[k][0] + (c[1] - a[1]) * d[k][1])
                        / (l[k] * l[k]).max(1e-12))
                    .clamp(0.0, 1.0);
                    let dx = c[0] - (a[0] + u * d[k][0]);
                    let dy = c[1] - (a[1] + u * d[k][1]);
                    let d2 = dx * dx + dy * dy;
                    if d2 < best {
                        (near, best, near_u) = (k, d2, u);
                    }
                }
                let at = cum[near] + near_u * l[near];
                [num::interp(at, &cum, &gx), num::interp(at, &cum, &gy)]
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_under_a_key_gap_cannot_be_keyed() {
        let t = times(4, 30.0);
        assert!(key_times(&[Phase::Move; 4], &t).is_err());
        let t = times(31, 30.0);
        let keys = key_times(&[Phase::Move; 31], &t).unwrap();
        assert_eq!(keys.len(), 6);
        assert_eq!((keys[0], keys[5]), (0.0, 1.0));
    }

    #[test]
    fn a_circle_through_points_on_one() {
        let p: Vec<P2> = (0..20)
            .map(|i| f64::from(i) * 0.1)
            .map(|a| [2.0 + 5.0 * a.cos(), -1.0 + 5.0 * a.sin()])
            .collect();
        let (c, r) = circle(&p).unwrap();
        assert!((c[0] - 2.0).abs() < 1e-9 && (c[1] + 1.0).abs() < 1e-9 && (r - 5.0).abs() < 1e-9);
    }
}

//! Which way the trajectory turns (gltf-output.md §7.3 step 8): where the
//! body faces (square to its hips), not where its path goes, so a strafe
//! keeps facing forward and a turn on the spot turns. What lasts counts: the
//! facing is averaged over a stride, then fitted as fixed, a steady turn or a
//! monotone keyed curve.

use super::body::Body;
use super::fit::{monotone_keys, times};
use super::num::{self, P2};
use super::Failed;

const HEADING_WINDOW: f64 = 0.5;
const YAW_STILL_DEG: f64 = 4.0;
const YAW_TOL_RMS_DEG: f64 = 2.0;
const YAW_TOL_MAX_DEG: f64 = 5.0;
const TURN_ON_SPOT_DEG: f64 = 15.0;

/// How `yaw` was obtained (the wire's `heading`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Fixed,
    Steady,
    Keyed,
    Path,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            How::Fixed => "fixed",
            How::Steady => "steady",
            How::Keyed => "keyed",
            How::Path => "path",
        }
    }
}

/// The turn from frame 0 per frame, how it was fitted, and the raw facing.
pub struct Heading {
    pub yaw: Vec<f64>,
    pub how: How,
    pub raw: Vec<f64>,
}

/// The heading; None without hips or shoulders to read a facing from.
pub fn heading(body: &Body, on_spot: bool, tk: Option<&[f64]>) -> Result<Option<Heading>, Failed> {
    let n = body.n;
    let raw = if n >= 3 { body.facing() } else { None };
    let Some(raw) = raw else { return Ok(None) };
    let tk = tk.ok_or(Failed("no key times"))?;
    let t = times(n, body.fps);
    let width: Vec<f64> = body
        .window
        .iter()
        .map(|w| w.max(HEADING_WINDOW * body.fps))
        .collect();
    let sm = num::box_average(&raw, &width, body.looped);
    let sm: Vec<f64> = sm.iter().map(|v| v - sm[0]).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let rate = dot(&t, &sm) / dot(&t, &t).max(1e-12);
    let steady: Vec<f64> = t.iter().map(|t| rate * t).collect();
    if body.looped {
        return Ok(Some(Heading {
            yaw: steady,
            how: How::Steady,
            raw,
        }));
    }
    let still = if on_spot {
        TURN_ON_SPOT_DEG
    } else {
        YAW_STILL_DEG
    }
    .to_radians();
    if sm[n - 1].abs() < still {
        return Ok(Some(Heading {
            yaw: vec![0.0; n],
            how: How::Fixed,
            raw,
        }));
    }
    let e: Vec<f64> = steady.iter().zip(&sm).map(|(a, b)| (a - b).abs()).collect();
    if num::rms(&e) <= YAW_TOL_RMS_DEG.to_radians() && num::max(&e) <= YAW_TOL_MAX_DEG.to_radians()
    {
        return Ok(Some(Heading {
            yaw: steady,
            how: How::Steady,
            raw,
        }));
    }
    let y = num::pchip(tk, &monotone_keys(&sm, &t, tk), &t);
    Ok(Some(Heading {
        yaw: y.iter().map(|v| v - y[0]).collect(),
        how: How::Keyed,
        raw,
    }))
}

/// The direction of travel along `xy`, from frame 0 (where it starts moving).
pub fn tangent_yaw(xy: &[P2], fps: f64) -> Result<Vec<f64>, Failed> {
    let n = xy.len();
    let tan = num::gradient2(xy)?;
    let ang = num::unwrap(&tan.iter().map(|v| v[0].atan2(-v[1])).collect::<Vec<_>>());
    let idx: Vec<usize> = (0..n).filter(|&i| num::norm(tan[i]) * fps > 0.05).collect();
    let Some(&first) = idx.first() else {
        return Ok(vec![0.0; n]);
    };
    let ang = num::fill(n, &idx, &ang);
    Ok(ang.iter().map(|a| a - ang[first]).collect())
}

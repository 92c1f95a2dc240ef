//! The root's way across the ground: through every `root_path` key (a
//! shape-preserving cubic per axis, so stops stay stops and nothing
//! overshoots), and elsewhere integrated from what the prompt asks for.

use crate::math::{forward, v3, wrap, V3};

/// Fastest a person runs, m/s; a path asking for more is refused.
pub const MAX_SPEED: f64 = 10.0;

/// Root-path keys, merged across constraints: (frame, x, z, heading).
#[derive(Clone, Debug, Default)]
pub struct Keys {
    pub keys: Vec<(u32, f64, f64, Option<f64>)>,
}

/// What the prompt asks of the travel on each frame.
pub struct Drive<'a> {
    pub speed: &'a [f64],
    /// Direction of travel relative to the facing.
    pub travel_dir: &'a [f64],
    /// Turn rate, rad/s.
    pub turn_rate: &'a [f64],
}

pub struct Path {
    /// Root ground position (y = 0) and facing per frame.
    pub pos: Vec<V3>,
    pub heading: Vec<f64>,
}

impl Keys {
    /// Refuses paths no person could follow.
    pub fn check_speed(&self, fps: f64) -> Result<(), String> {
        for w in self.keys.windows(2) {
            let (a, b) = (w[0], w[1]);
            let secs = (b.0 - a.0) as f64 / fps;
            let dist = (b.1 - a.1).hypot(b.2 - a.2);
            if secs > 0.0 && dist / secs > MAX_SPEED {
                return Err(format!(
                    "root_path asks for {:.1} m/s between frames {} and {}; a person runs at most {MAX_SPEED} m/s",
                    dist / secs,
                    a.0,
                    b.0
                ));
            }
        }
        Ok(())
    }
}

/// Fritsch-Carlson monotone cubic through (x, y) points, evaluated at `at`.
pub fn pchip(xs: &[f64], ys: &[f64], at: f64) -> f64 {
    let n = xs.len();
    if n == 1 {
        return ys[0];
    }
    let k = match xs.iter().position(|&x| x > at) {
        Some(0) => return ys[0],
        Some(k) => k - 1,
        None => return ys[n - 1],
    };
    let slope = |i: usize| (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]);
    let tangent = |i: usize| -> f64 {
        if i == 0 {
            return slope(0);
        }
        if i == n - 1 {
            return slope(n - 2);
        }
        let (a, b) = (slope(i - 1), slope(i));
        if a * b <= 0.0 {
            0.0
        } else {
            let (h0, h1) = (xs[i] - xs[i - 1], xs[i + 1] - xs[i]);
            let (w1, w2) = (2.0 * h1 + h0, h1 + 2.0 * h0);
            (w1 + w2) / (w1 / a + w2 / b)
        }
    };
    let h = xs[k + 1] - xs[k];
    let t = (at - xs[k]) / h;
    let (t2, t3) = (t * t, t * t * t);
    let (m0, m1) = (tangent(k) * h, tangent(k + 1) * h);
    (2.0 * t3 - 3.0 * t2 + 1.0) * ys[k]
        + (t3 - 2.0 * t2 + t) * m0
        + (-2.0 * t3 + 3.0 * t2) * ys[k + 1]
        + (t3 - t2) * m1
}

/// Lays out the root's path over `frames` frames.
pub fn build(frames: usize, fps: f64, start: V3, keys: &Keys, drive: &Drive) -> Path {
    let dt = 1.0 / fps;
    let mut pos = vec![V3::ZERO; frames];
    let mut heading = vec![0.0; frames];
    let keyed: Vec<&(u32, f64, f64, Option<f64>)> = keys.keys.iter().collect();
    let step = |h: f64, i: usize| forward(h + drive.travel_dir[i]) * (drive.speed[i] * dt);
    if keyed.len() <= 1 {
        // One anchor (or none): integrate the prompt's travel both ways from it.
        let (k0, p0, h0) = match keyed.first() {
            Some(&&(f, x, z, h)) => (
                (f as usize).min(frames - 1),
                v3(x, 0.0, z),
                h.unwrap_or(0.0),
            ),
            None => (0, v3(start.x, 0.0, start.z), 0.0),
        };
        pos[k0] = p0;
        heading[k0] = h0;
        for i in k0 + 1..frames {
            heading[i] = heading[i - 1] + drive.turn_rate[i] * dt;
            pos[i] = pos[i - 1] + step(heading[i], i);
        }
        for i in (0..k0).rev() {
            heading[i] = heading[i + 1] - drive.turn_rate[i + 1] * dt;
            pos[i] = pos[i + 1] - step(heading[i + 1], i + 1);
        }
        return Path { pos, heading };
    }
    let xs: Vec<f64> = keyed.iter().map(|k| k.0 as f64).collect();
    let px: Vec<f64> = keyed.iter().map(|k| k.1).collect();
    let pz: Vec<f64> = keyed.iter().map(|k| k.2).collect();
    let (first, last) = (
        keyed[0].0 as usize,
        (keyed[keyed.len() - 1].0 as usize).min(frames - 1),
    );
    for (i, p) in pos.iter_mut().enumerate().take(last + 1).skip(first) {
        *p = v3(pchip(&xs, &px, i as f64), 0.0, pchip(&xs, &pz, i as f64));
    }
    // Facing: along the travel (less the prompt's sideways/backward offset),
    // held while standing; keyed headings win where given.
    let keyed_heading: Vec<(f64, f64)> = keyed
        .iter()
        .filter_map(|k| k.3.map(|h| (k.0 as f64, h)))
        .collect();
    let mut h = keyed_heading.first().map(|k| k.1).unwrap_or(f64::NAN);
    for i in first..=last {
        let a = pos[i.saturating_sub(1).max(first)];
        let b = pos[(i + 1).min(last)];
        let v = b - a;
        if v.len_xz() > 0.1 * dt * 2.0 {
            let travel = v.x.atan2(v.z);
            let want = travel - drive.travel_dir[i];
            h = if h.is_nan() { want } else { h + wrap(want - h) };
        }
        heading[i] = h;
    }
    let h0 = (first..=last)
        .map(|i| heading[i])
        .find(|h| !h.is_nan())
        .unwrap_or(0.0);
    for hh in heading.iter_mut().take(last + 1).skip(first) {
        if hh.is_nan() {
            *hh = h0;
        }
    }
    if keyed_heading.len() >= 2 {
        // Unwrap so the curve turns the short way between keys.
        let kx: Vec<f64> = keyed_heading.iter().map(|k| k.0).collect();
        let mut ky: Vec<f64> = Vec::new();
        for k in &keyed_heading {
            let v = match ky.last() {
                Some(&prev) => prev + wrap(k.1 - prev),
                None => k.1,
            };
            ky.push(v);
        }
        for (i, hh) in heading.iter_mut().enumerate().take(last + 1).skip(first) {
            *hh = pchip(&kx, &ky, i as f64);
        }
    } else if keyed_heading.len() == 1 {
        let (f, v) = keyed_heading[0];
        let shift = wrap(v - heading[f as usize]);
        // One keyed heading: the whole facing curve turns to meet it.
        for hh in heading.iter_mut().take(last + 1).skip(first) {
            *hh += shift;
        }
    }
    // Smooth the facing so direction changes are turns, not snaps.
    let smoothed = smooth_angles(&heading[first..=last], (0.2 * fps).max(1.0));
    heading[first..=last].copy_from_slice(&smoothed);
    if keyed_heading.len() >= 2 {
        for &(f, v) in &keyed_heading {
            let i = f as usize;
            heading[i] += wrap(v - heading[i]);
        }
    }
    for i in last + 1..frames {
        heading[i] = heading[i - 1] + drive.turn_rate[i] * dt;
        pos[i] = pos[i - 1] + step(heading[i], i);
    }
    for i in (0..first).rev() {
        heading[i] = heading[i + 1] - drive.turn_rate[i + 1] * dt;
        pos[i] = pos[i + 1] - step(heading[i + 1], i + 1);
    }
    Path { pos, heading }
}

/// Two-pass exponential smoothing of an unwrapped angle curve (no lag).
fn smooth_angles(a: &[f64], frames: f64) -> Vec<f64> {
    let k = 1.0 / frames;
    let mut out = a.to_vec();
    for i in 1..out.len() {
        out[i] = out[i - 1] + wrap(a[i] - out[i - 1]) * k.min(1.0);
    }
    let fwd = out.clone();
    for i in (0..out.len().saturating_sub(1)).rev() {
        out[i] = out[i + 1] + wrap(fwd[i] - out[i + 1]) * k.min(1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pchip_passes_keys_and_holds_stops() {
        let xs = [0.0, 30.0, 60.0, 90.0];
        let ys = [0.0, 1.0, 1.0, 2.0];
        for (x, y) in xs.iter().zip(ys) {
            assert!((pchip(&xs, &ys, *x) - y).abs() < 1e-12);
        }
        for f in 30..=60 {
            assert!((pchip(&xs, &ys, f as f64) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn keyed_paths_pass_their_keys() {
        let n = 91;
        let zero = vec![0.0; n];
        let keys = Keys {
            keys: vec![
                (0, 0.0, 0.0, None),
                (45, 1.0, 1.5, None),
                (90, 2.0, 0.0, None),
            ],
        };
        let p = build(
            n,
            30.0,
            V3::ZERO,
            &keys,
            &Drive {
                speed: &zero,
                travel_dir: &zero,
                turn_rate: &zero,
            },
        );
        assert!((p.pos[45] - v3(1.0, 0.0, 1.5)).len() < 1e-9);
        assert!((p.pos[90] - v3(2.0, 0.0, 0.0)).len() < 1e-9);
        assert!(p.heading[10] > 0.0 && p.heading[10] < 1.5);
    }
}

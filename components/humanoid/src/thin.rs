//! Keyframe thinning (`keyframe_budget`): the frames each channel needs so
//! that linear playback stays within the budget.

use crate::synth::Sample;

/// Frames worth keying so that linear (slerp) playback stays within the
/// budget: rotations within budget / 0.5 m of lever arm, the root within the
/// budget. Greedy, checked against every sample.
pub fn thin(
    samples: &[Sample],
    joints: usize,
    frames: usize,
    budget: f64,
) -> (Vec<(usize, Vec<i32>)>, Vec<i32>) {
    let angle_tol = budget / 0.5;
    let mut out = Vec::new();
    for j in 0..joints {
        let keys = greedy(frames, |a, b, t| {
            samples.iter().all(|s| {
                let (qa, qb, qt) = (
                    s.local[a * joints + j],
                    s.local[b * joints + j],
                    s.local[t * joints + j],
                );
                let u = (t - a) as f64 / (b - a) as f64;
                qa.slerp(qb, u).angle_to(qt) <= angle_tol
            })
        });
        out.push((j, keys));
    }
    let root = greedy(frames, |a, b, t| {
        samples.iter().all(|s| {
            let u = (t - a) as f64 / (b - a) as f64;
            (s.root[a].lerp(s.root[b], u) - s.root[t]).len() <= budget
        })
    });
    (out, root)
}

fn greedy(frames: usize, ok: impl Fn(usize, usize, usize) -> bool) -> Vec<i32> {
    let mut keys = vec![0i32];
    let mut a = 0;
    while a + 1 < frames {
        let mut b = a + 1;
        // A key at least every 120 frames bounds the work (quadratic in span).
        while b + 1 < frames && b + 1 - a <= 120 && (a + 1..=b).all(|t| ok(a, b + 1, t)) {
            b += 1;
        }
        keys.push(b as i32);
        a = b;
    }
    keys
}

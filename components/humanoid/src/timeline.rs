//! Segments on the timeline: what each frame asks for, with neighbouring
//! segments cross-faded over `transition_frames`.

use crate::math::{smoothstep, Rng};
use crate::vocab::{self, Intent};

#[derive(Clone, Debug)]
pub enum SegmentKind {
    Text(String),
    Unconditioned,
    /// A single pose described in words.
    Pose(String),
}

#[derive(Clone, Debug)]
pub struct Segment {
    pub kind: SegmentKind,
    pub frames: usize,
    pub seed: Option<i64>,
}

/// What one frame asks for. Every field blends linearly.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ctl {
    pub speed: f64,
    /// Travel direction relative to the facing, as a unit vector (x left, z forward).
    pub dir_x: f64,
    pub dir_z: f64,
    pub turn_rate: f64,
    pub crouch: f64,
    pub sit: f64,
    pub energy: f64,
    pub arm_swing: f64,
    pub wave: [f64; 2],
    pub point: f64,
    pub clap: f64,
    /// Height of the whole body off the ground (jumps, hops), metres per
    /// metre of leg.
    pub air: f64,
    /// A foot taken off the ground: (forward, up) in leg lengths, and how much.
    pub lift: [(f64, f64); 2],
    pub free: [f64; 2],
    /// Idle variation (weight shifts, looking around).
    pub idle: f64,
}

/// Per-segment variation drawn from the segment's seed.
#[derive(Clone, Copy, Debug)]
pub struct SegmentStyle {
    pub speed: f64,
    pub arm: f64,
}

pub fn segment_style(seed: u64) -> SegmentStyle {
    let mut r = Rng::new(seed);
    SegmentStyle {
        speed: r.range(0.88, 1.12),
        arm: r.range(0.75, 1.3),
    }
}

/// Jump: crouch, take off, fly, land, recover; repeated to fill the segment.
/// Returns (air height in leg lengths, extra crouch).
fn jump(t: f64, dur: f64) -> (f64, f64) {
    let count = (dur / 1.2).floor().max(1.0);
    let period = dur / count;
    let k = (period / 1.4).min(1.0);
    let u = t.rem_euclid(period) / k;
    let flight = 0.45;
    if u < 0.35 {
        (0.0, 0.22 * smoothstep(u / 0.3))
    } else if u < 0.35 + flight {
        let s = (u - 0.35) / flight;
        let height = 9.81 * (flight * k).powi(2) / 8.0 / 0.84;
        (
            4.0 * height * s * (1.0 - s),
            0.22 * (1.0 - smoothstep(s * 4.0)),
        )
    } else {
        let s = (u - 0.35 - flight) / 0.55;
        (0.0, 0.18 * (1.0 - smoothstep(s)) * smoothstep(s * 6.0))
    }
}

/// Hop on the right foot, the left held up. (air, crouch).
fn hop(t: f64, dur: f64) -> (f64, f64) {
    let count = (dur / 0.55).round().max(1.0);
    let period = dur / count;
    let u = t.rem_euclid(period) / period;
    if u < 0.5 {
        let s = u / 0.5;
        (
            9.81 * (0.5 * period).powi(2) / 8.0 / 0.84 * 4.0 * s * (1.0 - s),
            0.0,
        )
    } else {
        let s = (u - 0.5) / 0.5;
        (0.0, 0.1 * (std::f64::consts::PI * s).sin())
    }
}

/// Kick with the right foot: wind up, strike, return. (forward, up, weight).
fn kick(t: f64, dur: f64) -> (f64, f64, f64) {
    let count = (dur / 1.5).floor().max(1.0);
    let period = dur / count;
    let k = (period / 1.5).min(1.0);
    let u = t.rem_euclid(period) / k;
    let (f, up) = if u < 0.3 {
        let s = smoothstep(u / 0.3);
        (-0.25 * s, 0.15 * s)
    } else if u < 0.55 {
        let s = smoothstep((u - 0.3) / 0.25);
        (-0.25 + 0.85 * s, 0.15 + 0.45 * s)
    } else if u < 1.1 {
        let s = smoothstep((u - 0.55) / 0.55);
        (0.6 * (1.0 - s), 0.6 * (1.0 - s))
    } else {
        (0.0, 0.0)
    };
    let w = if u < 1.1 { 1.0 } else { 0.0 };
    (f, up, w)
}

/// The intent of a segment at `t` seconds into it (`dur` seconds long).
fn ctl_of(intent: &Intent, style: SegmentStyle, t: f64, dur: f64, idle: f64) -> Ctl {
    let ramp = smoothstep(t / dur.clamp(0.1, 1.2));
    let mut c = Ctl {
        speed: intent.speed * style.speed,
        dir_x: intent.travel_dir.sin(),
        dir_z: intent.travel_dir.cos(),
        turn_rate: intent.turn / dur.max(0.1),
        crouch: intent.crouch,
        sit: intent.sit_from + (intent.sit_to - intent.sit_from) * ramp,
        energy: intent.energy,
        arm_swing: intent.arm_swing * style.arm,
        wave: intent.wave,
        point: intent.point,
        clap: intent.clap,
        idle,
        ..Ctl::default()
    };
    if intent.jump > 0.0 {
        let (air, crouch) = jump(t, dur);
        c.air = air;
        c.crouch += crouch;
        c.free = if air > 0.0 { [1.0, 1.0] } else { [0.0, 0.0] };
    }
    if intent.hop > 0.0 {
        let (air, crouch) = hop(t, dur);
        c.air = air;
        c.crouch += crouch;
        c.lift[0] = (-0.15, 0.3);
        c.free = [1.0, if air > 0.0 { 1.0 } else { 0.0 }];
    }
    if intent.kick > 0.0 {
        let (f, up, w) = kick(t, dur);
        c.lift[1] = (f, up);
        c.free[1] = w;
    }
    c
}

fn lerp_ctl(a: &Ctl, b: &Ctl, w: f64) -> Ctl {
    let l = |x: f64, y: f64| x + (y - x) * w;
    Ctl {
        speed: l(a.speed, b.speed),
        dir_x: l(a.dir_x, b.dir_x),
        dir_z: l(a.dir_z, b.dir_z),
        turn_rate: l(a.turn_rate, b.turn_rate),
        crouch: l(a.crouch, b.crouch),
        sit: l(a.sit, b.sit),
        energy: l(a.energy, b.energy),
        arm_swing: l(a.arm_swing, b.arm_swing),
        wave: [l(a.wave[0], b.wave[0]), l(a.wave[1], b.wave[1])],
        point: l(a.point, b.point),
        clap: l(a.clap, b.clap),
        air: l(a.air, b.air),
        lift: [
            (l(a.lift[0].0, b.lift[0].0), l(a.lift[0].1, b.lift[0].1)),
            (l(a.lift[1].0, b.lift[1].0), l(a.lift[1].1, b.lift[1].1)),
        ],
        free: [l(a.free[0], b.free[0]), l(a.free[1], b.free[1])],
        idle: l(a.idle, b.idle),
    }
}

/// Per-frame controls for the whole timeline, and a line per segment
/// saying what its prompt was understood as.
pub fn controls(
    segments: &[Segment],
    frames: usize,
    fps: f64,
    transition: usize,
    seeds: &[u64],
) -> (Vec<Ctl>, Vec<(bool, String)>) {
    let mut intents = Vec::new();
    let mut notes = Vec::new();
    for (k, s) in segments.iter().enumerate() {
        let (intent, idle) = match &s.kind {
            SegmentKind::Text(p) | SegmentKind::Pose(p) => {
                let i = vocab::parse(p);
                if i.understood.is_empty() {
                    notes.push((
                        false,
                        format!("segment {k}: no motion word recognised in {p:?}; playing a neutral idle stance"),
                    ));
                } else {
                    notes.push((
                        true,
                        format!("segment {k}: understood {}", i.understood.join(", ")),
                    ));
                }
                let idle = if i.speed == 0.0 { 1.0 } else { 0.3 };
                (i, idle)
            }
            SegmentKind::Unconditioned => (Intent::default(), 1.6),
        };
        intents.push((intent, idle));
    }
    let mut starts = Vec::new();
    let mut at = 0;
    for s in segments {
        starts.push(at);
        at += s.frames;
    }
    let at_seg = |k: usize, f: usize| -> Ctl {
        let (intent, idle) = &intents[k];
        let dur = segments[k].frames.max(1) as f64 / fps;
        let t = (f as f64 - starts[k] as f64) / fps;
        ctl_of(
            intent,
            segment_style(seeds[k]),
            t.clamp(0.0, dur),
            dur,
            *idle,
        )
    };
    let half = transition as f64 / 2.0;
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        if segments.is_empty() {
            out.push(Ctl {
                idle: 1.0,
                arm_swing: 1.0,
                dir_z: 1.0,
                ..Ctl::default()
            });
            continue;
        }
        let k = starts.iter().rposition(|&s| s <= f).unwrap_or(0);
        let mut c = at_seg(k, f);
        // Cross-fade with the neighbour whose boundary is near.
        if k > 0 && half > 0.0 && (f as f64) < starts[k] as f64 + half {
            let w = smoothstep((f as f64 - (starts[k] as f64 - half)) / (2.0 * half));
            c = lerp_ctl(&at_seg(k - 1, f), &c, w);
        } else if k + 1 < segments.len() && half > 0.0 && (f as f64) >= starts[k + 1] as f64 - half
        {
            let w = smoothstep((f as f64 - (starts[k + 1] as f64 - half)) / (2.0 * half));
            c = lerp_ctl(&c, &at_seg(k + 1, f), w);
        }
        out.push(c);
    }
    // Arms cannot teleport: gestures come and go over at least 0.6 s
    // whatever the transition length (two passes of a 0.3 s box).
    let width = ((0.15 * fps).round() as usize).max(1);
    for _ in 0..2 {
        let get = |c: &Ctl| [c.wave[0], c.wave[1], c.point, c.clap];
        let raw: Vec<[f64; 4]> = out.iter().map(get).collect();
        for (f, c) in out.iter_mut().enumerate() {
            let (a, b) = (f.saturating_sub(width), (f + width).min(frames - 1));
            let mut sum = [0.0; 4];
            for r in &raw[a..=b] {
                for k in 0..4 {
                    sum[k] += r[k];
                }
            }
            let n = (b - a + 1) as f64;
            c.wave = [sum[0] / n, sum[1] / n];
            c.point = sum[2] / n;
            c.clap = sum[3] / n;
        }
    }
    (out, notes)
}

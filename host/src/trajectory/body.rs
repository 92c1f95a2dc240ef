//! A motion read as a body (gltf-output.md §7.3 steps 2–4): forward
//! kinematics, a head and a tail point per role in a +Z-up working frame,
//! the centre of mass, and what touches the floor on which frames.

use std::collections::HashMap;

use super::num::{self, P2};
use super::roles::Roles;
use super::Failed;

pub type P3 = [f64; 3];
type M3 = [[f64; 3]; 3];

/// Per role, its head and tail point per frame, +Z up (ground plane x, y).
pub type Parts = HashMap<String, (Vec<P3>, Vec<P3>)>;

/// One joint of the request skeleton, as FK needs it.
pub struct Bone {
    pub parent: Option<usize>,
    pub rest_translation: P3,
}

fn quat_to_mat(q: [f32; 4]) -> M3 {
    let q = q.map(f64::from);
    let n = (((q[0] * q[0] + q[1] * q[1]) + q[2] * q[2]) + q[3] * q[3])
        .sqrt()
        .max(1e-12);
    let [x, y, z, w] = q.map(|v| v / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - z * w),
            2.0 * (x * z + y * w),
        ],
        [
            2.0 * (x * y + z * w),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - x * w),
        ],
        [
            2.0 * (x * z - y * w),
            2.0 * (y * z + x * w),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn mat_mul(a: &M3, b: &M3) -> M3 {
    let mut m = [[0.0; 3]; 3];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = a[r][0] * b[0][c] + a[r][1] * b[1][c] + a[r][2] * b[2][c];
        }
    }
    m
}

pub fn mat_vec(a: &M3, v: P3) -> P3 {
    [0, 1, 2].map(|r| a[r][0] * v[0] + a[r][1] * v[1] + a[r][2] * v[2])
}

pub fn transpose(a: &M3) -> M3 {
    [0, 1, 2].map(|r| [0, 1, 2].map(|c| a[c][r]))
}

/// Parents before children, in the order the joints first reach them.
pub fn order(bones: &[Bone]) -> Vec<usize> {
    let mut order = Vec::with_capacity(bones.len());
    let mut seen = vec![false; bones.len()];
    for start in 0..bones.len() {
        let mut chain = vec![];
        let mut at = Some(start);
        while let Some(j) = at.filter(|&j| !seen[j]) {
            chain.push(j);
            at = bones[j].parent;
        }
        for &j in chain.iter().rev() {
            seen[j] = true;
            order.push(j);
        }
    }
    order
}

/// World positions and rotations of every joint on one frame, as the glTF
/// plays them: rotation channels replace rest rotations, the root's
/// translation replaces its rest translation.
pub fn pose(
    bones: &[Bone],
    order: &[usize],
    rotations: &[[f32; 4]],
    root: [f32; 3],
) -> (Vec<P3>, Vec<M3>) {
    let mut pos = vec![[0.0; 3]; bones.len()];
    let mut rot = vec![[[0.0; 3]; 3]; bones.len()];
    for &i in order {
        let r = quat_to_mat(rotations[i]);
        match bones[i].parent {
            None => {
                pos[i] = root.map(f64::from);
                rot[i] = r;
            }
            Some(k) => {
                let off = mat_vec(&rot[k], bones[i].rest_translation);
                pos[i] = [0, 1, 2].map(|c| pos[k][c] + off[c]);
                rot[i] = mat_mul(&rot[k], &r);
            }
        }
    }
    (pos, rot)
}

fn zup(p: P3) -> P3 {
    [p[0], -p[2], p[1]]
}

/// Head and tail per role, from per-joint positions per frame (glTF frame).
pub fn parts(positions: &[Vec<P3>], roles: &Roles) -> Parts {
    let track = |j: usize| -> Vec<P3> { positions.iter().map(|frame| frame[j]).collect() };
    let tails: HashMap<&str, &str> = [
        ("l_hand", "l_hand_end"),
        ("r_hand", "r_hand_end"),
        ("l_foot", "l_toe"),
        ("r_foot", "r_toe"),
        ("hips", "spine"),
        ("spine", "chest"),
        ("chest", "neck"),
        ("neck", "head"),
        ("l_arm", "l_forearm"),
        ("l_forearm", "l_hand"),
        ("r_arm", "r_forearm"),
        ("r_forearm", "r_hand"),
        ("l_leg", "l_shin"),
        ("l_shin", "l_foot"),
        ("r_leg", "r_shin"),
        ("r_shin", "r_foot"),
    ]
    .into();
    let beyond = |head: &[P3], from: &[P3], k: f64| -> Vec<P3> {
        head.iter()
            .zip(from)
            .map(|(h, f)| [0, 1, 2].map(|c| h[c] + (h[c] - f[c]) * k))
            .collect()
    };
    let mut out = Parts::new();
    for (role, &j) in roles {
        if role.ends_with("_end") || role.ends_with("_toe") {
            continue;
        }
        let head = track(j);
        let tail = if let Some(&t) = tails.get(role.as_str()).and_then(|t| roles.get(*t)) {
            track(t)
        } else if role == "head" && roles.contains_key("neck") {
            beyond(&head, &track(roles["neck"]), 1.2) // the top of the head
        } else if role == "l_hand" || role == "r_hand" {
            match roles.get(&format!("{}_forearm", &role[..1])) {
                Some(&fa) => beyond(&head, &track(fa), 0.6),
                None => head.clone(),
            }
        } else {
            head.clone()
        };
        out.insert(
            role.clone(),
            (
                head.into_iter().map(zup).collect(),
                tail.into_iter().map(zup).collect(),
            ),
        );
    }
    out
}

/// Segment mass fractions and where along each its mass sits (Winter 2009).
/// `Some(role)` as the far end means that role's tail.
const SEGMENTS: [(&str, End, f64, f64); 16] = [
    ("hips", End::Head("spine"), 0.142, 0.5),
    ("spine", End::Head("chest"), 0.139, 0.5),
    ("chest", End::Head("neck"), 0.216, 0.5),
    ("neck", End::Tail("head"), 0.081, 0.6),
    ("l_arm", End::Head("l_forearm"), 0.028, 0.436),
    ("l_forearm", End::Head("l_hand"), 0.016, 0.43),
    ("l_hand", End::Tail("l_hand"), 0.006, 0.5),
    ("l_leg", End::Head("l_shin"), 0.100, 0.433),
    ("l_shin", End::Head("l_foot"), 0.0465, 0.433),
    ("l_foot", End::Tail("l_foot"), 0.0145, 0.5),
    ("r_arm", End::Head("r_forearm"), 0.028, 0.436),
    ("r_forearm", End::Head("r_hand"), 0.016, 0.43),
    ("r_hand", End::Tail("r_hand"), 0.006, 0.5),
    ("r_leg", End::Head("r_shin"), 0.100, 0.433),
    ("r_shin", End::Head("r_foot"), 0.0465, 0.433),
    ("r_foot", End::Tail("r_foot"), 0.0145, 0.5),
];

enum End {
    Head(&'static str),
    Tail(&'static str),
}

/// The centre of mass per frame; the hips when under 0.3 of the body is found.
fn com(parts: &Parts) -> Vec<P3> {
    let mut total = 0.0;
    let mut acc: Option<Vec<P3>> = None;
    for (a, b, m, u) in SEGMENTS {
        let Some((p, _)) = parts.get(a) else { continue };
        let q = match b {
            End::Tail(r) => parts.get(r).map(|(_, tail)| tail),
            End::Head(r) => parts.get(r).map(|(head, _)| head),
        };
        let Some(q) = q else { continue };
        let c: Vec<P3> = p
            .iter()
            .zip(q)
            .map(|(p, q)| [0, 1, 2].map(|k| m * (p[k] + (q[k] - p[k]) * u)))
            .collect();
        acc = Some(match acc {
            None => c,
            Some(acc) => acc
                .iter()
                .zip(&c)
                .map(|(a, c)| [0, 1, 2].map(|k| a[k] + c[k]))
                .collect(),
        });
        total += m;
    }
    match acc {
        Some(acc) if total >= 0.3 => acc.iter().map(|a| a.map(|v| v / total)).collect(),
        _ => parts["hips"].0.clone(),
    }
}

/// (group, role, tail?, height above the floor when on it (m, for hips 0.9 m
/// up), torso?)
const CONTACTS: [(&str, &str, bool, f64, bool); 20] = [
    ("l foot", "l_foot", false, 0.09, false),
    ("l foot", "l_foot", true, 0.06, false),
    ("r foot", "r_foot", false, 0.09, false),
    ("r foot", "r_foot", true, 0.06, false),
    ("l knee", "l_shin", false, 0.12, false),
    ("r knee", "r_shin", false, 0.12, false),
    ("l hand", "l_hand", true, 0.11, false),
    ("l hand", "l_hand", false, 0.16, false),
    ("r hand", "r_hand", true, 0.11, false),
    ("r hand", "r_hand", false, 0.16, false),
    ("l elbow", "l_forearm", false, 0.12, false),
    ("r elbow", "r_forearm", false, 0.12, false),
    ("torso", "l_arm", false, 0.15, true),
    ("torso", "r_arm", false, 0.15, true),
    ("torso", "hips", false, 0.18, true),
    ("torso", "spine", false, 0.15, true),
    ("torso", "chest", false, 0.15, true),
    ("torso", "neck", false, 0.15, true),
    ("head", "head", false, 0.13, true),
    ("head", "head", true, 0.13, true),
];

const GROUPS: [&str; 10] = [
    "l foot", "r foot", "l hand", "r hand", "l knee", "r knee", "l elbow", "r elbow", "torso",
    "head",
];

/// One contact candidate: its group, its ground-plane track, and the frames
/// it touches the floor.
pub struct Contact {
    pub group: &'static str,
    pub xy: Vec<P2>,
    pub down: Vec<bool>,
}

/// A motion, read for its travel: the COM and what touches the floor.
pub struct Body<'a> {
    pub parts: &'a Parts,
    pub fps: f64,
    pub looped: bool,
    pub com: Vec<P2>,
    pub n: usize,
    pub contacts: Vec<Contact>,
    /// Per frame the local contact cycle, in frames (read by the travel
    /// path and the heading alike).
    pub window: Vec<f64>,
}

impl<'a> Body<'a> {
    pub fn new(parts: &'a Parts, fps: f64, looped: bool) -> Result<Body<'a>, Failed> {
        let com: Vec<P2> = com(parts).iter().map(|p| [p[0], p[1]]).collect();
        let n = com.len();
        if n == 0 {
            return Err(Failed("no frames"));
        }
        let mut feet: Vec<Vec<f64>> = vec![];
        for k in ["l_foot", "r_foot"] {
            if let Some((head, tail)) = parts.get(k) {
                feet.push(head.iter().map(|p| p[2]).collect());
                feet.push(tail.iter().map(|p| p[2]).collect());
            }
        }
        let hips_z: Vec<f64> = parts["hips"].0.iter().map(|p| p[2]).collect();
        let low: Vec<f64> = if feet.is_empty() {
            hips_z.iter().map(|z| z - 0.9).collect()
        } else {
            (0..n)
                .map(|i| feet.iter().map(|f| f[i]).fold(f64::INFINITY, f64::min))
                .collect()
        };
        let floor = num::percentile(&low, 5.0) - 0.033;
        let hip = num::median(&hips_z) - floor;
        let scale = if hip > 0.3 { hip / 0.9 } else { 1.0 };
        let body_v = if n > 1 {
            num::speeds(&com, fps)?
        } else {
            vec![0.0; n]
        };
        let mut contacts = vec![];
        for (group, role, tail, h, torso) in CONTACTS {
            let Some((head_track, tail_track)) = parts.get(role) else {
                continue;
            };
            let p = if tail { tail_track } else { head_track };
            let xy: Vec<P2> = p.iter().map(|p| [p[0], p[1]]).collect();
            let v = if n > 1 {
                num::speeds(&xy, fps)?
            } else {
                vec![0.0; n]
            };
            let limit = if torso { 1.2 } else { 0.4 } * scale;
            let d: Vec<bool> = (0..n)
                .map(|i| p[i][2] - floor < h * scale && v[i] < limit + 0.3 * body_v[i])
                .collect();
            // a one-frame touch is a blip
            let down = (0..n)
                .map(|i| d[i] && ((i > 0 && d[i - 1]) || (i + 1 < n && d[i + 1])))
                .collect();
            contacts.push(Contact { group, xy, down });
        }
        let mut body = Body {
            parts,
            fps,
            looped,
            com,
            n,
            contacts,
            window: vec![],
        };
        body.window = body.cycles();
        Ok(body)
    }

    /// Frames each of `group`'s points touches.
    fn group_down(&self, group: &str) -> Vec<bool> {
        let mut d = vec![false; self.n];
        for c in self.contacts.iter().filter(|c| c.group == group) {
            for (a, b) in d.iter_mut().zip(&c.down) {
                *a |= *b;
            }
        }
        d
    }

    /// Which way the body faces per frame (radians, + turns left about +Z):
    /// square to the hip line, or the shoulder line without hips.
    pub fn facing(&self) -> Option<Vec<f64>> {
        let (left, right) = [("l_leg", "r_leg"), ("l_arm", "r_arm")]
            .into_iter()
            .find(|(l, r)| self.parts.contains_key(*l) && self.parts.contains_key(*r))?;
        let lat: Vec<P2> = self.parts[right]
            .0
            .iter()
            .zip(&self.parts[left].0)
            .map(|(r, l)| [r[0] - l[0], r[1] - l[1]])
            .collect();
        if lat
            .iter()
            .map(|v| num::norm(*v))
            .fold(f64::INFINITY, f64::min)
            < 1e-6
        {
            return None;
        }
        Some(num::unwrap(
            &lat.iter().map(|v| v[0].atan2(-v[1])).collect::<Vec<_>>(),
        ))
    }

    /// The frames each foot comes down on (sync markers for a game).
    pub fn touchdowns(&self) -> [(&'static str, Vec<usize>); 2] {
        [("l foot", "LeftFootDown"), ("r foot", "RightFootDown")].map(|(group, name)| {
            let d = self.group_down(group);
            let mut on: Vec<usize> = (1..self.n).filter(|&i| d[i] && !d[i - 1]).collect();
            if self.looped && self.n > 2 && d[0] && !d[self.n - 2] {
                on.insert(0, 0); // a cycle that starts on it
            }
            (name, on)
        })
    }

    /// The support centroid per frame (in flight, the COM offset to join
    /// take-off and landing), and which frames are in flight.
    pub fn anchor(&self) -> (Vec<P2>, Vec<bool>) {
        let n = self.n;
        let mut anchor: Vec<Option<P2>> = vec![None; n];
        for (i, a) in anchor.iter_mut().enumerate() {
            let pts: Vec<P2> = self
                .contacts
                .iter()
                .filter(|c| c.down[i])
                .map(|c| c.xy[i])
                .collect();
            if !pts.is_empty() {
                *a = Some(num::mean_rows(&pts));
            }
        }
        let flight: Vec<bool> = anchor.iter().map(Option::is_none).collect();
        let idx: Vec<usize> = (0..n).filter(|&i| !flight[i]).collect();
        if idx.is_empty() {
            return (self.com.clone(), flight);
        }
        let off: Vec<P2> = (0..n)
            .map(|i| anchor[i].map_or([f64::NAN; 2], |a| num::sub(a, self.com[i])))
            .collect();
        let ox = num::fill(n, &idx, &num::column(&off, 0));
        let oy = num::fill(n, &idx, &num::column(&off, 1));
        let out = (0..n)
            .map(|i| num::add(self.com[i], [ox[i], oy[i]]))
            .collect();
        (out, flight)
    }

    /// Per frame the local contact cycle (a limb's touch-down to its next), in frames.
    fn cycles(&self) -> Vec<f64> {
        let (n, fps) = (self.n, self.fps);
        let (mut mids, mut lens) = (vec![], vec![]);
        for g in GROUPS {
            let d = self.group_down(g);
            let mut on: Vec<usize> = (1..n).filter(|&i| d[i] && !d[i - 1]).collect();
            if self.looped && n > 1 && d[0] && !d[n - 1] {
                on.insert(0, 0);
            }
            let mut pairs: Vec<(usize, usize)> = on.windows(2).map(|w| (w[0], w[1])).collect();
            if self.looped && !on.is_empty() {
                pairs.push((on[on.len() - 1], on[0] + (n - 1)));
            }
            for (a, b) in pairs {
                if (b as f64 - a as f64) >= 0.25 * fps {
                    mids.push((a + b) as f64 / 2.0);
                    lens.push((b - a) as f64);
                }
            }
        }
        let mut w = vec![0.3 * fps; n];
        for (i, wi) in w.iter_mut().enumerate() {
            let near: Vec<f64> = mids
                .iter()
                .zip(&lens)
                .filter(|(m, l)| (*m - i as f64).abs() <= *l / 2.0 + 1.0)
                .map(|(_, l)| *l)
                .collect();
            if !near.is_empty() {
                *wi = num::median(&near).clamp(0.3 * fps, 1.8 * fps);
            }
        }
        if self.looped {
            let m = num::median(&w);
            w.iter_mut().for_each(|v| *v = m);
        }
        w
    }

    /// One-shot phases per frame: standing on a fixed base, in flight, or moving.
    fn phases(&self, anchor: &[P2], flight: &[bool]) -> Vec<Phase> {
        let (n, fps) = (self.n, self.fps);
        let set = |i: usize| self.contacts.iter().map(move |c| c.down[i]);
        let mut labels: Vec<Phase> = flight
            .iter()
            .map(|&f| if f { Phase::Flight } else { Phase::Move })
            .collect();
        let mut i = 0;
        while i < n {
            if flight[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < n && set(j + 1).eq(set(i)) && !flight[j + 1] {
                j += 1;
            }
            let dur = (j - i + 1) as f64 / fps;
            if dur >= 0.4
                && num::norm(num::sub(anchor[j], anchor[i])) < 0.03
                && num::norm(num::sub(self.com[j], self.com[i])) / dur < 0.15
            {
                labels[i..=j].iter_mut().for_each(|l| *l = Phase::Base);
            }
            i = j + 1;
        }
        labels
    }

    /// Does any limb come down somewhere new (more than 5 cm from its last spot)?
    fn replants(&self) -> bool {
        GROUPS.iter().any(|g| {
            let mut spots: Vec<P2> = vec![];
            for c in self.contacts.iter().filter(|c| c.group == *g) {
                let mut i = 0;
                while i < self.n {
                    if c.down[i] {
                        let mut j = i;
                        while j + 1 < self.n && c.down[j + 1] {
                            j += 1;
                        }
                        spots.push(num::mean_rows(&c.xy[i..=j]));
                        i = j + 1;
                    } else {
                        i += 1;
                    }
                }
            }
            spots
                .windows(2)
                .any(|w| num::norm(num::sub(w[1], w[0])) > 0.05)
        })
    }

    /// The travel path (the COM with the gait taken out) and a phase per frame.
    pub fn travel_path(&self) -> (Vec<P2>, Vec<Phase>) {
        let n = self.n;
        if n < 3 {
            return (self.com.clone(), vec![Phase::Base; n]);
        }
        let avg = num::box2(&self.com, &self.window, self.looped);
        let (anchor, flight) = self.anchor();
        if self.looped {
            let labels = vec![Phase::Move; n];
            if !self.replants() && !flight.iter().any(|&f| f) {
                // on the spot: straight from the first support to the last
                let u = num::linspace(0.0, 1.0, n);
                let d = num::sub(anchor[n - 1], anchor[0]);
                return (
                    u.iter()
                        .map(|&u| num::add(anchor[0], num::scale(d, u)))
                        .collect(),
                    labels,
                );
            }
            return (avg, labels);
        }
        let labels = self.phases(&anchor, &flight);
        let mut runs = vec![];
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j + 1 < n && labels[j + 1] == labels[i] {
                j += 1;
            }
            runs.push((labels[i], i, j));
            i = j + 1;
        }
        let mut p: Vec<Option<P2>> = vec![None; n];
        for &(kind, i, j) in &runs {
            if kind == Phase::Base {
                let m = num::mean_rows(&anchor[i..=j]);
                p[i..=j].iter_mut().for_each(|v| *v = Some(m));
            }
        }
        for &(kind, i, j) in &runs {
            if kind == Phase::Move {
                let a = match i.checked_sub(1).and_then(|k| p[k]) {
                    Some(prev) => num::sub(prev, avg[i]),
                    None => [0.0, 0.0],
                };
                let b = match p.get(j + 1).copied().flatten() {
                    Some(next) => num::sub(next, avg[j]),
                    None => [0.0, 0.0],
                };
                let u = num::linspace(0.0, 1.0, j - i + 1);
                for (k, u) in (i..=j).zip(u) {
                    p[k] = Some(num::add(num::add(avg[k], a), num::scale(num::sub(b, a), u)));
                }
            }
        }
        for &(kind, i, j) in &runs {
            if kind == Phase::Flight {
                let a = if i > 0 { p[i - 1] } else { Some(avg[i]) };
                let b = p.get(j + 1).copied().flatten().unwrap_or(avg[j]);
                for (k, slot) in p.iter_mut().enumerate().take(j + 1).skip(i) {
                    let u = (k as f64 - (i as f64 - 1.0)) / (j as f64 + 2.0 - i as f64);
                    *slot = a.map(|a| num::add(a, num::scale(num::sub(b, a), u)));
                }
            }
        }
        let p: Vec<P2> = p.iter().zip(&avg).map(|(p, a)| p.unwrap_or(*a)).collect();
        let k = vec![0.2 * self.fps; n];
        (num::box2(&p, &k, false), labels)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Move,
    Flight,
    Base,
}

//! Vectors and quaternions in f64: right-handed, +Y up, quaternions (x, y, z, w).

use std::ops::{Add, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct V3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    pub const ZERO: V3 = v3(0.0, 0.0, 0.0);
    pub const Y: V3 = v3(0.0, 1.0, 0.0);

    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    pub fn cross(self, o: V3) -> V3 {
        v3(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }
    pub fn len(self) -> f64 {
        self.dot(self).sqrt()
    }
    /// Unit vector; zero stays zero (callers pick a fallback direction).
    pub fn norm(self) -> V3 {
        let l = self.len();
        if l > 1e-12 {
            self * (1.0 / l)
        } else {
            V3::ZERO
        }
    }
    pub fn lerp(self, o: V3, t: f64) -> V3 {
        self + (o - self) * t
    }
    /// Horizontal length (ground plane).
    pub fn len_xz(self) -> f64 {
        self.x.hypot(self.z)
    }
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite() && self.z.is_finite()
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}
impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Q {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub w: f64,
}

impl Default for Q {
    fn default() -> Self {
        Q::ID
    }
}

impl Q {
    pub const ID: Q = Q {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    };

    pub fn new(x: f64, y: f64, z: f64, w: f64) -> Q {
        Q { x, y, z, w }
    }

    pub fn axis_angle(axis: V3, angle: f64) -> Q {
        let a = axis.norm();
        let (s, c) = (angle * 0.5).sin_cos();
        Q::new(a.x * s, a.y * s, a.z * s, c)
    }
    /// Rotation about +Y: 0 faces +Z, positive turns +Z toward +X.
    pub fn yaw(angle: f64) -> Q {
        Q::axis_angle(V3::Y, angle)
    }
    /// Rotation about +X: positive tips +Z down toward -Y.
    pub fn pitch(angle: f64) -> Q {
        Q::axis_angle(v3(1.0, 0.0, 0.0), angle)
    }
    /// Rotation about +Z: positive tips +X up toward +Y.
    pub fn roll(angle: f64) -> Q {
        Q::axis_angle(v3(0.0, 0.0, 1.0), angle)
    }

    pub fn conj(self) -> Q {
        Q::new(-self.x, -self.y, -self.z, self.w)
    }
    pub fn dot(self, o: Q) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z + self.w * o.w
    }
    pub fn normalize(self) -> Q {
        let l = self.dot(self).sqrt();
        if l > 1e-12 && l.is_finite() {
            Q::new(self.x / l, self.y / l, self.z / l, self.w / l)
        } else {
            Q::ID
        }
    }
    pub fn rotate(self, v: V3) -> V3 {
        let u = v3(self.x, self.y, self.z);
        let t = u.cross(v) * 2.0;
        v + t * self.w + u.cross(t)
    }
    /// The smallest rotation taking direction `a` to direction `b`.
    pub fn from_to(a: V3, b: V3) -> Q {
        let (a, b) = (a.norm(), b.norm());
        let d = a.dot(b);
        if d < -0.999_999 {
            // Opposite: any perpendicular axis will do.
            let mut axis = v3(1.0, 0.0, 0.0).cross(a);
            if axis.len() < 1e-6 {
                axis = v3(0.0, 1.0, 0.0).cross(a);
            }
            return Q::axis_angle(axis, std::f64::consts::PI);
        }
        let c = a.cross(b);
        Q::new(c.x, c.y, c.z, 1.0 + d).normalize()
    }
    pub fn slerp(self, o: Q, t: f64) -> Q {
        let mut o = o;
        let mut d = self.dot(o);
        if d < 0.0 {
            o = Q::new(-o.x, -o.y, -o.z, -o.w);
            d = -d;
        }
        if d > 0.9995 {
            return Q::new(
                self.x + (o.x - self.x) * t,
                self.y + (o.y - self.y) * t,
                self.z + (o.z - self.z) * t,
                self.w + (o.w - self.w) * t,
            )
            .normalize();
        }
        let th = d.clamp(-1.0, 1.0).acos();
        let s = th.sin();
        let (a, b) = (((1.0 - t) * th).sin() / s, (t * th).sin() / s);
        Q::new(
            self.x * a + o.x * b,
            self.y * a + o.y * b,
            self.z * a + o.z * b,
            self.w * a + o.w * b,
        )
    }
    /// Angle of the rotation between two orientations, radians.
    pub fn angle_to(self, o: Q) -> f64 {
        2.0 * self.dot(o).abs().clamp(0.0, 1.0).acos()
    }
    /// The same rotation with w >= 0 (keeps channels free of sign flips).
    pub fn canonical(self) -> Q {
        if self.w < 0.0 {
            Q::new(-self.x, -self.y, -self.z, -self.w)
        } else {
            self
        }
    }
}

impl Mul for Q {
    type Output = Q;
    fn mul(self, o: Q) -> Q {
        Q::new(
            self.w * o.x + self.x * o.w + self.y * o.z - self.z * o.y,
            self.w * o.y - self.x * o.z + self.y * o.w + self.z * o.x,
            self.w * o.z + self.x * o.y - self.y * o.x + self.z * o.w,
            self.w * o.w - self.x * o.x - self.y * o.y - self.z * o.z,
        )
    }
}

/// The unit direction `t` of the way from `a`'s direction to `b`'s, at a
/// steady angular rate.
pub fn slerp_dir(a: V3, b: V3, t: f64) -> V3 {
    let a = a.norm();
    Q::ID.slerp(Q::from_to(a, b), t).rotate(a).norm()
}

pub fn smoothstep(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Wraps an angle to (-pi, pi].
pub fn wrap(a: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let mut a = a % tau;
    if a > std::f64::consts::PI {
        a -= tau;
    } else if a <= -std::f64::consts::PI {
        a += tau;
    }
    a
}

/// Forward (facing) direction for a heading: 0 is +Z, pi/2 is +X.
pub fn forward(heading: f64) -> V3 {
    v3(heading.sin(), 0.0, heading.cos())
}

/// The character's left for a heading (+X when facing +Z).
pub fn left(heading: f64) -> V3 {
    v3(heading.cos(), 0.0, -heading.sin())
}

/// Deterministic random numbers (SplitMix64): same seed, same motion.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: V3, b: V3) -> bool {
        (a - b).len() < 1e-9
    }

    #[test]
    fn conventions() {
        assert!(close(
            Q::yaw(std::f64::consts::FRAC_PI_2).rotate(v3(0.0, 0.0, 1.0)),
            v3(1.0, 0.0, 0.0)
        ));
        assert!(close(forward(0.3), Q::yaw(0.3).rotate(v3(0.0, 0.0, 1.0))));
        assert!(close(left(0.3), Q::yaw(0.3).rotate(v3(1.0, 0.0, 0.0))));
        let p = Q::pitch(0.2).rotate(v3(0.0, 0.0, 1.0));
        assert!(p.y < 0.0);
    }

    #[test]
    fn from_to_maps_directions() {
        for (a, b) in [
            (v3(1.0, 0.0, 0.0), v3(0.0, -1.0, 0.0)),
            (v3(0.0, 1.0, 0.0), v3(0.0, -1.0, 0.0)),
            (v3(0.3, -1.0, 0.2), v3(0.1, 0.4, 0.9)),
        ] {
            assert!(close(Q::from_to(a, b).rotate(a.norm()), b.norm()));
        }
    }
}

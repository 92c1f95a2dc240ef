//! The parts of Kimodo that run on the CPU and need no tensor: the diffusion
//! schedule (fact sheet §2.1), the sinusoid table (§1.5), `.npy` and
//! `config.yaml` reading (§4), prompt sanitisation (§5), the SOMA-30
//! skeleton (§3.1), decoding features into rotations (§2.7) and the pose
//! geometry the constraints need (FK, quaternions, 6D, reach rotations;
//! §2.4, §7.3). Each
//! follows the NumPy reference in `tests/python/kimodo/` decision for
//! decision (its README, "Decisions").

/// Training diffusion steps.
pub const N_BASE: usize = 1000;
/// SOMA-30 feature size and its parts (§1.4).
pub const MOTION_DIM: usize = 369;
pub const GLOBAL_ROOT_DIM: usize = 5;
pub const LOCAL_ROOT_DIM: usize = 4;
pub const BODY_DIM: usize = 364;
pub const LLM_DIM: usize = 4096;
pub const NUM_JOINTS: usize = 30;
pub const FPS: f64 = 30.0;

// ---------------------------------------------------------------- schedule

/// Cosine-schedule ᾱ over the 1000 training steps: betas in double
/// (clamped at 0.999), stored f32; the cumulative product of (1 - β) in f32.
pub fn base_alphas_cumprod() -> Vec<f32> {
    let abar = |u: f64| {
        let c = ((u + 0.008) / 1.008 * std::f64::consts::PI / 2.0).cos();
        c * c
    };
    let n = N_BASE as f64;
    let mut out = Vec::with_capacity(N_BASE);
    let mut acc = 1.0f32;
    for i in 0..N_BASE {
        let beta = (1.0 - abar((i + 1) as f64 / n) / abar(i as f64 / n)).min(0.999) as f32;
        acc *= 1.0f32 - beta;
        out.push(acc);
    }
    out
}

/// Training-step index of each of K sampling steps: round-half-to-even of
/// the f32 product f32(k) · f32(999 / (K - 1)), clamped to 999.
pub fn timesteps(k: usize) -> Vec<usize> {
    let stride = ((N_BASE - 1) as f64 / k.saturating_sub(1).max(1) as f64) as f32;
    (0..k)
        .map(|i| ((i as f32 * stride).round_ties_even() as usize).min(N_BASE - 1))
        .collect()
}

/// Per-step f32 buffers of a K-step DDIM, derived as the original does.
pub struct Schedule {
    pub timesteps: Vec<usize>,
    pub alphas_cumprod_prev: Vec<f32>,
    pub sqrt_recip: Vec<f32>,
    pub sqrt_recipm1: Vec<f32>,
}

pub fn respaced(k: usize) -> Schedule {
    let acb = base_alphas_cumprod();
    let ts = timesteps(k);
    let a: Vec<f32> = ts.iter().map(|&t| acb[t]).collect();
    let mut acp = Vec::with_capacity(k);
    let mut acc = 1.0f32;
    for i in 0..k {
        let last = if i == 0 { 1.0 } else { a[i - 1] };
        let beta = 1.0f32 - a[i] / last;
        acc *= 1.0f32 - beta;
        acp.push(acc);
    }
    let acp: Vec<f32> = acp.iter().map(|&v| v.max(1e-9)).collect();
    let prev = std::iter::once(1.0f32)
        .chain(acp[..k.saturating_sub(1)].iter().copied())
        .collect();
    Schedule {
        timesteps: ts,
        alphas_cumprod_prev: prev,
        sqrt_recip: acp.iter().map(|&v| 1.0f32 / v.sqrt()).collect(),
        sqrt_recipm1: acp
            .iter()
            .map(|&v| 1.0f32 / (v / (1.0f32 - v)).sqrt())
            .collect(),
    }
}

// ---------------------------------------------------------------- sinusoid table

/// Rows [start, start + count) of the W-wide sinusoid table: PE[p, 2i] =
/// sin(p · div_i), PE[p, 2i + 1] = cos(same), div_i = f32(10000^(-2i/W)),
/// the product in f32, sin/cos correctly rounded through f64.
pub fn pe_rows(width: usize, start: usize, count: usize) -> Vec<f32> {
    let div: Vec<f32> = (0..width)
        .step_by(2)
        .map(|i| 10000f64.powf(-(i as f64) / width as f64) as f32)
        .collect();
    let mut out = vec![0.0f32; width * count];
    for r in 0..count {
        let p = (start + r) as f32;
        let row = &mut out[r * width..(r + 1) * width];
        for (i, &d) in div.iter().enumerate() {
            let arg = (p * d) as f64;
            row[2 * i] = arg.sin() as f32;
            if 2 * i + 1 < width {
                row[2 * i + 1] = arg.cos() as f32;
            }
        }
    }
    out
}

// ---------------------------------------------------------------- .npy

/// A little-endian f4 or f8 `.npy` (format version 1, 2 or 3, C order) as
/// f32 values.
pub fn parse_npy(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
            (n, 12)
        }
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| ".npy header is not text")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!(".npy header has no '{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':').ok_or(".npy header is malformed")?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        let end = descr.find(',').unwrap_or(descr.len());
        return Err(format!(
            ".npy dtype {} is not supported (little-endian f4 or f8 only)",
            &descr[..end]
        ));
    };
    if field("fortran_order")?.starts_with("True") {
        return Err(".npy in Fortran order is not supported".into());
    }
    let shape = field("shape")?;
    let shape = &shape[1..shape.find(')').ok_or(".npy shape is malformed")?];
    let mut count = 1usize;
    for dim in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        count *= dim
            .parse::<usize>()
            .map_err(|_| format!(".npy shape entry {dim:?} is not a number"))?;
    }
    let data = &bytes[start + header_len..];
    if data.len() < count * width {
        return Err(format!(
            ".npy holds {} bytes of data; its shape needs {}",
            data.len(),
            count * width
        ));
    }
    Ok(data[..count * width]
        .chunks_exact(width)
        .map(|c| {
            if width == 4 {
                f32::from_le_bytes([c[0], c[1], c[2], c[3]])
            } else {
                f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
            }
        })
        .collect())
}

// ---------------------------------------------------------------- config.yaml

/// The scalar value of `key` anywhere in a small block-style YAML file (the
/// first line `key: value` at any indentation), without quotes; `None` when
/// absent or empty. Enough for the published `config.yaml` (§1.1), whose
/// keys we read (`num_heads`, `num_text_tokens_override`, `cfg_type`) are
/// unique in it.
pub fn yaml_scalar(text: &str, key: &str) -> Option<String> {
    for line in text.lines() {
        let body = line.split(" #").next().unwrap_or("").trim();
        if body.starts_with('#') {
            continue;
        }
        if let Some(rest) = body.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let v = rest.trim().trim_matches(|c| c == '"' || c == '\'');
            return (!v.is_empty()).then(|| v.to_owned());
        }
    }
    None
}

// ---------------------------------------------------------------- prompts

fn capitalize_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Kimodo's prompt normalisation (the reference's `sampler.sanitize`):
/// collapse whitespace; drop leading non-alphanumerics; first letter upper,
/// the rest lower; drop trailing characters that are neither alphanumeric
/// nor one of `.!?"])'`; end with `.` unless it ends in `.`, `!` or `?`;
/// then capitalise each sentence after `.`, `!` and `?`.
pub fn sanitize(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return text;
    }
    let chars: Vec<char> = text.chars().collect();
    let start = chars
        .iter()
        .position(|c| c.is_alphanumeric())
        .unwrap_or(chars.len() - 1);
    let rest: String = chars[start..].iter().collect();
    let mut it = rest.chars();
    let first: String = it
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    let chars: Vec<char> = first
        .chars()
        .chain(it.as_str().to_lowercase().chars())
        .collect();
    let mut end = chars.len() - 1;
    while end > 0 && !(chars[end].is_alphanumeric() || ".!?\"])'".contains(chars[end])) {
        end -= 1;
    }
    let mut text: String = chars[..=end].iter().collect();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    for mark in ['.', '!', '?'] {
        let joined = text
            .split(mark)
            .map(|p| capitalize_first(p.trim()))
            .collect::<Vec<_>>()
            .join(&format!("{mark} "));
        text = joined.trim().to_owned();
    }
    text
}

// ---------------------------------------------------------------- skeleton

pub const JOINT_NAMES: [&str; NUM_JOINTS] = [
    "Hips",
    "Spine1",
    "Spine2",
    "Chest",
    "Neck1",
    "Neck2",
    "Head",
    "Jaw",
    "LeftEye",
    "RightEye",
    "LeftShoulder",
    "LeftArm",
    "LeftForeArm",
    "LeftHand",
    "LeftHandThumbEnd",
    "LeftHandMiddleEnd",
    "RightShoulder",
    "RightArm",
    "RightForeArm",
    "RightHand",
    "RightHandThumbEnd",
    "RightHandMiddleEnd",
    "LeftLeg",
    "LeftShin",
    "LeftFoot",
    "LeftToeBase",
    "RightLeg",
    "RightShin",
    "RightFoot",
    "RightToeBase",
];

pub const PARENTS: [i32; NUM_JOINTS] = [
    -1, 0, 1, 2, 3, 4, 5, 6, 6, 6, 3, 10, 11, 12, 13, 13, 3, 16, 17, 18, 19, 19, 0, 22, 23, 24, 0,
    26, 27, 28,
];

/// Global rest positions (m), pelvis at the origin, T-pose, +Z forward.
pub const REST_POSITIONS: [[f64; 3]; NUM_JOINTS] = [
    [0.0, 0.0, 0.0],
    [-0.00014, 0.05004, -0.00054],
    [-0.00014, 0.12129, -0.00084],
    [-0.00014, 0.19679, -0.00900],
    [-0.00195, 0.45990, -0.01453],
    [-0.00195, 0.53700, 0.00850],
    [-0.00195, 0.59829, 0.02803],
    [-0.00193, 0.60304, 0.05898],
    [0.03011, 0.65209, 0.10390],
    [-0.03418, 0.65191, 0.10362],
    [0.01608, 0.42916, 0.04214],
    [0.16528, 0.42916, -0.01288],
    [0.45267, 0.42916, -0.01291],
    [0.72361, 0.42916, -0.01288],
    [0.84630, 0.39696, 0.03545],
    [0.91373, 0.42603, -0.01322],
    [-0.01394, 0.42859, 0.04315],
    [-0.16431, 0.42859, -0.01231],
    [-0.45168, 0.42859, -0.01234],
    [-0.72301, 0.42859, -0.01231],
    [-0.84566, 0.39648, 0.03573],
    [-0.91302, 0.42553, -0.01263],
    [0.10043, -0.08435, 0.02596],
    [0.10043, -0.51656, 0.01793],
    [0.10043, -0.93811, -0.01689],
    [0.10043, -0.98871, 0.11543],
    [-0.10047, -0.08295, 0.02620],
    [-0.10047, -0.51657, 0.01815],
    [-0.10047, -0.93775, -0.01664],
    [-0.10047, -0.98854, 0.11621],
];

/// The four contact channels, in feature order.
pub const CONTACT_JOINTS: [&str; 4] = ["LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"];

/// Lift that puts the lowest rest joint on y = 0 (0.98871 m).
pub fn standing_root_height() -> f64 {
    -REST_POSITIONS
        .iter()
        .map(|p| p[1])
        .fold(f64::INFINITY, f64::min)
        .min(0.0)
}

/// (name, parent, parent-local rest translation) rows of the canonical
/// skeleton as motionmcp-kimodo advertises it: f32 offsets, the root lifted
/// by the standing height.
pub fn canonical_rows() -> Vec<(&'static str, Option<&'static str>, [f64; 3])> {
    let rest32 = |j: usize| REST_POSITIONS[j].map(|v| v as f32);
    (0..NUM_JOINTS)
        .map(|j| {
            let r = rest32(j);
            match PARENTS[j] {
                p if p < 0 => {
                    let lifted = r[1] + standing_root_height() as f32;
                    (
                        JOINT_NAMES[j],
                        None,
                        [r[0] as f64, lifted as f64, r[2] as f64],
                    )
                }
                p => {
                    let q = rest32(p as usize);
                    let t = [r[0] - q[0], r[1] - q[1], r[2] - q[2]];
                    (
                        JOINT_NAMES[j],
                        Some(JOINT_NAMES[p as usize]),
                        t.map(|v| v as f64),
                    )
                }
            }
        })
        .collect()
}

/// The joint's index in the skeleton, by name.
pub fn joint_index(name: &str) -> Option<usize> {
    JOINT_NAMES.iter().position(|&n| n == name)
}

/// Kimodo's end-effector groups (§2.4): each pins the positions of its
/// chain (hand: Hand + HandMiddleEnd; foot: Foot + ToeBase; Hips: the
/// pelvis) and the global rotation of the chain's first joint (its base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    LeftHand,
    RightHand,
    LeftFoot,
    RightFoot,
    Hips,
}

impl Group {
    /// Joint indices of the chain, base first (§3.1: hand chains (13, 15),
    /// (19, 21); foot chains (24, 25), (28, 29)).
    pub fn chain(self) -> &'static [usize] {
        match self {
            Group::LeftHand => &[13, 15],
            Group::RightHand => &[19, 21],
            Group::LeftFoot => &[24, 25],
            Group::RightFoot => &[28, 29],
            Group::Hips => &[0],
        }
    }

    pub fn base(self) -> usize {
        self.chain()[0]
    }

    /// The joint whose standing position an effector target's reach
    /// direction starts from (motionmcp-kimodo, §7.3: shoulder for a hand,
    /// hips for a foot); `None` for Hips, which is not an effector target.
    pub fn anchor(self) -> Option<usize> {
        match self {
            Group::LeftHand => Some(10),
            Group::RightHand => Some(16),
            Group::LeftFoot | Group::RightFoot => Some(0),
            Group::Hips => None,
        }
    }

    /// The group a joint belongs to (the reference's `ee_group`): the
    /// pelvis is `Hips`, a joint of a hand or foot chain its chain, any
    /// other joint (LeftHandThumbEnd, the spine, ...) none.
    pub fn of_joint(j: usize) -> Option<Group> {
        if j == 0 {
            return Some(Group::Hips);
        }
        [
            Group::LeftFoot,
            Group::RightFoot,
            Group::LeftHand,
            Group::RightHand,
        ]
        .into_iter()
        .find(|g| g.chain().contains(&j))
    }

    pub fn name(self) -> &'static str {
        match self {
            Group::LeftHand => "LeftHand",
            Group::RightHand => "RightHand",
            Group::LeftFoot => "LeftFoot",
            Group::RightFoot => "RightFoot",
            Group::Hips => "Hips",
        }
    }
}

/// Global joint positions of the standing rest pose: f32 rest positions
/// plus the f32 standing height on y (motionmcp-kimodo's neutral pose for
/// effector targets, §7.3).
pub fn standing_neutral() -> [[f32; 3]; NUM_JOINTS] {
    let h = standing_root_height() as f32;
    REST_POSITIONS.map(|p| [p[0] as f32, p[1] as f32 + h, p[2] as f32])
}

// ---------------------------------------------------------------- rotations, FK

pub type Mat3 = [[f32; 3]; 3];

pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

pub fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// |v| in f32.
pub fn norm(v: [f32; 3]) -> f32 {
    dot(v, v).sqrt()
}

fn normalized(v: [f32; 3]) -> [f32; 3] {
    let n = norm(v);
    [v[0] / n, v[1] / n, v[2] / n]
}

/// a - b.
pub fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// a + b.
pub fn add(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// (x, y, z, w) -> rotation matrix in f32, normalised first; a zero
/// quaternion is the identity (the reference's `quat_to_matrix`, term for
/// term).
pub fn quat_to_matrix(q: [f32; 4]) -> Mat3 {
    let n = (((q[0] * q[0] + q[1] * q[1]) + q[2] * q[2]) + q[3] * q[3]).sqrt();
    let n = if n == 0.0 { 1.0 } else { n };
    let [x, y, z, w] = q.map(|v| v / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// Rotation matrix -> 6D (§1.4: first column, then second column).
pub fn matrix_to_cont6d(m: &Mat3) -> [f32; 6] {
    [m[0][0], m[1][0], m[2][0], m[0][1], m[1][1], m[2][1]]
}

/// The rotation taking direction `u` onto direction `v` (both normalised
/// again here, as the reference's `_rotation_between`): Rodrigues
/// I + K + K²/(1 + u·v) with K = [u × v]ₓ; the identity when they agree,
/// 180° about an axis perpendicular to `u` when opposite.
pub fn rotation_between(u: [f32; 3], v: [f32; 3]) -> Mat3 {
    let unit = |a: [f32; 3]| {
        let n = (norm(a) as f64 + 1e-9) as f32;
        a.map(|c| c / n)
    };
    let (u, v) = (unit(u), unit(v));
    let d = dot(u, v) as f64;
    if d > 1.0 - 1e-6 {
        return IDENTITY;
    }
    if d < -1.0 + 1e-6 {
        let helper = if u[0].abs() > 0.9 {
            [0.0, 1.0, 0.0]
        } else {
            [1.0, 0.0, 0.0]
        };
        let hu = dot(helper, u);
        let ax = unit(sub(helper, u.map(|c| hu * c)));
        let mut r = [[0.0f32; 3]; 3];
        for (i, row) in r.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = 2.0 * ax[i] * ax[j] - IDENTITY[i][j];
            }
        }
        return r;
    }
    let w = cross(u, v);
    let k: Mat3 = [[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]];
    let kk = mat_mul(&k, &k);
    let s = (1.0 + d) as f32;
    let mut r = [[0.0f32; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (IDENTITY[i][j] + k[i][j]) + kk[i][j] / s;
        }
    }
    r
}

/// 6D (first column, then second) -> rotation matrix: x = a/|a|,
/// z = (x × b)/|x × b|, y = z × x, columns [x, y, z]. `m[row][col]`.
pub fn cont6d_to_matrix(d6: &[f32]) -> Mat3 {
    let x = normalized([d6[0], d6[1], d6[2]]);
    let z = normalized(cross(x, [d6[3], d6[4], d6[5]]));
    let y = cross(z, x);
    [[x[0], y[0], z[0]], [x[1], y[1], z[1]], [x[2], y[2], z[2]]]
}

/// aᵀ·b.
fn mul_tn(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0f32; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[k][i] * b[k][j]).sum();
        }
    }
    r
}

/// Rotation matrix -> (x, y, z, w) with w ≥ 0, in f64, branching on the
/// largest of w², x², y², z² (the reference's `matrix_to_quat`).
pub fn matrix_to_quat(m: &Mat3) -> [f32; 4] {
    let r = |i: usize, j: usize| m[i][j] as f64;
    let (m00, m11, m22) = (r(0, 0), r(1, 1), r(2, 2));
    let cands = [
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ];
    let mut case = 0;
    for (i, &c) in cands.iter().enumerate() {
        if c > cands[case] {
            case = i;
        }
    }
    let s = 2.0 * cands[case].max(1e-300).sqrt();
    let (x, y, z, w) = match case {
        0 => (
            (r(2, 1) - r(1, 2)) / s,
            (r(0, 2) - r(2, 0)) / s,
            (r(1, 0) - r(0, 1)) / s,
            s / 4.0,
        ),
        1 => (
            s / 4.0,
            (r(0, 1) + r(1, 0)) / s,
            (r(0, 2) + r(2, 0)) / s,
            (r(2, 1) - r(1, 2)) / s,
        ),
        2 => (
            (r(0, 1) + r(1, 0)) / s,
            s / 4.0,
            (r(1, 2) + r(2, 1)) / s,
            (r(0, 2) - r(2, 0)) / s,
        ),
        _ => (
            (r(0, 2) + r(2, 0)) / s,
            (r(1, 2) + r(2, 1)) / s,
            s / 4.0,
            (r(1, 0) - r(0, 1)) / s,
        ),
    };
    let n = (x * x + y * y + z * z + w * w).sqrt();
    let sign = if w < 0.0 { -1.0 } else { 1.0 };
    [x, y, z, w].map(|v| (sign * v / n) as f32)
}

/// One decoded frame: local quaternions (x, y, z, w) per joint, the pelvis
/// position and the four contact flags.
pub struct Frame {
    pub rotations: [[f32; 4]; NUM_JOINTS],
    pub root: [f32; 3],
    pub contacts: [bool; 4],
}

/// Un-normalised features of one frame (369 values) -> rotations, root,
/// contacts (§2.7): global 6D -> matrices, local = parentᵀ · global, root
/// = pelvis local position + (smooth x, 0, smooth z), contact = channel > 0.5.
pub fn decode_frame(f: &[f32]) -> Frame {
    let global: Vec<Mat3> = (0..NUM_JOINTS)
        .map(|j| cont6d_to_matrix(&f[95 + 6 * j..101 + 6 * j]))
        .collect();
    let mut rotations = [[0.0f32; 4]; NUM_JOINTS];
    for j in 0..NUM_JOINTS {
        let local = match PARENTS[j] {
            p if p < 0 => global[j],
            p => mul_tn(&global[p as usize], &global[j]),
        };
        rotations[j] = matrix_to_quat(&local);
    }
    Frame {
        rotations,
        root: [f[5] + f[0], f[6], f[7] + f[2]],
        contacts: [f[365] > 0.5, f[366] > 0.5, f[367] > 0.5, f[368] > 0.5],
    }
}

/// A pose as the constraints need it (§2.4, §2.5): global rotation
/// matrices and joint positions.
pub struct Pose {
    pub global: Vec<Mat3>,
    pub posed: [[f32; 3]; NUM_JOINTS],
}

pub fn mat_vec(m: &Mat3, v: [f32; 3]) -> [f32; 3] {
    [0, 1, 2].map(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0f32; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

/// Rest-offset FK (§2.7 step 5, §3.1): global rotations and joint
/// positions from local rotations and the root (pelvis) position; offsets
/// are f32 rest(j) − rest(parent). No rest rotations (identity, §2.7).
pub fn fk(local: &[Mat3], root: [f32; 3]) -> Pose {
    let rest = |j: usize| REST_POSITIONS[j].map(|v| v as f32);
    let mut global: Vec<Mat3> = Vec::with_capacity(NUM_JOINTS);
    let mut posed = [[0.0f32; 3]; NUM_JOINTS];
    for j in 0..NUM_JOINTS {
        match PARENTS[j] {
            p if p < 0 => {
                global.push(local[j]);
                posed[j] = root;
            }
            p => {
                let p = p as usize;
                let off = mat_vec(&global[p], sub(rest(j), rest(p)));
                posed[j] = add(posed[p], off);
                global.push(mat_mul(&global[p], &local[j]));
            }
        }
    }
    Pose { global, posed }
}

/// Un-normalised features of one frame -> the decoded global rotations (the
/// 6D features, §2.7 step 2) and the joint positions of FK from the local
/// rotations and the root (§2.7 steps 3-5).
pub fn decode_pose(f: &[f32]) -> Pose {
    let global: Vec<Mat3> = (0..NUM_JOINTS)
        .map(|j| cont6d_to_matrix(&f[95 + 6 * j..101 + 6 * j]))
        .collect();
    let local: Vec<Mat3> = (0..NUM_JOINTS)
        .map(|j| match PARENTS[j] {
            p if p < 0 => global[j],
            p => mul_tn(&global[p as usize], &global[j]),
        })
        .collect();
    let root = [f[5] + f[0], f[6], f[7] + f[2]];
    Pose {
        global,
        posed: fk(&local, root).posed,
    }
}

/// Heading θ = atan2(dz, -dx), d = RightLeg - LeftLeg; 0 faces +Z.
pub fn heading_from_joints(posed: &[[f32; 3]; NUM_JOINTS]) -> f32 {
    let (r, l) = (posed[26], posed[22]);
    (r[2] - l[2]).atan2(-(r[0] - l[0]))
}

/// Upstream's transition constraint on the first frames of a segment (§2.5):
/// a full-body set plus the four end-effector sets, from the decoded last
/// frames of the previous segment. Writes (observed, mask) [n, 369] rows in
/// world space: smooth root x, z, pelvis y, heading, every joint's position
/// relative to (x, 0, z), and the 6D global rotation of LeftHand, RightHand,
/// LeftFoot, RightFoot.
pub fn transition_conditions(frames: &[&[f32]], observed: &mut [f32], mask: &mut [f32]) {
    for (i, f) in frames.iter().enumerate() {
        let pose = decode_pose(f);
        let o = &mut observed[i * MOTION_DIM..(i + 1) * MOTION_DIM];
        let m = &mut mask[i * MOTION_DIM..(i + 1) * MOTION_DIM];
        let (x, z) = (f[0], f[2]);
        let h = heading_from_joints(&pose.posed);
        let vals = [
            (0, x),
            (2, z),
            (1, pose.posed[0][1]),
            (3, h.cos()),
            (4, h.sin()),
        ];
        for (d, v) in vals {
            o[d] = v;
            m[d] = 1.0;
        }
        for j in [13usize, 19, 24, 28] {
            o[95 + 6 * j..101 + 6 * j].copy_from_slice(&matrix_to_cont6d(&pose.global[j]));
            m[95 + 6 * j..101 + 6 * j].fill(1.0);
        }
        for j in 0..NUM_JOINTS {
            let p = pose.posed[j];
            o[5 + 3 * j..8 + 3 * j].copy_from_slice(&[p[0] - x, p[1] - 0.0, p[2] - z]);
            m[5 + 3 * j..8 + 3 * j].fill(1.0);
        }
    }
}

/// numpy's `linspace(1, 0, n)` as f32.
pub fn blend_weights(n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![1.0];
    }
    let step = -1.0 / (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i == n - 1 {
                0.0
            } else {
                (i as f64 * step + 1.0) as f32
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule written independently: the f32 product (exact in f64, then
    /// one rounding to f32), rounded half to even by looking at the
    /// fraction.
    fn rule(k: usize) -> Vec<usize> {
        let stride = (999.0 / (k - 1) as f64) as f32;
        (0..k)
            .map(|i| {
                let p = ((i as f64) * (stride as f64)) as f32 as f64;
                let fl = p.floor();
                let frac = p - fl;
                let up = frac > 0.5 || (frac == 0.5 && fl % 2.0 != 0.0);
                let r = if up { fl + 1.0 } else { fl };
                (r as usize).min(999)
            })
            .collect()
    }

    #[test]
    fn timesteps_follow_the_f32_half_even_rule_for_every_k() {
        let mut naive_differs = 0;
        for k in 2..=1000 {
            let ts = timesteps(k);
            assert_eq!(ts, rule(k), "K = {k}");
            let naive: Vec<usize> = (0..k)
                .map(|i| ((i as f64 * (999.0 / (k - 1) as f64) + 0.5).floor() as usize).min(999))
                .collect();
            if naive != ts {
                naive_differs += 1;
            }
            assert_eq!((ts[0], ts[k - 1]), (0, 999));
        }
        // The fact sheet's count (§2.1): 259 K differ from double/half-up.
        assert_eq!(naive_differs, 259);
        for k in [50, 100, 200] {
            let naive: Vec<usize> = (0..k)
                .map(|i| ((i as f64 * (999.0 / (k - 1) as f64) + 0.5).floor() as usize).min(999))
                .collect();
            assert_eq!(timesteps(k), naive);
        }
    }

    #[test]
    fn schedule_values_match_the_fact_sheet() {
        let acb = base_alphas_cumprod();
        assert!((acb[0] - 0.999959).abs() < 1e-6);
        assert!((acb[999] / 2.43e-9 - 1.0).abs() < 0.01);
        let s = respaced(100);
        let abar = |k: usize| 1.0 / (s.sqrt_recip[k] * s.sqrt_recip[k]);
        for (k, want) in [(0, 0.999959), (1, 0.999279), (50, 0.484494), (98, 2.43e-4)] {
            assert!((abar(k) / want - 1.0).abs() < 1e-3, "k = {k}: {}", abar(k));
        }
        assert_eq!(s.alphas_cumprod_prev[0], 1.0);
    }

    fn npy(version: u8, descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        let pre = if version == 1 { 10 } else { 12 };
        while (pre + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.extend([version, 0]);
        if version == 1 {
            out.extend((header.len() as u16).to_le_bytes());
        } else {
            out.extend((header.len() as u32).to_le_bytes());
        }
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn npy_reads_f4_and_f8_v1_and_v2() {
        let f4: Vec<u8> = [1.5f32, -2.0, 0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            parse_npy(&npy(1, "<f4", "(3,)", &f4)).unwrap(),
            [1.5, -2.0, 0.25]
        );
        let f8: Vec<u8> = [0.1f64, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            parse_npy(&npy(2, "<f8", "(1, 2)", &f8)).unwrap(),
            [0.1f32, 3.0]
        );
        assert!(parse_npy(&npy(1, ">f4", "(3,)", &f4)).is_err());
        assert!(parse_npy(&npy(1, "<f4", "(4,)", &f4)).is_err());
        assert!(parse_npy(b"nonsense").is_err());
    }

    #[test]
    fn yaml_keys_are_found_at_any_depth() {
        let y = "_target_: kimodo.model.Kimodo\ncfg_type: separated\ndenoiser:\n  num_heads: 8  # eight\n  llm_shape:\n  - 1\n";
        assert_eq!(yaml_scalar(y, "num_heads").as_deref(), Some("8"));
        assert_eq!(yaml_scalar(y, "cfg_type").as_deref(), Some("separated"));
        assert_eq!(yaml_scalar(y, "llm_shape"), None);
        assert_eq!(yaml_scalar(y, "latent_dim"), None);
    }

    #[test]
    fn prompts_are_sanitised_like_kimodo() {
        assert_eq!(sanitize("  walk   forward "), "Walk forward.");
        assert_eq!(
            sanitize("a person WALKS. then jumps!"),
            "A person walks. Then jumps!"
        );
        assert_eq!(sanitize("--run,,"), "Run.");
        assert_eq!(sanitize(""), "");
    }

    #[test]
    fn sixd_to_quaternion() {
        // Identity.
        let q = matrix_to_quat(&cont6d_to_matrix(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
        assert_eq!(q, [0.0, 0.0, 0.0, 1.0]);
        // 90° about +Y: x axis -> -z, y axis stays.
        let q = matrix_to_quat(&cont6d_to_matrix(&[0.0, 0.0, -2.0, 0.0, 3.0, 0.5]));
        let h = std::f32::consts::FRAC_1_SQRT_2;
        for (a, b) in q.iter().zip([0.0, h, 0.0, h]) {
            assert!((a - b).abs() < 1e-6, "{q:?}");
        }
        // 180° about +X has w = 0; any rotation: unit length, w ≥ 0.
        let q = matrix_to_quat(&cont6d_to_matrix(&[1.0, 0.0, 0.0, 0.0, -1.0, 0.0]));
        assert!((q[0].abs() - 1.0).abs() < 1e-6 && q[3].abs() < 1e-6);
        let q = matrix_to_quat(&cont6d_to_matrix(&[0.3, -0.2, 0.9, 0.5, 0.8, -0.1]));
        let n: f32 = q.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-6 && q[3] >= 0.0);
    }

    #[test]
    fn canonical_skeleton_stands_on_the_floor() {
        let rows = canonical_rows();
        assert_eq!(rows.len(), 30);
        assert!((rows[0].2[1] - 0.98871).abs() < 1e-6);
        assert_eq!(rows[25].1, Some("LeftFoot"));
        assert!((standing_root_height() - 0.98871).abs() < 1e-12);
    }

    #[test]
    fn rest_pose_decodes_to_the_rest_skeleton() {
        // Identity rotations everywhere, pelvis at (1, 0.9, 2) with the smooth
        // root at (0.5, ., 1.5).
        let mut f = vec![0.0f32; MOTION_DIM];
        (f[0], f[2]) = (0.5, 1.5);
        (f[5], f[6], f[7]) = (0.5, 0.9, 0.5);
        for j in 0..NUM_JOINTS {
            f[95 + 6 * j..101 + 6 * j].copy_from_slice(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        }
        f[366] = 0.7;
        let frame = decode_frame(&f);
        assert_eq!(frame.root, [1.0, 0.9, 2.0]);
        assert_eq!(frame.contacts, [false, true, false, false]);
        let pose = decode_pose(&f);
        for (posed, rest) in pose.posed.iter().zip(REST_POSITIONS) {
            for i in 0..3 {
                let want = [1.0, 0.9, 2.0][i] + rest[i] as f32;
                assert!((posed[i] - want).abs() < 1e-6);
            }
        }
        assert!(heading_from_joints(&pose.posed).abs() < 0.02);
        let (mut o, mut m) = (vec![0.0; MOTION_DIM], vec![0.0; MOTION_DIM]);
        transition_conditions(&[&f], &mut o, &mut m);
        assert_eq!((o[0], o[1], o[2]), (0.5, 0.9, 1.5));
        assert_eq!(&o[5..8], &[0.5, 0.9, 0.5]);
        let constrained = m.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(constrained, 5 + 90 + 24);
        assert_eq!(blend_weights(5), [1.0, 0.75, 0.5, 0.25, 0.0]);
    }

    #[test]
    fn fk_of_identity_is_the_rest_pose_lifted_by_the_standing_height() {
        let root = [0.0, standing_root_height() as f32, 0.0];
        let pose = fk(&[IDENTITY; NUM_JOINTS], root);
        for ((posed, global), want) in pose.posed.iter().zip(&pose.global).zip(standing_neutral()) {
            assert_eq!(*global, IDENTITY);
            for (a, b) in posed.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{posed:?} {want:?}");
            }
        }
        // The lowest joint (LeftToeBase) stands on the floor.
        assert!(pose.posed[25][1].abs() < 1e-6);
        assert!(heading_from_joints(&pose.posed).abs() < 2e-3);
        // A turned pelvis turns the whole body about it.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let mut local = [IDENTITY; NUM_JOINTS];
        local[0] = quat_to_matrix([0.0, h, 0.0, h]);
        let pose = fk(&local, [1.0, 1.0, 1.0]);
        let rest = REST_POSITIONS[13].map(|v| v as f32);
        let want = [1.0 + rest[2], 1.0 + rest[1], 1.0 - rest[0]];
        for (a, b) in pose.posed[13].iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
        assert!((heading_from_joints(&pose.posed) - std::f32::consts::FRAC_PI_2).abs() < 2e-3);
    }

    #[test]
    fn rotations_round_trip_through_6d_and_quaternions() {
        for q in [
            [0.0, 0.0, 0.0, 1.0],
            [0.1, -0.2, 0.3, 0.9],
            [0.7, 0.1, -0.1, 0.2],
            [0.0, 0.0, 1.0, 0.0],
        ] {
            let m = quat_to_matrix(q);
            // Orthonormal with determinant 1.
            let t = mul_tn(&m, &m);
            for (i, row) in t.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    assert!((v - IDENTITY[i][j]).abs() < 1e-6);
                }
            }
            let back = cont6d_to_matrix(&matrix_to_cont6d(&m));
            for i in 0..3 {
                for j in 0..3 {
                    assert!((back[i][j] - m[i][j]).abs() < 1e-6, "{q:?}");
                }
            }
            let n = q.iter().map(|v| v * v).sum::<f32>().sqrt();
            let s = if q[3] < 0.0 { -n } else { n };
            let r = matrix_to_quat(&m);
            for i in 0..4 {
                assert!((r[i] - q[i] / s).abs() < 1e-6, "{q:?} -> {r:?}");
            }
        }
        // A zero quaternion is the identity; quaternions are normalised.
        assert_eq!(quat_to_matrix([0.0; 4]), IDENTITY);
        assert_eq!(quat_to_matrix([0.0, 0.0, 0.0, 3.0]), IDENTITY);
    }

    #[test]
    fn rotation_between_turns_one_direction_onto_another() {
        let cases = [
            ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
            ([0.3, -0.8, 0.1], [0.5, 0.5, -0.2]),
            ([0.0, 1.0, 0.0], [0.0, -1.0, 0.0]),
            ([1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]),
            ([0.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
        ];
        for (u, v) in cases {
            let r = rotation_between(u, v);
            let got = mat_vec(&r, normalized(u));
            let want = normalized(v);
            for i in 0..3 {
                assert!((got[i] - want[i]).abs() < 1e-6, "{u:?} -> {v:?}: {got:?}");
            }
            let det = dot(
                cross([r[0][0], r[1][0], r[2][0]], [r[0][1], r[1][1], r[2][1]]),
                [r[0][2], r[1][2], r[2][2]],
            );
            assert!((det - 1.0).abs() < 1e-5);
        }
        assert_eq!(rotation_between([0.0, 0.0, 2.0], [0.0, 0.0, 1.0]), IDENTITY);
    }

    #[test]
    fn effector_groups_follow_the_chains() {
        let group = |n: &str| Group::of_joint(joint_index(n).unwrap());
        assert_eq!(group("Hips"), Some(Group::Hips));
        assert_eq!(group("LeftHandMiddleEnd"), Some(Group::LeftHand));
        assert_eq!(group("RightToeBase"), Some(Group::RightFoot));
        assert_eq!(group("LeftHandThumbEnd"), None);
        assert_eq!(group("Head"), None);
        assert_eq!(joint_index("Tail"), None);
        for g in [
            Group::LeftHand,
            Group::RightHand,
            Group::LeftFoot,
            Group::RightFoot,
        ] {
            assert_eq!(JOINT_NAMES[g.base()], g.name());
        }
    }

    #[test]
    fn pe_rows_interleave_sin_and_cos() {
        let pe = pe_rows(8, 0, 3);
        assert_eq!(&pe[..8], &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        assert_eq!(pe[8], 1f64.sin() as f32);
        assert_eq!(pe_rows(8, 2, 1), pe[16..24]);
    }
}

//! The host's typed model of a generate request (mmcp.md §4), produced by the
//! schema stage and checked by the model stage before it becomes the WIT
//! record a backbone receives.
//!
//! Frames stay `i64` here because a negative root-path frame is a
//! `frame_out_of_range` answer, not a schema error.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub protocol_version: String,
    pub model: String,
    pub skeleton: Skeleton,
    pub segments: Vec<Segment>,
    pub constraints: Vec<Constraint>,
    pub duration_frames: Option<i64>,
    pub timing_fps: Option<f64>,
    /// `None` when the request had no options (every default applies).
    pub options: Option<Options>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skeleton {
    pub joints: Vec<Joint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    pub name: String,
    pub parent: Option<String>,
    pub rest_translation: [f64; 3],
    pub rest_rotation: [f64; 4],
    pub display_name: Option<String>,
}

impl Skeleton {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.joints.iter().map(|j| j.name.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Joint names, sorted, as error details list them.
    pub fn sorted_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names().map(str::to_owned).collect();
        names.sort();
        names
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Text {
        prompt: String,
        duration_frames: i64,
        language: Option<String>,
        seed: Option<i64>,
    },
    Unconditioned {
        duration_frames: i64,
        seed: Option<i64>,
    },
    Pose {
        prompt: String,
        language: Option<String>,
    },
    MotionReference(MotionReference),
    VideoReference(VideoReference),
}

impl Segment {
    /// The wire name of the segment type.
    pub fn kind(&self) -> &'static str {
        match self {
            Segment::Text { .. } => "text",
            Segment::Unconditioned { .. } => "unconditioned",
            Segment::Pose { .. } => "pose",
            Segment::MotionReference(_) => "motion_reference",
            Segment::VideoReference(_) => "video_reference",
        }
    }

    /// Frames on the timeline; a pose counts one.
    pub fn duration_frames(&self) -> i64 {
        match self {
            Segment::Text {
                duration_frames, ..
            }
            | Segment::Unconditioned {
                duration_frames, ..
            } => *duration_frames,
            Segment::Pose { .. } => 1,
            Segment::MotionReference(m) => m.duration_frames,
            Segment::VideoReference(v) => v.duration_frames,
        }
    }

    pub fn prompt(&self) -> Option<&str> {
        match self {
            Segment::Text { prompt, .. } | Segment::Pose { prompt, .. } => Some(prompt),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MotionReference {
    pub duration_frames: i64,
    pub skeleton: Option<Skeleton>,
    pub joint_names: Vec<String>,
    pub rotations: Vec<Vec<[f64; 4]>>,
    pub root_positions: Vec<[f64; 3]>,
    pub fps: f64,
    pub seed: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Mp4,
    Quicktime,
    Webm,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Video {
    Url(String),
    /// Standard padded base64, already checked.
    Data {
        base64: String,
        media_type: MediaType,
    },
}

impl Video {
    /// Decoded size of inline data, computed from the base64 length.
    pub fn num_bytes(&self) -> Option<u64> {
        match self {
            Video::Url(_) => None,
            Video::Data { base64, .. } => {
                let pad = base64.bytes().rev().take_while(|&b| b == b'=').count();
                Some((base64.len() / 4 * 3 - pad) as u64)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoReference {
    pub duration_frames: i64,
    pub video: Video,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub fps: Option<f64>,
    pub seed: Option<i64>,
}

impl VideoReference {
    pub fn trimmed_seconds(&self) -> Option<f64> {
        self.end_s.map(|end| end - self.start_s.unwrap_or(0.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillMode {
    Rest,
    Generate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    RootPath {
        frames: Vec<i64>,
        positions_xz: Vec<[f64; 2]>,
        heading_radians: Option<Vec<f64>>,
    },
    EffectorTarget {
        joint: String,
        frames: Vec<i64>,
        positions: Vec<[f64; 3]>,
        rotations: Option<Vec<[f64; 4]>>,
    },
    PoseKeyframe {
        frame: i64,
        joint_rotations: Vec<(String, [f64; 4])>,
        root_position: Option<[f64; 3]>,
        fill_mode: FillMode,
    },
    GroundHeight {
        points: Vec<[f64; 3]>,
    },
}

impl Constraint {
    pub fn kind(&self) -> &'static str {
        match self {
            Constraint::RootPath { .. } => "root_path",
            Constraint::EffectorTarget { .. } => "effector_target",
            Constraint::PoseKeyframe { .. } => "pose_keyframe",
            Constraint::GroundHeight { .. } => "ground_height",
        }
    }

    /// The timeline frames this constraint names, in order.
    pub fn frames(&self) -> Vec<i64> {
        match self {
            Constraint::RootPath { frames, .. } | Constraint::EffectorTarget { frames, .. } => {
                frames.clone()
            }
            Constraint::PoseKeyframe { frame, .. } => vec![*frame],
            Constraint::GroundHeight { .. } => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidanceType {
    Nocfg,
    Regular,
    Separated,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Guidance {
    pub kind: GuidanceType,
    pub weight: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub diffusion_steps: i64,
    pub num_samples: i64,
    pub seed: Option<i64>,
    pub post_processing: bool,
    pub transition_frames: i64,
    pub guidance: Option<Guidance>,
    pub loop_: bool,
    pub keyframe_budget: Option<f64>,
    /// `None` for absent or null; an empty map is the same as absent.
    pub model_options: Option<Map<String, Value>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            diffusion_steps: 100,
            num_samples: 1,
            seed: None,
            post_processing: true,
            transition_frames: 5,
            guidance: None,
            loop_: false,
            keyframe_budget: None,
            model_options: None,
        }
    }
}

impl GenerateRequest {
    /// Σ segment frames (a pose counts 1), else `duration_frames`.
    pub fn total_frames(&self) -> i64 {
        if self.segments.is_empty() {
            self.duration_frames.unwrap_or(0)
        } else {
            self.segments
                .iter()
                .map(Segment::duration_frames)
                .fold(0i64, i64::saturating_add)
        }
    }

    /// `timing.fps` when present, else the model's native fps.
    pub fn effective_fps(&self, native: f64) -> f64 {
        self.timing_fps.unwrap_or(native)
    }

    pub fn options_or_default(&self) -> Options {
        self.options.clone().unwrap_or_default()
    }
}

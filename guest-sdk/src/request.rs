//! Helpers on the validated request, mirroring the reference SDK's.

use serde_json::Value;

use crate::{
    GenerateRequest, MotionReferenceSegment, Options, Segment, VideoReferenceSegment, VideoSource,
};

impl GenerateRequest {
    /// Samples to produce (`options.num_samples`, 1 by default).
    pub fn num_samples(&self) -> u32 {
        self.options.num_samples
    }

    /// Joints in the request skeleton; the output's J.
    pub fn num_joints(&self) -> u32 {
        self.skeleton.joints.len() as u32
    }

    /// The effective frame rate: `timing.fps` when the request had one, else
    /// `native` (the reference's `fps(native)`).
    pub fn fps(&self, native: f64) -> f64 {
        self.timing_fps.unwrap_or(native)
    }

    /// The seed for segment `index`: its own seed, else `options.seed`.
    pub fn segment_seed(&self, index: usize) -> Option<i64> {
        self.segments
            .get(index)
            .and_then(Segment::seed)
            .or(self.options.seed)
    }

    /// The first `motion_reference` segment.
    pub fn motion_reference(&self) -> Option<&MotionReferenceSegment> {
        self.motion_references().next()
    }

    /// Every `motion_reference` segment, in order.
    pub fn motion_references(&self) -> impl Iterator<Item = &MotionReferenceSegment> {
        self.segments.iter().filter_map(|s| match s {
            Segment::MotionReference(m) => Some(m),
            _ => None,
        })
    }

    /// The first `video_reference` segment.
    pub fn video_reference(&self) -> Option<&VideoReferenceSegment> {
        self.video_references().next()
    }

    /// Every `video_reference` segment, in order.
    pub fn video_references(&self) -> impl Iterator<Item = &VideoReferenceSegment> {
        self.segments.iter().filter_map(|s| match s {
            Segment::VideoReference(v) => Some(v),
            _ => None,
        })
    }

    /// The value sent for a declared model option, parsed; `None` when the
    /// request omitted it (apply the option's default then).
    pub fn model_option(&self, name: &str) -> Option<Value> {
        self.options
            .model_options
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| serde_json::from_str(v).ok())
    }
}

impl Segment {
    /// Frames this segment covers on the timeline (a pose counts 1).
    pub fn duration_frames(&self) -> u32 {
        match self {
            Segment::Text(s) => s.duration_frames,
            Segment::Unconditioned(s) => s.duration_frames,
            Segment::Pose(_) => 1,
            Segment::MotionReference(s) => s.duration_frames,
            Segment::VideoReference(s) => s.duration_frames,
        }
    }

    /// The segment's own seed (pose segments have none).
    pub fn seed(&self) -> Option<i64> {
        match self {
            Segment::Text(s) => s.seed,
            Segment::Unconditioned(s) => s.seed,
            Segment::Pose(_) => None,
            Segment::MotionReference(s) => s.seed,
            Segment::VideoReference(s) => s.seed,
        }
    }

    /// The segment's prompt, for `text` and `pose` segments.
    pub fn prompt(&self) -> Option<&str> {
        match self {
            Segment::Text(s) => Some(&s.prompt),
            Segment::Pose(s) => Some(&s.prompt),
            _ => None,
        }
    }
}

impl VideoReferenceSegment {
    /// `end_s - (start_s or 0)` when `end_s` was given.
    pub fn trimmed_seconds(&self) -> Option<f64> {
        self.end_s.map(|end| end - self.start_s.unwrap_or(0.0))
    }
}

impl VideoSource {
    /// Size of inline video data; `None` for a URL.
    pub fn num_bytes(&self) -> Option<usize> {
        match self {
            VideoSource::Inline(v) => Some(v.data.len()),
            VideoSource::Url(_) => None,
        }
    }
}

impl Default for Options {
    /// The protocol's option defaults.
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
            model_options: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PoseSegment, Skeleton, TextSegment, UnconditionedSegment};

    fn request(segments: Vec<Segment>) -> GenerateRequest {
        GenerateRequest {
            protocol_version: "1.4".into(),
            model: "m".into(),
            skeleton: Skeleton::from_joints(&[("Hips", None, [0.0, 0.95, 0.0])]),
            segments,
            constraints: Vec::new(),
            duration_frames: None,
            timing_fps: None,
            options: Options {
                seed: Some(7),
                model_options: vec![("twist".into(), "0.5".into())],
                ..Options::default()
            },
            total_frames: 0,
            effective_fps: 30.0,
        }
    }

    #[test]
    fn option_defaults_match_the_protocol() {
        let o = Options::default();
        assert_eq!(
            (o.diffusion_steps, o.num_samples, o.transition_frames),
            (100, 1, 5)
        );
        assert!(o.post_processing && !o.loop_);
        assert!(o.seed.is_none() && o.guidance.is_none() && o.keyframe_budget.is_none());
    }

    #[test]
    fn seeds_fall_back_to_the_request_seed() {
        let r = request(vec![
            Segment::Text(TextSegment {
                prompt: "walk".into(),
                duration_frames: 3,
                language: None,
                seed: Some(1),
            }),
            Segment::Unconditioned(UnconditionedSegment {
                duration_frames: 2,
                seed: None,
            }),
            Segment::Pose(PoseSegment {
                prompt: "t-pose".into(),
                language: None,
            }),
        ]);
        assert_eq!(r.segment_seed(0), Some(1));
        assert_eq!(r.segment_seed(1), Some(7));
        assert_eq!(r.segment_seed(2), Some(7));
        let frames: u32 = r.segments.iter().map(Segment::duration_frames).sum();
        assert_eq!(frames, 6);
        assert_eq!(r.fps(24.0), 24.0);
        assert_eq!(r.model_option("twist"), Some(serde_json::json!(0.5)));
        assert_eq!(r.model_option("nope"), None);
    }
}

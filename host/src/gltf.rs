//! The response document (gltf-output.md): a self-contained glTF 2.0 JSON
//! asset that animates the request skeleton, built with `gltf-json` and laid
//! out exactly as the reference lays it out (§4.2 creation order).

use std::collections::HashMap;

use base64::Engine as _;
use gj::validation::Checked::Valid;
use gltf_json as gj;
use serde_json::{json, Map, Value};

use crate::motion::Motion;
use crate::request::Skeleton;

pub const EXTENSION: &str = "MMCP_motion";
const GENERATOR: &str = "motionmcp";

/// Everything the encoder needs beyond the motion itself.
pub struct Context<'a> {
    pub skeleton: &'a Skeleton,
    pub model_id: &'a str,
    pub fps: f64,
    pub joint_translation: bool,
}

/// Frame times `f32(i) / f32(fps)` in single precision (§4.1): this matches
/// the reference bit for bit where rounding the double quotient would not.
pub fn frame_time(frame: usize, fps: f64) -> f32 {
    frame as f32 / fps as f32
}

/// Builds the accessors, views and the one buffer in creation order.
struct Builder {
    accessors: Vec<gj::Accessor>,
    views: Vec<gj::buffer::View>,
    bytes: Vec<u8>,
    time_cache: HashMap<Vec<u32>, u32>,
    fps: f64,
}

impl Builder {
    fn push(
        &mut self,
        values: &[f32],
        kind: gj::accessor::Type,
        bounds: Option<(f32, f32)>,
    ) -> u32 {
        let components = match kind {
            gj::accessor::Type::Scalar => 1,
            gj::accessor::Type::Vec3 => 3,
            _ => 4,
        };
        let offset = self.bytes.len();
        self.bytes
            .extend(values.iter().flat_map(|v| v.to_le_bytes()));
        let index = self.accessors.len() as u32;
        self.views.push(gj::buffer::View {
            buffer: gj::Index::new(0),
            byte_length: gj::validation::USize64::from(values.len() * 4),
            byte_offset: Some(gj::validation::USize64::from(offset)),
            byte_stride: None,
            name: None,
            target: None,
            extensions: None,
            extras: Default::default(),
        });
        self.accessors.push(gj::Accessor {
            buffer_view: Some(gj::Index::new(index)),
            byte_offset: None,
            count: gj::validation::USize64::from(values.len() / components),
            component_type: Valid(gj::accessor::GenericComponentType(
                gj::accessor::ComponentType::F32,
            )),
            extensions: None,
            extras: Default::default(),
            type_: Valid(kind),
            // Widened to f64 so the JSON shows the exact float32 value.
            min: bounds.map(|(lo, _)| json!([lo as f64])),
            max: bounds.map(|(_, hi)| json!([hi as f64])),
            name: None,
            normalized: false,
            sparse: None,
        });
        index
    }

    /// The time accessor for these frames, shared when the key set repeats.
    fn times(&mut self, frames: &[usize]) -> u32 {
        let times: Vec<f32> = frames.iter().map(|&f| frame_time(f, self.fps)).collect();
        let key: Vec<u32> = times.iter().map(|t| t.to_bits()).collect();
        if let Some(&index) = self.time_cache.get(&key) {
            return index;
        }
        let bounds = match (times.first(), times.last()) {
            (Some(&lo), Some(&hi)) => Some((lo, hi)),
            _ => None,
        };
        let index = self.push(&times, gj::accessor::Type::Scalar, bounds);
        self.time_cache.insert(key, index);
        index
    }
}

/// Keys of a thinned channel: clipped into [0, T-1], sorted, de-duplicated;
/// `None` (dense) when nothing remains (§3.2).
fn thinned(frames: Option<&Vec<i32>>, num_frames: usize) -> Option<Vec<usize>> {
    let last = num_frames.checked_sub(1)? as i64;
    let mut keys: Vec<usize> = frames?
        .iter()
        .map(|&f| (f as i64).clamp(0, last) as usize)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    (!keys.is_empty()).then_some(keys)
}

fn channel(sampler: usize, node: usize, path: gj::animation::Property) -> gj::animation::Channel {
    gj::animation::Channel {
        sampler: gj::Index::new(sampler as u32),
        target: gj::animation::Target {
            extensions: None,
            extras: Default::default(),
            node: gj::Index::new(node as u32),
            path: Valid(path),
        },
        extensions: None,
        extras: Default::default(),
    }
}

fn sampler(input: u32, output: u32) -> gj::animation::Sampler {
    gj::animation::Sampler {
        extensions: None,
        extras: Default::default(),
        input: gj::Index::new(input),
        interpolation: Valid(gj::animation::Interpolation::Linear),
        output: gj::Index::new(output),
    }
}

/// Whether a non-root joint's translation track leaves its rest offset (§3.3).
fn moves(track: &[[f32; 3]], rest: [f64; 3]) -> bool {
    let rest = rest.map(|r| r as f32);
    track
        .iter()
        .any(|p| (0..3).any(|k| (p[k] - rest[k]).abs() > 1e-6 + 1e-5 * rest[k].abs()))
}

/// Encodes a checked motion as the response document.
pub fn encode(motion: &Motion, ctx: &Context) -> Value {
    let (b_count, t, j_count) = (
        motion.num_samples,
        motion.num_frames,
        ctx.skeleton.joints.len(),
    );
    let mut builder = Builder {
        accessors: Vec::new(),
        views: Vec::new(),
        bytes: Vec::new(),
        time_cache: HashMap::new(),
        fps: ctx.fps,
    };
    let all_frames: Vec<usize> = (0..t).collect();
    let mut animations = Vec::with_capacity(b_count);

    for b in 0..b_count {
        let dense = builder.times(&all_frames);
        let mut channels = Vec::new();
        let mut samplers = Vec::new();
        let mut add = |builder: &mut Builder,
                       node: usize,
                       path,
                       values: Vec<f32>,
                       kind,
                       keys: Option<Vec<usize>>| {
            let output = builder.push(&values, kind, None);
            let input = match &keys {
                Some(keys) => builder.times(keys),
                None => dense,
            };
            channels.push(channel(samplers.len(), node, path));
            samplers.push(sampler(input, output));
        };

        for j in 0..j_count {
            let keys = thinned(motion.keyframes(j).and_then(|k| k.rotation.as_ref()), t);
            let frames = keys.clone().unwrap_or_else(|| all_frames.clone());
            let values = frames
                .iter()
                .flat_map(|&f| motion.rotation(b, f, j))
                .collect();
            add(
                &mut builder,
                j,
                gj::animation::Property::Rotation,
                values,
                gj::accessor::Type::Vec4,
                keys,
            );
        }

        let keys = thinned(motion.keyframes(0).and_then(|k| k.translation.as_ref()), t);
        let frames = keys.clone().unwrap_or_else(|| all_frames.clone());
        let values = frames.iter().flat_map(|&f| motion.root(b, f)).collect();
        add(
            &mut builder,
            0,
            gj::animation::Property::Translation,
            values,
            gj::accessor::Type::Vec3,
            keys,
        );

        if ctx.joint_translation && motion.translations.is_some() {
            for j in 1..j_count {
                let track: Vec<[f32; 3]> = all_frames
                    .iter()
                    .map(|&f| motion.translation(b, f, j))
                    .collect();
                if !moves(&track, ctx.skeleton.joints[j].rest_translation) {
                    continue;
                }
                let keys = thinned(motion.keyframes(j).and_then(|k| k.translation.as_ref()), t);
                let frames = keys.clone().unwrap_or_else(|| all_frames.clone());
                let values = frames.iter().flat_map(|&f| track[f]).collect();
                add(
                    &mut builder,
                    j,
                    gj::animation::Property::Translation,
                    values,
                    gj::accessor::Type::Vec3,
                    keys,
                );
            }
        }

        animations.push(gj::Animation {
            extensions: None,
            extras: Default::default(),
            channels,
            name: Some(format!("sample_{b}")),
            samplers,
        });
    }

    let nodes = ctx
        .skeleton
        .joints
        .iter()
        .map(|joint| {
            let children: Vec<gj::Index<gj::Node>> = ctx
                .skeleton
                .joints
                .iter()
                .enumerate()
                .filter(|(_, c)| c.parent.as_deref() == Some(joint.name.as_str()))
                .map(|(i, _)| gj::Index::new(i as u32))
                .collect();
            gj::Node {
                camera: None,
                children: (!children.is_empty()).then_some(children),
                extensions: None,
                extras: Default::default(),
                matrix: None,
                mesh: None,
                name: Some(joint.name.clone()),
                rotation: None,
                scale: None,
                translation: None,
                skin: None,
                weights: None,
            }
        })
        .collect();

    let byte_length = builder.bytes.len();
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&builder.bytes)
    );
    let root = gj::Root {
        accessors: builder.accessors,
        animations,
        asset: gj::Asset {
            copyright: None,
            extensions: None,
            extras: Default::default(),
            generator: Some(GENERATOR.into()),
            min_version: None,
            version: "2.0".into(),
        },
        buffers: vec![gj::Buffer {
            byte_length: gj::validation::USize64::from(byte_length),
            name: None,
            uri: Some(uri),
            extensions: None,
            extras: Default::default(),
        }],
        buffer_views: builder.views,
        scene: Some(gj::Index::new(0)),
        extensions_used: vec![EXTENSION.into()],
        nodes,
        scenes: vec![gj::Scene {
            extensions: None,
            extras: Default::default(),
            name: None,
            nodes: vec![gj::Index::new(0)],
        }],
        skins: vec![gj::Skin {
            extensions: None,
            extras: Default::default(),
            inverse_bind_matrices: None,
            joints: (0..j_count as u32).map(gj::Index::new).collect(),
            name: Some("skin".into()),
            skeleton: None,
        }],
        ..Default::default()
    };
    let value = serde_json::to_value(&root).expect("a glTF root always serialises");
    layout(value, ctx, extension(motion, ctx))
}

/// Re-orders the top-level keys as the reference writes them (C243), writes
/// rest transforms as the request's doubles (§2; gltf-json stores f32), and
/// adds the `MMCP_motion` extension.
fn layout(mut value: Value, ctx: &Context, ext: Value) -> Value {
    if let Some(nodes) = value.get_mut("nodes").and_then(Value::as_array_mut) {
        for (node, joint) in nodes.iter_mut().zip(&ctx.skeleton.joints) {
            let Value::Object(fields) = node else {
                continue;
            };
            let children = fields.remove("children");
            let mut ordered = Map::new();
            ordered.insert("name".into(), json!(joint.name));
            ordered.insert("translation".into(), json!(joint.rest_translation));
            ordered.insert("rotation".into(), json!(joint.rest_rotation));
            if let Some(children) = children {
                ordered.insert("children".into(), children);
            }
            *fields = ordered;
        }
    }
    if let Some(asset) = value.get_mut("asset") {
        reorder(asset, &["version", "generator"]);
    }
    let orders: [(&str, &[&str]); 5] = [
        ("skins", &["name", "joints"]),
        ("animations", &["name", "channels", "samplers"]),
        (
            "accessors",
            &["bufferView", "componentType", "count", "type", "min", "max"],
        ),
        ("bufferViews", &["buffer", "byteOffset", "byteLength"]),
        ("buffers", &["byteLength", "uri"]),
    ];
    for (array, order) in orders {
        for item in value
            .get_mut(array)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            reorder(item, order);
        }
    }
    for animation in value
        .get_mut("animations")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for sampler in animation
            .get_mut("samplers")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            reorder(sampler, &["input", "output", "interpolation"]);
        }
    }
    let mut fields = match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut doc = Map::new();
    for key in [
        "asset",
        "nodes",
        "scenes",
        "scene",
        "skins",
        "animations",
        "accessors",
        "bufferViews",
        "buffers",
        "extensionsUsed",
    ] {
        if let Some(v) = fields.remove(key) {
            doc.insert(key.into(), v);
        }
    }
    doc.insert("extensions".into(), json!({ EXTENSION: ext }));
    Value::Object(doc)
}

/// Puts `order`'s keys first, in that order, so the document matches the
/// reference byte for byte (clients compare values; byte parity helps diffs).
fn reorder(value: &mut Value, order: &[&str]) {
    let Value::Object(map) = value else { return };
    let mut ordered = Map::new();
    for key in order {
        if let Some(v) = map.remove(*key) {
            ordered.insert((*key).into(), v);
        }
    }
    ordered.append(map);
    *map = ordered;
}

/// The `MMCP_motion` extension (§6).
fn extension(motion: &Motion, ctx: &Context) -> Value {
    let samples: Vec<Value> = (0..motion.num_samples)
        .map(|b| {
            let mut s = Map::new();
            s.insert("name".into(), json!(format!("sample_{b}")));
            s.insert("num_frames".into(), json!(motion.num_frames));
            let boundaries = motion
                .chunk_boundaries
                .as_ref()
                .map(|c| c[b].clone())
                .unwrap_or_default();
            s.insert("chunk_boundaries".into(), json!(boundaries));
            if !motion.foot_contacts.is_empty() {
                let contacts: Map<String, Value> = motion
                    .foot_contacts
                    .iter()
                    .map(|(joint, flags)| {
                        let t = motion.num_frames;
                        (joint.clone(), json!(flags[b * t..(b + 1) * t]))
                    })
                    .collect();
                s.insert("foot_contacts".into(), Value::Object(contacts));
            }
            if let Some(Some(trajectory)) = motion.trajectories.as_ref().map(|t| &t[b]) {
                s.insert("trajectory".into(), trajectory.clone());
            }
            Value::Object(s)
        })
        .collect();
    let mut ext = Map::new();
    ext.insert(
        "version".into(),
        json!(crate::capabilities::PROTOCOL_VERSION),
    );
    ext.insert("model".into(), json!(ctx.model_id));
    ext.insert("fps".into(), json!(ctx.fps));
    ext.insert("samples".into(), Value::Array(samples));
    if !motion.canonical_to_request.is_empty() {
        let map: Map<String, Value> = motion
            .canonical_to_request
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        ext.insert("canonical_to_request".into(), Value::Object(map));
    }
    if !motion.notes.is_empty() {
        ext.insert("notes".into(), json!(motion.notes));
    }
    Value::Object(ext)
}

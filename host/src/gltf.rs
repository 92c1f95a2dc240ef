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

/// An encoded answer: the glTF JSON and its one binary buffer, kept apart
/// until the client's format is known.
#[derive(Clone)]
pub struct Document {
    /// The document; `buffers[0]` has no `uri` yet.
    json: Value,
    bin: Vec<u8>,
}

impl Document {
    /// The document without its buffer's `uri`, and the buffer: how a
    /// shared job store keeps a finished job's answer.
    pub fn into_parts(self) -> (Value, Vec<u8>) {
        (self.json, self.bin)
    }

    /// The inverse of [`Document::into_parts`].
    pub fn from_parts(json: Value, bin: Vec<u8>) -> Self {
        Document { json, bin }
    }

    /// The self-contained JSON glTF: the buffer embedded as a base64 data URI.
    pub fn into_json(mut self) -> Value {
        let uri = format!(
            "data:application/octet-stream;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.bin)
        );
        if let Some(buffer) = self
            .json
            .pointer_mut("/buffers/0")
            .and_then(Value::as_object_mut)
        {
            buffer.insert("uri".into(), json!(uri));
        }
        self.json
    }

    /// GLB (glTF 2.0 binary container): a 12-byte header, the JSON chunk
    /// padded with spaces and the BIN chunk padded with zeros to 4 bytes.
    pub fn into_glb(self) -> Vec<u8> {
        let mut json_chunk = serde_json::to_vec(&self.json).expect("documents serialise");
        json_chunk.resize(json_chunk.len().next_multiple_of(4), b' ');
        let mut bin_chunk = self.bin;
        bin_chunk.resize(bin_chunk.len().next_multiple_of(4), 0);
        let total = 12 + 8 + json_chunk.len() + 8 + bin_chunk.len();
        let mut glb = Vec::with_capacity(total);
        glb.extend_from_slice(b"glTF");
        glb.extend_from_slice(&2u32.to_le_bytes());
        glb.extend_from_slice(&(total as u32).to_le_bytes());
        glb.extend_from_slice(&(json_chunk.len() as u32).to_le_bytes());
        glb.extend_from_slice(b"JSON");
        glb.extend_from_slice(&json_chunk);
        glb.extend_from_slice(&(bin_chunk.len() as u32).to_le_bytes());
        glb.extend_from_slice(b"BIN\0");
        glb.extend_from_slice(&bin_chunk);
        glb
    }
}

/// Encodes a checked motion as the response document (JSON glTF).
pub fn encode(motion: &Motion, ctx: &Context) -> Value {
    build(motion, ctx).into_json()
}

/// Encodes a checked motion, format still open.
pub fn build(motion: &Motion, ctx: &Context) -> Document {
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
                       keys: Option<&[usize]>| {
            let output = builder.push(&values, kind, None);
            let input = match keys {
                Some(keys) => builder.times(keys),
                None => dense,
            };
            channels.push(channel(samplers.len(), node, path));
            samplers.push(sampler(input, output));
        };

        for j in 0..j_count {
            let keys = thinned(motion.keyframes(j).and_then(|k| k.rotation.as_ref()), t);
            let frames = keys.as_deref().unwrap_or(&all_frames);
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
                keys.as_deref(),
            );
        }

        let keys = thinned(motion.keyframes(0).and_then(|k| k.translation.as_ref()), t);
        let frames = keys.as_deref().unwrap_or(&all_frames);
        let values = frames.iter().flat_map(|&f| motion.root(b, f)).collect();
        add(
            &mut builder,
            0,
            gj::animation::Property::Translation,
            values,
            gj::accessor::Type::Vec3,
            keys.as_deref(),
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
                let frames = keys.as_deref().unwrap_or(&all_frames);
                let values = frames.iter().flat_map(|&f| track[f]).collect();
                add(
                    &mut builder,
                    j,
                    gj::animation::Property::Translation,
                    values,
                    gj::accessor::Type::Vec3,
                    keys.as_deref(),
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
            uri: None,
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
    Document {
        json: layout(value, ctx, extension(motion, ctx)),
        bin: builder.bytes,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::mmcp::backbone::types::{FootContact, JointKeyframes};
    use crate::bindings::MotionResult;
    use crate::request::Joint;

    fn skeleton(joints: &[(&str, Option<&str>, [f64; 3])]) -> Skeleton {
        Skeleton {
            joints: joints
                .iter()
                .map(|&(name, parent, t)| Joint {
                    name: name.into(),
                    parent: parent.map(Into::into),
                    rest_translation: t,
                    rest_rotation: [0.0, 0.0, 0.0, 1.0],
                    display_name: None,
                })
                .collect(),
        }
    }

    fn two_joints() -> Skeleton {
        skeleton(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
        ])
    }

    fn result(b: u32, t: u32, j: usize, rotations: Vec<f32>, root: Vec<f32>) -> MotionResult {
        assert_eq!(rotations.len(), b as usize * t as usize * j * 4);
        MotionResult {
            num_samples: b,
            num_frames: t,
            rotations,
            root_translations: root,
            translations: None,
            keyframes: Vec::new(),
            joint_names: None,
            foot_contacts: Vec::new(),
            chunk_boundaries: None,
            canonical_to_request: Vec::new(),
            trajectories: None,
            notes: Vec::new(),
        }
    }

    fn rest(b: u32, t: u32, j: usize, root: [f32; 3]) -> MotionResult {
        let keys = (b * t) as usize;
        result(
            b,
            t,
            j,
            [0.0, 0.0, 0.0, 1.0].repeat(keys * j),
            root.repeat(keys),
        )
    }

    fn encode_with(skel: &Skeleton, r: MotionResult, fps: f64, joint_translation: bool) -> Value {
        let motion = Motion::check(r, skel).unwrap();
        encode(
            &motion,
            &Context {
                skeleton: skel,
                model_id: "null",
                fps,
                joint_translation,
            },
        )
    }

    fn floats(doc: &Value, accessor: usize) -> Vec<f32> {
        let uri = doc["buffers"][0]["uri"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(uri.split_once(',').unwrap().1)
            .unwrap();
        let view = &doc["bufferViews"][accessor];
        let start = view["byteOffset"].as_u64().unwrap() as usize;
        let len = view["byteLength"].as_u64().unwrap() as usize;
        bytes[start..start + len]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// gltf-output.md §10.1, the reference's complete 1608-byte answer.
    #[test]
    fn worked_example_10_1_is_byte_identical() {
        let doc = encode_with(&two_joints(), rest(1, 3, 2, [0.0, 0.95, 0.0]), 30.0, false);
        let expected = concat!(
            r#"{"asset":{"version":"2.0","generator":"motionmcp"},"#,
            r#""nodes":[{"name":"Hips","translation":[0.0,0.95,0.0],"rotation":[0.0,0.0,0.0,1.0],"children":[1]},{"name":"Spine","translation":[0.0,0.5,0.0],"rotation":[0.0,0.0,0.0,1.0]}],"#,
            r#""scenes":[{"nodes":[0]}],"#,
            r#""scene":0,"#,
            r#""skins":[{"name":"skin","joints":[0,1]}],"#,
            r#""animations":[{"name":"sample_0","channels":[{"sampler":0,"target":{"node":0,"path":"rotation"}},{"sampler":1,"target":{"node":1,"path":"rotation"}},{"sampler":2,"target":{"node":0,"path":"translation"}}],"samplers":[{"input":0,"output":1,"interpolation":"LINEAR"},{"input":0,"output":2,"interpolation":"LINEAR"},{"input":0,"output":3,"interpolation":"LINEAR"}]}],"#,
            r#""accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"SCALAR","min":[0.0],"max":[0.06666667014360428]},{"bufferView":1,"componentType":5126,"count":3,"type":"VEC4"},{"bufferView":2,"componentType":5126,"count":3,"type":"VEC4"},{"bufferView":3,"componentType":5126,"count":3,"type":"VEC3"}],"#,
            r#""bufferViews":[{"buffer":0,"byteOffset":0,"byteLength":12},{"buffer":0,"byteOffset":12,"byteLength":48},{"buffer":0,"byteOffset":60,"byteLength":48},{"buffer":0,"byteOffset":108,"byteLength":36}],"#,
            r#""buffers":[{"byteLength":144,"uri":"data:application/octet-stream;base64,AAAAAImICD2JiIg9AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAAAAAAAAAAAAAAAIA/AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAAAAAAAAAAAAAAAIA/AAAAADMzcz8AAAAAAAAAADMzcz8AAAAAAAAAADMzcz8AAAAA"}],"#,
            r#""extensionsUsed":["MMCP_motion"],"#,
            r#""extensions":{"MMCP_motion":{"version":"1.4","model":"null","fps":30.0,"samples":[{"name":"sample_0","num_frames":3,"chunk_boundaries":[]}]}}}"#,
        );
        let body = serde_json::to_string(&doc).unwrap();
        assert_eq!(body.len(), 1608);
        assert_eq!(body, expected);
    }

    /// §10.2: a moving sample at 24 fps with foot contacts.
    #[test]
    fn worked_example_10_2_buffer_and_extension() {
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let (c, n) = (0.923_879_5_f32, 0.382_683_43_f32);
        let rotations = [
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0, 1.0],
            [0.0, n, 0.0, c],
            [0.0, 0.0, 0.0, 1.0],
            [0.0, s, 0.0, s],
        ]
        .concat();
        let root = [0.0, 0.95, 0.0, 0.0, 0.95, 0.05, 0.0, 0.95, 0.1].to_vec();
        let mut r = result(1, 3, 2, rotations, root);
        r.foot_contacts = vec![FootContact {
            joint: "Hips".into(),
            contacts: vec![true, true, false],
        }];
        let doc = encode_with(&two_joints(), r, 24.0, false);
        assert_eq!(doc["accessors"][0]["max"], json!([0.0833333358168602]));
        assert_eq!(
            doc["buffers"][0]["uri"],
            "data:application/octet-stream;base64,AAAAAKuqKj2rqqo9AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAAAAAAAAAAAAAAAIA/AAAAAAAAAAAAAAAAAACAPwAAAAAV78M+AAAAAF6DbD8AAAAA8wQ1PwAAAADzBDU/AAAAADMzcz8AAAAAAAAAADMzcz/NzEw9AAAAADMzcz/NzMw9"
        );
        assert_eq!(
            doc["extensions"]["MMCP_motion"],
            json!({"version": "1.4", "model": "null", "fps": 24.0, "samples": [
                {"name": "sample_0", "num_frames": 3, "chunk_boundaries": [], "foot_contacts": {"Hips": [true, true, false]}}]})
        );
    }

    #[test]
    fn accessors_views_and_buffer_are_consistent() {
        let skel = two_joints();
        let doc = encode_with(&skel, rest(2, 7, 2, [1.0, 2.0, 3.0]), 29.97, false);
        let accessors = doc["accessors"].as_array().unwrap();
        // clock + (2 rotations + root) per sample
        assert_eq!(accessors.len(), 1 + 2 * 3);
        let mut offset = 0;
        for (i, a) in accessors.iter().enumerate() {
            assert_eq!(a["bufferView"], i);
            assert_eq!(a["componentType"], 5126);
            assert_eq!(a["count"], 7);
            let comps = match a["type"].as_str().unwrap() {
                "SCALAR" => 1,
                "VEC3" => 3,
                _ => 4,
            };
            let view = &doc["bufferViews"][i];
            assert_eq!(view["byteOffset"], offset);
            assert_eq!(view["byteLength"], 7 * comps * 4);
            offset += 7 * comps * 4;
            // min/max on time accessors only
            assert_eq!(a.get("min").is_some(), i == 0);
        }
        assert_eq!(doc["buffers"][0]["byteLength"], offset);
        // Times are f32(i) / f32(fps), in single precision.
        let times = floats(&doc, 0);
        for (i, t) in times.iter().enumerate() {
            assert_eq!(t.to_bits(), (i as f32 / 29.97f32).to_bits());
        }
        assert_eq!(accessors[0]["max"], json!([times[6] as f64]));
        // Every rotation key is a unit quaternion.
        for k in [1, 2, 4, 5] {
            for q in floats(&doc, k).chunks(4) {
                let norm: f32 = q.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-6);
            }
        }
        assert_eq!(floats(&doc, 6), [1.0, 2.0, 3.0].repeat(7));
        assert_eq!(
            doc["animations"][1]["samplers"][0],
            json!({"input": 0, "output": 4, "interpolation": "LINEAR"})
        );
    }

    /// §10.4: thinned channels share time accessors by key set; joint
    /// translations that leave rest get channels after the root's.
    #[test]
    fn worked_example_10_4_layout() {
        let skel = skeleton(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
            ("Head", Some("Spine"), [0.0, 0.3, 0.0]),
            ("LeftFoot", Some("Hips"), [0.1, -0.95, 0.0]),
            ("RightFoot", Some("Hips"), [-0.1, -0.95, 0.0]),
        ]);
        let (b, t, j) = (2, 5, 5);
        let mut r = rest(b, t, j, [0.0, 0.95, 0.0]);
        let mut translations = Vec::new();
        for _ in 0..b {
            for f in 0..t {
                for joint in &skel.joints {
                    let mut p = joint.rest_translation.map(|x| x as f32);
                    if joint.name == "Head" {
                        p[2] += 0.01 * f as f32;
                    }
                    translations.extend(p);
                }
            }
        }
        r.translations = Some(translations);
        r.keyframes = vec![
            JointKeyframes {
                joint: 1,
                rotation: Some(vec![0, 2, 2, 7]),
                translation: None,
            },
            JointKeyframes {
                joint: 0,
                rotation: None,
                translation: Some(vec![0, 1]),
            },
            JointKeyframes {
                joint: 2,
                rotation: None,
                translation: Some(vec![0, 4]),
            },
        ];
        let doc = encode_with(&skel, r, 30.0, true);
        let layout = |anim: &Value| -> Vec<(u64, String, u64, u64)> {
            anim["channels"]
                .as_array()
                .unwrap()
                .iter()
                .zip(anim["samplers"].as_array().unwrap())
                .map(|(c, s)| {
                    (
                        c["target"]["node"].as_u64().unwrap(),
                        c["target"]["path"].as_str().unwrap().to_string(),
                        s["input"].as_u64().unwrap(),
                        s["output"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let rot = |n: u64, i: u64, o: u64| (n, "rotation".to_string(), i, o);
        let tr = |n: u64, i: u64, o: u64| (n, "translation".to_string(), i, o);
        assert_eq!(
            layout(&doc["animations"][0]),
            vec![
                rot(0, 0, 1),
                rot(1, 3, 2),
                rot(2, 0, 4),
                rot(3, 0, 5),
                rot(4, 0, 6),
                tr(0, 8, 7),
                tr(2, 10, 9)
            ]
        );
        assert_eq!(
            layout(&doc["animations"][1]),
            vec![
                rot(0, 0, 11),
                rot(1, 3, 12),
                rot(2, 0, 13),
                rot(3, 0, 14),
                rot(4, 0, 15),
                tr(0, 8, 16),
                tr(2, 10, 17)
            ]
        );
        assert_eq!(floats(&doc, 3), [0.0, 2.0f32 / 30.0, 4.0f32 / 30.0]);
        assert_eq!(doc["accessors"][2]["count"], 3);

        // Without the capability, per-joint translations are dropped.
        let doc = encode_with(
            &skel,
            {
                let mut r = rest(1, 5, 5, [0.0, 0.95, 0.0]);
                r.translations = Some(vec![9.0; 5 * 5 * 3]);
                r
            },
            30.0,
            false,
        );
        assert_eq!(
            doc["animations"][0]["channels"].as_array().unwrap().len(),
            6
        );
    }

    #[test]
    fn malformed_results_are_internal_errors() {
        let skel = two_joints();
        let mut short = rest(1, 3, 2, [0.0; 3]);
        short.rotations.pop();
        let mut nan = rest(1, 3, 2, [0.0; 3]);
        nan.rotations[5] = f32::NAN;
        let mut renamed = rest(1, 3, 2, [0.0; 3]);
        renamed.joint_names = Some(vec!["Spine".into(), "Hips".into()]);
        let mut contacts = rest(1, 3, 2, [0.0; 3]);
        contacts.foot_contacts = vec![FootContact {
            joint: "Hips".into(),
            contacts: vec![true],
        }];
        for (r, needle) in [
            (short, "rotations"),
            (nan, "non-finite"),
            (renamed, "joint_names"),
            (contacts, "foot_contacts"),
        ] {
            let e = Motion::check(r, &skel).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InternalError);
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }
}

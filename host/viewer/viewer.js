// MMCP viewer: a plain MMCP 1.4 client of the server that serves it. It reads
// GET /capabilities, sends POST /generate (following async jobs), and plays the
// glTF answer as a skeleton. The glTF is parsed here rather than with a loader:
// it is JSON with one base64 buffer, and the MMCP_motion extension (fps, frame
// counts, contacts, trajectories) is read straight from it.
import * as THREE from 'three';
import { OrbitControls } from '/viewer/OrbitControls.js';

const $ = (id) => document.getElementById(id);

// Live state for people and tests (window.viewerState); renderedFrame is the
// frame on screen after the last render, so a test can wait for it.
const state = {
  ready: false, frame: 0, frames: 0, playing: false, sample: 0, samples: 0,
  lastError: null, busy: false, clips: 0, pathPoints: 0, renderedFrame: -1,
};
window.viewerState = state;

let caps = null;   // the /capabilities answer
let model = null;  // the selected ModelEntry
let clip = null;   // the last answer: {doc, text, bin, fps, model}
let pose = null;   // what is on screen: {parents, frames, positions, contacts, trajectory}
const path = [];   // root path points {x, z}, in drawing order
const targets = []; // effector targets {joint, x, y, z, time, el}
let mode = null;   // 'path' | 'target': what a click on the ground adds
let job = null;    // the request under way: {abort, cancelled, url (an async job's, once known)}

// ---------------------------------------------------------------- 3D scene

const canvas = $('view');
// preserveDrawingBuffer keeps the last frame readable (screenshots, toDataURL).
let renderer;
try {
  renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
} catch (e) {
  state.lastError = { status: 0, code: null, message: `WebGL is not available: ${e.message}` };
  Object.assign($('error'), { hidden: false, textContent: state.lastError.message });
  throw e;
}
renderer.setPixelRatio(Math.min(devicePixelRatio, 2));
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x16181d);
const camera = new THREE.PerspectiveCamera(45, 1, 0.05, 500);
camera.position.set(3, 2.2, 4.5);
const controls = new OrbitControls(camera, canvas);
controls.target.set(0, 0.9, 0);
controls.update();
scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
sun.position.set(3, 6, 4);
scene.add(sun);
scene.add(new THREE.GridHelper(20, 20, 0x6a7080, 0x353a45));

const mat = (color) => new THREE.MeshLambertMaterial({ color });
const flat = (color) => new THREE.MeshBasicMaterial({ color });
const MAT = {
  joint: mat(0xd8dde6), contact: mat(0xff8a3d), bone: mat(0x6f9fdc), path: mat(0x3dd6c6), target: mat(0xe05bd0),
  pathLine: flat(0x2fb3a6), trajectory: flat(0xf2c94c), targetLine: flat(0xa8459c),
};
const jointGeo = new THREE.SphereGeometry(0.028, 14, 10);
const boneGeo = new THREE.CylinderGeometry(0.012, 0.012, 1, 8).translate(0, 0.5, 0); // base at the origin, along +Y
const markerGeo = new THREE.SphereGeometry(0.04, 12, 8);
const SHARED = new Set([jointGeo, boneGeo, markerGeo]);
const skeleton = new THREE.Group();
const overlays = { path: new THREE.Group(), targets: new THREE.Group(), trajectory: new THREE.Group() };
scene.add(skeleton, ...Object.values(overlays));

let dirty = true;
const requestRender = () => { dirty = true; };
controls.addEventListener('change', requestRender);

new ResizeObserver(() => {
  const { clientWidth: w, clientHeight: h } = canvas.parentElement;
  renderer.setSize(w, h, false);
  camera.aspect = w / Math.max(h, 1);
  camera.updateProjectionMatrix();
  requestRender();
}).observe(canvas.parentElement);

function clearGroup(group) {
  for (const o of [...group.children]) {
    group.remove(o);
    if (o.geometry && !SHARED.has(o.geometry)) o.geometry.dispose();
  }
}

/** Adds obj to group and returns obj. */
function addTo(group, obj) { group.add(obj); return obj; }

/** A thin tube along a polyline (WebGL lines are 1 px wide, too faint to read). */
function tube(points, material, radius) {
  const pts = points.filter((p, i) => i === 0 || p.distanceTo(points[i - 1]) > 1e-3);
  if (pts.length < 2) return new THREE.Group();
  const curve = new THREE.CurvePath();
  for (let i = 1; i < pts.length; i++) curve.add(new THREE.LineCurve3(pts[i - 1], pts[i]));
  return new THREE.Mesh(new THREE.TubeGeometry(curve, Math.min(4000, pts.length * 8), radius, 6), material);
}

// ----------------------------------------------------------- glTF reading

function decodeBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Buffer 0 of a glTF JSON document (embedded as a data: URI). */
function bufferOf(doc) {
  const uri = doc.buffers?.[0]?.uri ?? '';
  if (!uri.startsWith('data:')) throw new Error('the glTF buffer is not embedded');
  return decodeBase64(uri.slice(uri.indexOf(',') + 1));
}

const COMPONENTS = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };

/** A float accessor as a Float32Array (copied, so any offset works). */
function accessor(doc, bin, index) {
  const acc = doc.accessors[index];
  const view = doc.bufferViews[acc.bufferView];
  const n = acc.count * COMPONENTS[acc.type];
  const start = (view.byteOffset ?? 0) + (acc.byteOffset ?? 0);
  return new Float32Array(bin.slice(start, start + n * 4).buffer);
}

/** Writes a channel's value at time t into dst[off..]: lerp, or slerp for quaternions. */
function sampleTrack(track, t, dst, off) {
  const { times, values, size, step } = track;
  const n = times.length;
  let i = 0, a = 0;
  if (t >= times[n - 1]) i = n - 1;
  else if (t > times[0]) {
    let lo = 0, hi = n - 1; // times[lo] <= t < times[hi]
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (times[mid] <= t) lo = mid; else hi = mid; }
    i = lo;
    a = step ? 0 : (t - times[lo]) / (times[hi] - times[lo]);
  }
  if (a === 0) { for (let k = 0; k < size; k++) dst[off + k] = values[i * size + k]; return; }
  if (size === 4) THREE.Quaternion.slerpFlat(dst, off, values, i * 4, values, (i + 1) * 4, a);
  else for (let k = 0; k < size; k++) dst[off + k] = values[i * size + k] * (1 - a) + values[(i + 1) * size + k] * a;
}

/** Parent indices (-1 for roots) and an order with every parent before its children. */
function hierarchy(count, childrenOf) {
  const parents = new Array(count).fill(-1);
  for (let j = 0; j < count; j++) for (const c of childrenOf(j)) parents[c] = j;
  const order = [];
  const visit = (j) => { order.push(j); for (const c of childrenOf(j)) visit(c); };
  for (let j = 0; j < count; j++) if (parents[j] < 0) visit(j);
  return { parents, order };
}

const _q = new THREE.Quaternion(), _v = new THREE.Vector3();

/** World joint positions of one frame from local rotations (xyzw) and translations. */
function forwardKinematics(parents, order, rot, tra, out, offset, wq, wp) {
  for (const j of order) {
    _q.fromArray(rot, j * 4).normalize();
    _v.fromArray(tra, j * 3);
    const p = parents[j];
    if (p < 0) { wq[j].copy(_q); wp[j].copy(_v); }
    else { wp[j].copy(_v).applyQuaternion(wq[p]).add(wp[p]); wq[j].multiplyQuaternions(wq[p], _q); }
    wp[j].toArray(out, offset + j * 3);
  }
}

const scratch = (n, C) => Array.from({ length: n }, () => new C());

/** Everything needed to draw sample b of an answer, frame by frame. */
function samplePose(doc, bin, b, fps) {
  const nodes = doc.nodes;
  const J = nodes.length;
  const { parents, order } = hierarchy(J, (j) => nodes[j].children ?? []);
  const anim = doc.animations[b];
  const tracks = anim.channels.map((ch) => {
    const s = anim.samplers[ch.sampler];
    const times = accessor(doc, bin, s.input);
    const values = accessor(doc, bin, s.output);
    return { node: ch.target.node, path: ch.target.path, times, values, size: values.length / times.length, step: s.interpolation === 'STEP' };
  }).filter((t) => t.path === 'rotation' || t.path === 'translation');
  const info = doc.extensions?.MMCP_motion?.samples?.[b] ?? {};
  const lastTime = Math.max(0, ...tracks.map((t) => t.times[t.times.length - 1]));
  const frames = info.num_frames ?? Math.round(lastTime * fps) + 1;

  const rot = new Float32Array(J * 4), tra = new Float32Array(J * 3);
  const positions = new Float32Array(frames * J * 3);
  const wq = scratch(J, THREE.Quaternion), wp = scratch(J, THREE.Vector3);
  for (let f = 0; f < frames; f++) {
    // Channels replace the node's rest transform (gltf-output.md §5).
    nodes.forEach((n, j) => { rot.set(n.rotation ?? [0, 0, 0, 1], j * 4); tra.set(n.translation ?? [0, 0, 0], j * 3); });
    const t = Math.fround(f / fps); // the server's frame clock is float32
    for (const tr of tracks) {
      if (tr.path === 'rotation') sampleTrack(tr, t, rot, tr.node * 4);
      else sampleTrack(tr, t, tra, tr.node * 3);
    }
    forwardKinematics(parents, order, rot, tra, positions, f * J * 3, wq, wp);
  }
  const names = nodes.map((n) => n.name);
  const contacts = names.map((name) => info.foot_contacts?.[name] ?? null);
  return { parents, frames, positions, contacts, trajectory: info.trajectory ?? null };
}

/** The rest pose of a capabilities skeleton, as a one-frame pose. */
function restPose(joints) {
  const index = new Map(joints.map((j, i) => [j.name, i]));
  const children = joints.map(() => []);
  joints.forEach((j, i) => { if (j.parent != null && index.has(j.parent)) children[index.get(j.parent)].push(i); });
  const { parents, order } = hierarchy(joints.length, (j) => children[j]);
  const positions = new Float32Array(joints.length * 3);
  const rot = new Float32Array(joints.flatMap((j) => j.rest_rotation));
  const tra = new Float32Array(joints.flatMap((j) => j.rest_translation));
  forwardKinematics(parents, order, rot, tra, positions, 0, scratch(joints.length, THREE.Quaternion), scratch(joints.length, THREE.Vector3));
  return { parents, frames: 1, positions, contacts: joints.map(() => null), trajectory: null };
}

// ------------------------------------------------------- drawing a pose

let jointMeshes = [], boneMeshes = [];

function showPose(p) {
  pose = p;
  clearGroup(skeleton);
  jointMeshes = p.parents.map(() => addTo(skeleton, new THREE.Mesh(jointGeo, MAT.joint)));
  boneMeshes = p.parents.map((parent) => (parent < 0 ? null : addTo(skeleton, new THREE.Mesh(boneGeo, MAT.bone))));
  clearGroup(overlays.trajectory);
  const traj = p.trajectory?.position;
  if (Array.isArray(traj) && traj.length > 1) {
    overlays.trajectory.add(tube(traj.map(([x, z]) => new THREE.Vector3(x, 0.006, z)), MAT.trajectory, 0.008));
  }
  state.frames = p.frames;
  $('scrub').max = String(p.frames - 1);
  setFrame(Math.min(state.frame, p.frames - 1));
}

const _a = new THREE.Vector3(), _b = new THREE.Vector3(), UP = new THREE.Vector3(0, 1, 0);

function setFrame(f) {
  state.frame = f;
  $('scrub').value = String(f);
  const fps = clip?.fps ?? model?.fps ?? 30;
  $('frame-label').textContent = pose.frames > 1 ? `${f + 1} / ${pose.frames} · ${(f / fps).toFixed(2)} s` : 'rest pose';
  const J = pose.parents.length, base = f * J * 3;
  for (let j = 0; j < J; j++) {
    jointMeshes[j].position.fromArray(pose.positions, base + j * 3);
    jointMeshes[j].material = pose.contacts[j]?.[f] ? MAT.contact : MAT.joint;
    const bone = boneMeshes[j];
    if (!bone) continue;
    _a.fromArray(pose.positions, base + pose.parents[j] * 3);
    _b.fromArray(pose.positions, base + j * 3).sub(_a);
    const len = _b.length();
    bone.visible = len > 1e-6;
    bone.position.copy(_a);
    if (len > 1e-6) bone.quaternion.setFromUnitVectors(UP, _b.divideScalar(len));
    bone.scale.set(1, Math.max(len, 1e-6), 1);
  }
  requestRender();
}

/** Points the camera at the whole clip (once per new answer). */
function frameClip(p) {
  const box = new THREE.Box3();
  for (let i = 0; i < p.positions.length; i += 3) box.expandByPoint(_a.fromArray(p.positions, i));
  const center = box.getCenter(new THREE.Vector3());
  const size = box.getSize(new THREE.Vector3());
  const offset = camera.position.clone().sub(controls.target).normalize();
  controls.target.set(center.x, Math.min(center.y, 1.0), center.z);
  camera.position.copy(controls.target).addScaledVector(offset, Math.max(3, Math.hypot(size.x, size.z) + 1.5));
  controls.update();
}

// Playback: the clock advances in seconds; the frame shown is floor(t * fps).
let playTime = 0, lastTick = null;
function tick(now) {
  requestAnimationFrame(tick);
  const dt = lastTick == null ? 0 : Math.min((now - lastTick) / 1000, 0.1);
  lastTick = now;
  if (state.playing && pose && pose.frames > 1) {
    playTime = (playTime + dt) % (pose.frames / clip.fps);
    const f = Math.min(pose.frames - 1, Math.floor(playTime * clip.fps));
    if (f !== state.frame) setFrame(f);
  }
  if (dirty) {
    dirty = false;
    renderer.render(scene, camera);
    state.renderedFrame = state.frame;
    state.ready = !!model; // the form is built and a first picture drawn
  }
}

function setPlaying(on) {
  state.playing = on && !!pose && pose.frames > 1;
  if (state.playing) playTime = state.frame / clip.fps;
  $('play').textContent = state.playing ? 'Pause' : 'Play';
}

// ---------------------------------------------------- constraints on the ground

function drawPath() {
  clearGroup(overlays.path);
  for (const p of path) addTo(overlays.path, new THREE.Mesh(markerGeo, MAT.path)).position.set(p.x, 0.02, p.z);
  overlays.path.add(tube(path.map((p) => new THREE.Vector3(p.x, 0.012, p.z)), MAT.pathLine, 0.012));
  state.pathPoints = path.length;
  $('path-info').textContent = path.length ? `${path.length} point${path.length > 1 ? 's' : ''}, spread over the timeline` : 'no root path';
  requestRender();
}

function addPathPoint(x, z) { path.push({ x, z }); drawPath(); }
function clearPath() { path.length = 0; drawPath(); }

function drawTargets() {
  clearGroup(overlays.targets);
  const list = $('target-list');
  list.replaceChildren();
  targets.forEach((t, i) => {
    addTo(overlays.targets, new THREE.Mesh(markerGeo, MAT.target)).position.set(t.x, t.y, t.z);
    overlays.targets.add(tube([new THREE.Vector3(t.x, 0, t.z), new THREE.Vector3(t.x, t.y, t.z)], MAT.targetLine, 0.006));
    const li = document.createElement('li');
    li.textContent = `${t.joint} → (${t.x.toFixed(2)}, ${t.y.toFixed(2)}, ${t.z.toFixed(2)}) at ${t.time == null ? 'end' : `${t.time} s`}`;
    const rm = document.createElement('button');
    rm.type = 'button'; rm.textContent = '×';
    rm.onclick = () => { targets.splice(i, 1); drawTargets(); };
    li.append(rm);
    t.el = li;
    list.append(li);
  });
  requestRender();
}

function addTarget(joint, x, y, z, time = null) { targets.push({ joint, x, y, z, time }); drawTargets(); }

function setMode(m) {
  mode = mode === m ? null : m;
  $('draw-path').setAttribute('aria-pressed', String(mode === 'path'));
  $('place-target').setAttribute('aria-pressed', String(mode === 'target'));
  canvas.style.cursor = mode ? 'crosshair' : '';
}

// A click (not a drag, which orbits) on the ground adds a point in the current mode.
let down = null;
canvas.addEventListener('pointerdown', (e) => { down = e.button === 0 ? [e.clientX, e.clientY] : null; });
canvas.addEventListener('pointerup', (e) => {
  if (!mode || !down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 5) return;
  const r = canvas.getBoundingClientRect();
  const ndc = new THREE.Vector2(((e.clientX - r.left) / r.width) * 2 - 1, -((e.clientY - r.top) / r.height) * 2 + 1);
  const ray = new THREE.Raycaster();
  ray.setFromCamera(ndc, camera);
  const hit = ray.ray.intersectPlane(new THREE.Plane(UP, 0), new THREE.Vector3());
  if (!hit) return;
  const x = +hit.x.toFixed(3), z = +hit.z.toFixed(3);
  if (mode === 'path') addPathPoint(x, z);
  else {
    const time = $('effector-time').value.trim();
    addTarget($('effector-joint').value, x, Number($('effector-height').value) || 0, z, time === '' ? null : Number(time));
  }
});

// ----------------------------------------------------------------- the form

function option(value, text = value) {
  const o = document.createElement('option');
  o.value = value; o.textContent = text;
  return o;
}

function addSegment(type = 'text', prompt = '', seconds = 3) {
  const row = document.createElement('div');
  row.className = 'segment';
  row.innerHTML = `<select class="type"></select><input class="prompt" placeholder="prompt"><input class="duration" type="number" min="0" step="0.1" title="seconds"><button type="button" class="remove" title="remove">×</button>`;
  const sel = row.querySelector('.type');
  for (const t of ['text', 'unconditioned', 'pose']) if (model.supported_segments.includes(t)) sel.append(option(t));
  sel.value = type;
  row.querySelector('.prompt').value = prompt;
  row.querySelector('.duration').value = String(seconds);
  // unconditioned has no prompt; a pose is one frame and has no duration.
  const sync = () => {
    row.querySelector('.prompt').disabled = sel.value === 'unconditioned';
    row.querySelector('.duration').disabled = sel.value === 'pose';
  };
  sel.onchange = sync;
  sync();
  row.querySelector('.remove').onclick = () => { row.remove(); renumberSegments(); };
  $('segments').append(row);
  renumberSegments();
}

// Field elements carry data-loc = the request path an error loc points at.
function renumberSegments() {
  [...$('segments').children].forEach((row, i) => {
    row.dataset.loc = `segments[${i}]`;
    row.querySelector('.type').dataset.loc = `segments[${i}].type`;
    row.querySelector('.prompt').dataset.loc = `segments[${i}].prompt`;
    row.querySelector('.duration').dataset.loc = `segments[${i}].duration_frames`;
  });
}

function selectModel(id) {
  model = caps.models.find((m) => m.id === id);
  const L = model.limits;
  $('model-info').textContent = `${model.fps} fps · up to ${L.max_duration_seconds} s · constraints: ${model.supported_constraints.join(', ') || 'none'}`;
  // Keep the timeline, but only with segment types this model accepts.
  const rows = [...$('segments').children].map((r) => [r.querySelector('.type').value, r.querySelector('.prompt').value, r.querySelector('.duration').value]);
  $('segments').replaceChildren();
  for (const [type, prompt, sec] of rows.length ? rows : [['text', 'walk forward', '3']]) {
    addSegment(model.supported_segments.includes(type) ? type : 'text', prompt, sec);
  }
  // Only what this model advertises is offered (unknown fields are refused, mmcp.md §2.6).
  $('f-num-samples').hidden = L.max_num_samples <= 1;
  $('num-samples').max = String(L.max_num_samples);
  const gt = $('guidance-type');
  gt.replaceChildren(option('', 'model default'), ...model.supported_guidance_types.map((t) => option(t)));
  gt.onchange = syncGuidance;
  syncGuidance();
  $('f-guidance').hidden = model.supported_guidance_types.length === 0;
  $('f-loop').hidden = !model.supports_loop;
  $('f-keyframe-budget').hidden = !model.supports_keyframe_reduction;
  buildModelOptions(model.model_options ?? []);
  $('path-box').hidden = !model.supported_constraints.includes('root_path');
  $('effectors').hidden = !model.supported_constraints.includes('effector_target');
  const joints = model.canonical_skeleton.joints.map((j) => j.name);
  $('effector-joint').replaceChildren(...joints.map((n) => option(n)));
  $('effector-joint').value = joints.find((n) => /hand/i.test(n)) ?? joints[0];
  for (let i = targets.length - 1; i >= 0; i--) if (!joints.includes(targets[i].joint)) targets.splice(i, 1);
  drawTargets();
  if (!clip) showPose(restPose(model.canonical_skeleton.joints));
}

function syncGuidance() {
  const n = { regular: 1, separated: 2 }[$('guidance-type').value] ?? 0;
  $('guidance-w1').hidden = n < 1;
  $('guidance-w2').hidden = n < 2;
}

/** Inputs for the model's own dials (ModelOption, mmcp.md §3.4); empty = not sent. */
function buildModelOptions(dials) {
  const box = $('model-options');
  box.replaceChildren();
  for (const d of dials) {
    const label = document.createElement('label');
    label.className = 'field';
    label.title = d.description ?? '';
    label.append(d.title ?? d.name, ' ');
    let input;
    if (d.type === 'number' || d.type === 'integer') {
      input = document.createElement('input');
      input.type = 'number';
      input.step = d.type === 'integer' ? '1' : 'any';
      if (d.minimum != null) input.min = String(d.minimum);
      if (d.maximum != null) input.max = String(d.maximum);
      input.placeholder = d.default == null ? '' : String(d.default);
    } else {
      input = document.createElement('select');
      input.multiple = d.type === 'flags';
      if (!input.multiple) input.append(option('', d.default == null ? 'default' : `default (${JSON.stringify(d.default)})`));
      const values = d.type === 'boolean' ? ['true', 'false'] : d.values ?? [];
      input.append(...values.map((v) => option(v)));
    }
    input.dataset.loc = `options.model_options.${d.name}`;
    input.dataset.dial = d.name;
    input.dataset.kind = d.type;
    label.append(input);
    box.append(label);
  }
}

// ----------------------------------------------------------------- request

const numberOrUndefined = (el) => (el.value.trim() === '' ? undefined : Number(el.value));
let constraintEls = []; // constraints[k] of the last request -> its element in the form

function buildRequest() {
  const fps = model.fps;
  const segments = [...$('segments').children].map((row) => {
    const type = row.querySelector('.type').value;
    const prompt = row.querySelector('.prompt').value;
    // Seconds become frames at the model's fps; a blank or invalid value goes
    // out as null so the server names the field.
    const frames = Math.round(parseFloat(row.querySelector('.duration').value) * fps);
    const duration_frames = Number.isFinite(frames) ? frames : null;
    if (type === 'pose') return { type, prompt };
    if (type === 'unconditioned') return { type, duration_frames };
    return { type, prompt, duration_frames };
  });
  const total = segments.reduce((n, s) => n + (s.type === 'pose' ? 1 : Math.max(0, s.duration_frames ?? 0)), 0);
  const last = Math.max(total - 1, 0);

  for (const el of constraintEls) delete el.dataset.loc;
  constraintEls = [];
  const constraints = [];
  if (path.length && !$('path-box').hidden) {
    // The drawn points are spread evenly over the timeline: first at frame 0, last at the end.
    const n = path.length;
    const frames = n === 1 ? [last] : path.map((_, i) => Math.round((i * last) / (n - 1)));
    constraints.push({ type: 'root_path', frames, positions_xz: path.map((p) => [p.x, p.z]) });
    constraintEls.push($('path-box'));
  }
  if (!$('effectors').hidden) {
    for (const t of targets) {
      const frame = t.time == null ? last : Math.min(last, Math.round(t.time * fps));
      constraints.push({ type: 'effector_target', joint: t.joint, frames: [frame], positions: [[t.x, t.y, t.z]] });
      constraintEls.push(t.el);
    }
  }
  constraintEls.forEach((el, k) => { el.dataset.loc = `constraints[${k}]`; });

  const options = {};
  if (!$('f-num-samples').hidden) options.num_samples = numberOrUndefined($('num-samples'));
  options.seed = numberOrUndefined($('seed'));
  options.diffusion_steps = numberOrUndefined($('diffusion-steps'));
  const gtype = $('guidance-type').value;
  if (gtype && !$('f-guidance').hidden) {
    const weight = [$('guidance-w1'), $('guidance-w2')].slice(0, { regular: 1, separated: 2 }[gtype] ?? 0).map((el) => Number(el.value));
    options.guidance = { type: gtype, weight };
  }
  if (!$('f-loop').hidden && $('loop').checked) options.loop = true;
  if (!$('f-keyframe-budget').hidden) options.keyframe_budget = numberOrUndefined($('keyframe-budget'));
  const dials = {};
  for (const el of $('model-options').querySelectorAll('[data-dial]')) {
    const kind = el.dataset.kind;
    if (kind === 'flags') { const v = [...el.selectedOptions].map((o) => o.value); if (v.length) dials[el.dataset.dial] = v; }
    else if (el.value === '') continue;
    else if (kind === 'boolean') dials[el.dataset.dial] = el.value === 'true';
    else dials[el.dataset.dial] = kind === 'enum' ? el.value : Number(el.value);
  }
  if (Object.keys(dials).length) options.model_options = dials;
  for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];

  const skeleton = {
    joints: model.canonical_skeleton.joints.map((j) => {
      const out = { name: j.name, parent: j.parent, rest_translation: j.rest_translation, rest_rotation: j.rest_rotation };
      if (j.display_name != null) out.display_name = j.display_name;
      return out;
    }),
  };
  const req = { protocol_version: '1.4', model: model.id, skeleton, segments };
  if (constraints.length) req.constraints = constraints;
  if (Object.keys(options).length) req.options = options;
  return req;
}

// ------------------------------------------------------------------ errors

function clearErrors() {
  state.lastError = null;
  $('error').hidden = true;
  $('error').replaceChildren();
  document.querySelectorAll('.field-error').forEach((e) => e.remove());
  document.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
}

/** An error loc (["segments", 0, "text", "prompt"]) as a form path ("segments[0].prompt"). */
function locPath(loc) {
  let out = '';
  loc.forEach((k, i) => {
    if (typeof k === 'number') out += `[${k}]`;
    // Tagged unions insert the member's tag after the index: skip it.
    else if (i === 2 && typeof loc[1] === 'number' && (loc[0] === 'segments' || loc[0] === 'constraints')) return;
    else out += (out ? '.' : '') + k;
  });
  return out;
}

/** Shows msg next to the form element whose data-loc is the longest prefix of path. */
function fieldError(path, msg) {
  let best = null;
  for (const el of document.querySelectorAll('[data-loc]')) {
    const l = el.dataset.loc;
    const fits = path === l || path.startsWith(`${l}.`) || path.startsWith(`${l}[`);
    if (fits && el.offsetParent !== null && (!best || l.length > best.dataset.loc.length)) best = el;
  }
  if (!best) return false;
  const span = document.createElement('span');
  span.className = 'field-error';
  span.dataset.loc = best.dataset.loc;
  span.textContent = msg;
  best.classList.add('invalid');
  best.after(span);
  return true;
}

function showError(title, lines = []) {
  const box = $('error');
  box.replaceChildren(title);
  if (lines.length) {
    const ul = document.createElement('ul');
    ul.append(...lines.map((l) => Object.assign(document.createElement('li'), { textContent: l })));
    box.append(ul);
  }
  box.hidden = false;
}

/** An error answer: the MMCP envelope (mmcp.md §8.1), or whatever else came back. */
function showFailure(status, text) {
  let env = null;
  try { env = JSON.parse(text).error; } catch { /* not JSON */ }
  if (!env || typeof env.message !== 'string') {
    state.lastError = { status, code: null, message: text };
    showError(`HTTP ${status}: ${text.slice(0, 300) || 'no body'}`);
    return;
  }
  state.lastError = { status, code: env.code, message: env.message };
  const details = env.details ?? {};
  const unplaced = [];
  for (const e of details.errors ?? []) {
    const p = Array.isArray(e.loc) ? locPath(e.loc) : '';
    if (!(p && fieldError(p, e.msg))) unplaced.push(p ? `${p}: ${e.msg}` : e.msg);
  }
  if (typeof details.option === 'string') fieldError(`options.model_options.${details.option}`, env.message);
  showError(`${env.code}: ${env.message}`, unplaced);
}

// --------------------------------------------------------------- generate

function setBusy(on, text = '') {
  state.busy = on;
  $('generate').disabled = on;
  $('spinner').hidden = !on;
  $('progress').hidden = true;
  $('cancel').hidden = true;
  $('status').textContent = text;
}

/** A running job's poll body may report {"done": n, "total": m} (decisions D13). */
function showProgress(body) {
  const p = body?.progress;
  if (p && Number(p.total) > 0) {
    $('progress').hidden = false;
    $('spinner').hidden = true;
    $('progress').value = Math.min(1, p.done / p.total);
    $('status').textContent = `${p.done} / ${p.total}`;
  }
}

const wait = (ms) => new Promise((r) => setTimeout(r, ms));
/** Retry-After (seconds or an HTTP date), polling no faster than every 0.5 s (mmcp.md §10.1). */
function retryAfterMs(res) {
  const h = res.headers.get('Retry-After') ?? '';
  const ms = /^\s*\d+(\.\d+)?\s*$/.test(h) ? parseFloat(h) * 1000 : Date.parse(h) - Date.now();
  return Math.max(500, Number.isFinite(ms) ? ms : 1000);
}

/** Follows an async job (mmcp.md §10.1) until it is no longer running. */
async function pollJob(res) {
  const body = await res.json().catch(() => null);
  const loc = res.headers.get('Location') ?? (body?.job_id ? `/generate/jobs/${body.job_id}` : null);
  if (!loc) throw new Error('202 without a Location header or job_id');
  const url = new URL(loc, location.href);
  // The polls carry the token: never to another origin.
  if (url.origin !== location.origin) throw new Error(`the job is at another origin (${url.origin})`);
  job.url = url.href;
  $('status').textContent = 'job queued';
  showProgress(body);
  for (;;) {
    await wait(retryAfterMs(res));
    if (job.cancelled) return null;
    res = await api(job.url, { cache: 'no-store', signal: job.abort.signal });
    if (res.status !== 202) return res;
    showProgress(await res.json().catch(() => null));
  }
}

/** How long the page waits for an answer before giving up on it. */
const ANSWER_DEADLINE_MS = 10 * 60_000;

async function generate() {
  clearErrors();
  setBusy(true, 'generating…');
  job = { abort: new AbortController(), cancelled: false, url: null };
  $('cancel').hidden = false;
  const deadline = setTimeout(() => job?.abort.abort(new Error(`no answer within ${ANSWER_DEADLINE_MS / 60_000} minutes`)), ANSWER_DEADLINE_MS);
  try {
    let res = await api('/generate', {
      signal: job.abort.signal,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'model/gltf+json' },
      body: JSON.stringify(buildRequest()),
    });
    if (res.status === 202) res = await pollJob(res);
    if (!res) { setBusy(false, 'cancelled'); return; }
    const text = await res.text();
    if (res.status === 401) $('access').hidden = false;
    if (!res.ok) { setBusy(false); showFailure(res.status, text); return; }
    loadAnswer(text);
    setBusy(false);
  } catch (e) {
    if (job?.cancelled) { setBusy(false, 'cancelled'); return; }
    setBusy(false);
    const why = job?.abort.signal.reason?.message ?? e.message ?? e;
    state.lastError = { status: 0, code: null, message: String(why) };
    showError(`request failed: ${why}`);
  } finally {
    clearTimeout(deadline);
    job = null;
  }
}

function loadAnswer(text) {
  const doc = JSON.parse(text);
  const ext = doc.extensions?.MMCP_motion ?? {};
  clip = { doc, text, bin: bufferOf(doc), fps: ext.fps ?? model.fps, model: ext.model ?? model.id };
  const names = doc.animations.map((a, i) => a.name ?? `sample_${i}`);
  $('sample').replaceChildren(...names.map((n, i) => option(String(i), n)));
  $('sample').hidden = names.length < 2;
  state.samples = names.length;
  state.frame = 0;
  selectSample(0);
  frameClip(pose);
  for (const id of ['play', 'scrub', 'download-gltf', 'download-glb']) $(id).disabled = false;
  const notes = (ext.notes ?? []).map((n) => `${n.severity ?? 'note'}: ${n.message ?? n.code}`);
  const traj = ext.samples?.[0]?.trajectory;
  $('clip-info').textContent = [`${clip.model} · ${names.length} sample(s) · ${pose.frames} frames at ${clip.fps} fps`, traj && `trajectory: ${traj.model}`, ...notes].filter(Boolean).join(' · ');
  state.clips += 1;
  setPlaying(true);
}

function selectSample(b) {
  state.sample = b;
  $('sample').value = String(b);
  showPose(samplePose(clip.doc, clip.bin, b, clip.fps));
}

// -------------------------------------------------------------- downloads

function download(name, blob) {
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

/** A GLB 2 container: the JSON (buffer 0 without its uri) and buffer 0 as the BIN chunk. */
function packGlb(doc, bin) {
  const json = structuredClone(doc);
  json.buffers[0] = { byteLength: bin.byteLength };
  const jsonBytes = new TextEncoder().encode(JSON.stringify(json));
  const pad4 = (n) => (n + 3) & ~3;
  const jsonLen = pad4(jsonBytes.length), binLen = pad4(bin.byteLength);
  const total = 12 + 8 + jsonLen + 8 + binLen;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x46546c67, true); // "glTF"
  dv.setUint32(4, 2, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, jsonLen, true);
  dv.setUint32(16, 0x4e4f534a, true); // "JSON"
  out.fill(0x20, 20, 20 + jsonLen); // the JSON chunk is padded with spaces
  out.set(jsonBytes, 20);
  dv.setUint32(20 + jsonLen, binLen, true);
  dv.setUint32(24 + jsonLen, 0x004e4942, true); // "BIN\0", zero padded
  out.set(bin, 28 + jsonLen);
  return out;
}

// ------------------------------------------------------------------ wiring

$('add-segment').onclick = () => addSegment('text', '', 2);
$('model').onchange = () => selectModel($('model').value);
$('generate').onclick = generate;
$('cancel').onclick = () => {
  if (!job) return;
  job.cancelled = true;
  job.abort.abort();
  // An async job is deleted on the server; a synchronous one runs to its end there.
  if (job.url) api(job.url, { method: 'DELETE' }).catch(() => {});
};
$('draw-path').onclick = () => setMode('path');
$('place-target').onclick = () => setMode('target');
$('clear-path').onclick = clearPath;
$('clear-targets').onclick = () => { targets.length = 0; drawTargets(); };
$('play').onclick = () => setPlaying(!state.playing);
$('scrub').oninput = () => {
  setFrame(Number($('scrub').value));
  playTime = state.frame / (clip?.fps ?? 30);
};
$('sample').onchange = () => selectSample(Number($('sample').value));
$('download-gltf').onclick = () => download(`${clip.model}.gltf`, new Blob([clip.text], { type: 'model/gltf+json' }));
$('download-glb').onclick = () => download(`${clip.model}.glb`, new Blob([packGlb(clip.doc, clip.bin)], { type: 'model/gltf-binary' }));

// Test hooks: the same effects as clicking the ground, without pixel aiming.
window.viewerTest = {
  addPathPoint, clearPath, addTarget, setMode,
  /** World joint positions [[x, y, z], ...] of the shown sample at frame f. */
  jointPositions: (f = state.frame) => pose.parents.map((_, j) => Array.from(pose.positions.slice((f * pose.parents.length + j) * 3, (f * pose.parents.length + j) * 3 + 3))),
};

/**
 * fetch with this tab's access token, when one was given: a server run with
 * --auth-tokens serves this page to anyone but answers its API only with a
 * bearer token. The token stays in the tab (sessionStorage), never in a URL.
 */
function api(url, init = {}) {
  const token = sessionStorage.getItem('mmcp-token');
  if (!token) return fetch(url, init);
  return fetch(url, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } });
}

$('token').onchange = () => {
  sessionStorage.setItem('mmcp-token', $('token').value.trim());
  clearErrors();
  start();
};

let started = false;

async function start() {
  try {
    const res = await api('/capabilities', { cache: 'no-store' });
    const text = await res.text();
    if (res.status === 401) $('access').hidden = false;
    if (!res.ok) { showFailure(res.status, text); return; }
    caps = JSON.parse(text);
    if (!caps.models?.length) { showError('this server hosts no models'); return; }
    $('model').replaceChildren(...caps.models.map((m) => option(m.id)));
    selectModel(caps.models[0].id);
    drawPath();
    // start() runs again when a token is entered: one render loop only.
    if (!started) { started = true; requestAnimationFrame(tick); }
  } catch (e) {
    state.lastError = { status: 0, code: null, message: String(e.message ?? e) };
    showError(`cannot read /capabilities: ${e.message ?? e}`);
  }
}
start();

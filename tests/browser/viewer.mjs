// Headless-browser test of the viewer page served at BASE_URL/.
//
//   node tests/browser/viewer.mjs BASE_URL ARTEFACT_DIR
//
// With VIEWER_TOKEN set, the server is expected to require that bearer token
// (--auth-tokens): the page must ask for it, then work with it.
//
// Drives the system chromium (/usr/bin/chromium, or $CHROMIUM) through
// playwright-core, prints one "ok" line per check and exits non-zero with a
// message at the first failure. Screenshots (PNG) and the downloaded files are
// written to ARTEFACT_DIR. The whole run is bounded by 90 s.
import { chromium } from 'playwright-core';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const [baseArg, artefacts] = process.argv.slice(2);
if (!baseArg || !artefacts) {
  console.error('usage: node viewer.mjs BASE_URL ARTEFACT_DIR');
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
const token = process.env.VIEWER_TOKEN || null;
const started = Date.now();
const STEP_MS = 20_000;
let page = null, context = null, userDir = null;

async function cleanup() {
  await context?.close().catch(() => {});
  if (userDir) await rm(userDir, { recursive: true, force: true }).catch(() => {});
}

let failing = false;
async function fail(msg) {
  if (failing) return;
  failing = true;
  console.error(`FAIL: ${msg}`);
  if (problems.length) console.error(`browser errors so far:\n  ${problems.join('\n  ')}`);
  if (page) await page.screenshot({ path: path.join(artefacts, 'failure.png'), timeout: 5_000 }).catch(() => {});
  if (page) {
    const s = await page.evaluate(() => JSON.stringify(window.viewerState), null).catch(() => null);
    if (s) console.error(`viewerState: ${s}`);
  }
  await cleanup();
  process.exit(1);
}

const overall = setTimeout(() => fail('the whole test took more than 90 s'), 90_000);
const ok = (msg) => console.log(`ok ${msg} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
class Failure extends Error {}
const check = (cond, msg) => { if (!cond) throw new Failure(msg); };

// Console errors and page errors fail the test, except the one that Chromium
// logs for an HTTP error status while a refusal is expected.
const problems = [];
let refusalExpected = false;
let tokenAsked = false;
function watch(p) {
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url ?? '';
    if (refusalExpected && m.text().startsWith('Failed to load resource') && url.endsWith('/generate')) return;
    if (tokenAsked && m.text().startsWith('Failed to load resource') && url.endsWith('/capabilities')) return;
    problems.push(`console error: ${m.text()} ${url}`);
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}
const noProblems = (when) => check(problems.length === 0, `${when}: ${problems.join('; ')}`);

const state = () => page.evaluate(() => window.viewerState);
const waitState = (fn, arg, what) =>
  page.waitForFunction(fn, arg, { timeout: STEP_MS }).catch((e) => { throw new Failure(`${what}: ${e.message.split('\n')[0]}`); });
const shot = (name) => page.screenshot({ path: path.join(artefacts, `${name}.png`) });
const canvasShot = async (name) => {
  const png = await page.locator('#view').screenshot();
  await writeFile(path.join(artefacts, `${name}.png`), png);
  return png;
};

async function main() {
  await mkdir(artefacts, { recursive: true });
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const capsRes = await fetch(`${base}/capabilities`, { headers: auth, signal: AbortSignal.timeout(STEP_MS) });
  check(capsRes.ok, `GET /capabilities answered ${capsRes.status}`);
  const caps = await capsRes.json();
  const ids = caps.models.map((m) => m.id);
  const first = caps.models[0];

  userDir = await mkdtemp(path.join(os.tmpdir(), 'viewer-chromium-'));
  context = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--enable-unsafe-swiftshader'],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    timeout: STEP_MS,
  });
  context.setDefaultTimeout(STEP_MS);
  page = context.pages()[0] ?? (await context.newPage());
  watch(page);

  // 1. The page loads, WebGL works, no console errors.
  const res = await page.goto(`${base}/`, { waitUntil: 'load' });
  check(res?.ok(), `GET / answered ${res?.status()}`);
  if (token) {
    // The page is public; its API answers 401 until the token is given.
    tokenAsked = true;
    await waitState(() => window.viewerState?.lastError?.status === 401, null, 'the page did not meet the 401');
    check(await page.isVisible('#token'), 'the page does not ask for a token after a 401');
    await shot('00-token-asked');
    await page.fill('#token', token);
    await page.dispatchEvent('#token', 'change');
    await waitState(() => window.viewerState?.ready, null, 'the viewer never became ready with the token');
    tokenAsked = false;
    ok('the page asks for a token after a 401 and works with it');
  }
  await waitState(() => window.viewerState?.ready || window.viewerState?.lastError, null, 'the viewer never became ready');
  const s0 = await state();
  check(s0.ready, `the viewer reports an error on load: ${JSON.stringify(s0.lastError)}`);
  const gl = await page.evaluate(() => !!document.getElementById('view').getContext('webgl2'));
  check(gl, 'the canvas has no WebGL2 context');
  await shot('01-loaded');
  noProblems('loading the page');
  ok('page loads with WebGL and no console errors');

  // 2. The model list is the server's.
  const listed = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  check(JSON.stringify(listed) === JSON.stringify(ids), `model list ${JSON.stringify(listed)} != /capabilities ${JSON.stringify(ids)}`);
  check((await page.inputValue('#model')) === first.id, `the default model is not ${first.id}`);
  ok(`model list matches /capabilities: ${ids.join(', ')}`);

  // 3. Generate with the default model and a drawn path: one point by
  // clicking the ground in draw mode, two through the test hook.
  check(first.supported_constraints.includes('root_path'), `${first.id} does not advertise root_path`);
  await page.click('#draw-path');
  const box = await page.locator('#view').boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height * 0.7);
  await waitState(() => window.viewerState.pathPoints === 1, null, 'clicking the ground in draw mode added no path point');
  await page.click('#draw-path');
  await page.evaluate(() => { window.viewerTest.addPathPoint(1.5, 0.3); window.viewerTest.addPathPoint(2.5, 1.8); });
  await waitState(() => window.viewerState.pathPoints === 3, null, 'the path does not have 3 points');
  const effector = first.supported_constraints.includes('effector_target');
  const names = first.canonical_skeleton.joints.map((j) => j.name);
  const hand = names.find((n) => /righthand/i.test(n)) ?? names.find((n) => /hand/i.test(n)) ?? names.at(-1);
  if (effector) await page.evaluate((j) => window.viewerTest.addTarget(j, 1.5, 1.3, 1.0, 1.5), hand);
  const samples = (await page.isVisible('#num-samples')) ? 2 : 1;
  if (samples > 1) await page.fill('#num-samples', '2');
  await page.fill('#segments .prompt', 'walk forward');
  await page.fill('#segments .duration', '3');
  await shot('02-path');
  const [genRes] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/generate') && r.request().method() === 'POST'),
    page.click('#generate'),
  ]);
  const sent = genRes.request().postDataJSON();
  const kinds = (sent.constraints ?? []).map((c) => c.type);
  check(kinds.includes('root_path'), `the request carries no root_path: ${JSON.stringify(sent.constraints)}`);
  const rp = sent.constraints.find((c) => c.type === 'root_path');
  check(rp.positions_xz.length === 3, `root_path has ${rp.positions_xz.length} points, not 3`);
  check(!effector || kinds.includes('effector_target'), 'the effector target was not sent');
  check([200, 202].includes(genRes.status()), `POST /generate answered ${genRes.status()}: ${await genRes.text().catch(() => '')}`);
  await waitState(() => window.viewerState.clips === 1 || window.viewerState.lastError, null, 'no clip was loaded');
  const s1 = await state();
  check(s1.clips === 1, `generate failed: ${JSON.stringify(s1.lastError)}`);
  const expectedFrames = Math.round(3 * first.fps);
  check(s1.frames === expectedFrames, `the clip has ${s1.frames} frames, expected ${expectedFrames} (3 s at ${first.fps} fps)`);
  check(s1.samples === samples, `the clip has ${s1.samples} samples, expected ${samples}`);
  await shot('03-generated');
  noProblems('generating');
  ok(`generated ${s1.frames} frames x ${s1.samples} sample(s) with ${first.id}, root_path of 3 points${effector ? ' and an effector target' : ''}`);

  // 4. Playback changes the picture.
  await waitState(() => window.viewerState.playing, null, 'the clip does not play');
  const a = await page.evaluate(() => window.viewerState.renderedFrame);
  const shotA = await canvasShot('04a-playing');
  await waitState((f0) => {
    const s = window.viewerState;
    return ((s.renderedFrame - f0 + s.frames) % s.frames) >= 10;
  }, a, 'playback does not advance');
  const shotB = await canvasShot('04b-playing');
  check(!shotA.equals(shotB), 'the canvas did not change between two moments of playback');
  ok('canvas changes during playback');

  // 5. Paused, the scrubber moves the skeleton.
  await page.click('#play');
  await waitState(() => !window.viewerState.playing, null, 'pause did not stop playback');
  await page.focus('#scrub');
  await page.keyboard.press('Home');
  await waitState(() => window.viewerState.frame === 0 && window.viewerState.renderedFrame === 0, null, 'Home on the scrubber did not show frame 0');
  const scrubA = await canvasShot('05a-scrub-first');
  await page.keyboard.press('End');
  await waitState(() => { const s = window.viewerState; return s.frame === s.frames - 1 && s.renderedFrame === s.frame; }, null, 'End on the scrubber did not show the last frame');
  const scrubB = await canvasShot('05b-scrub-last');
  check(!scrubA.equals(scrubB), 'the canvas is the same at the first and the last frame');
  check(!(await state()).playing, 'scrubbing restarted playback');
  ok('scrubber moves the skeleton while paused');

  if (samples > 1) {
    await page.selectOption('#sample', '1');
    await waitState(() => window.viewerState.sample === 1, null, 'the sample switcher did not switch');
    ok('sample switcher selects sample_1');
  }

  // 6. Downloads: a valid GLB 2 container, and the glTF JSON as received.
  const [glbDl] = await Promise.all([page.waitForEvent('download'), page.click('#download-glb')]);
  const glb = await readFile(await glbDl.path());
  await writeFile(path.join(artefacts, 'clip.glb'), glb);
  check(glb.length >= 28, `the GLB is ${glb.length} bytes`);
  check(glb.toString('latin1', 0, 4) === 'glTF', 'the GLB does not start with "glTF"');
  check(glb.readUInt32LE(4) === 2, `GLB version ${glb.readUInt32LE(4)}, not 2`);
  check(glb.readUInt32LE(8) === glb.length, `GLB header length ${glb.readUInt32LE(8)} != file size ${glb.length}`);
  const jsonLen = glb.readUInt32LE(12);
  check(glb.readUInt32LE(16) === 0x4e4f534a && jsonLen % 4 === 0, 'the first GLB chunk is not an aligned JSON chunk');
  const glbJson = JSON.parse(glb.toString('utf8', 20, 20 + jsonLen));
  check(glbJson.asset?.version === '2.0' && glbJson.animations?.length === samples, 'the GLB JSON has no asset 2.0 or the wrong animations');
  const binLen = glb.readUInt32LE(20 + jsonLen);
  check(glb.readUInt32LE(24 + jsonLen) === 0x004e4942, 'the second GLB chunk is not BIN');
  check(glbJson.buffers[0].uri === undefined && binLen >= glbJson.buffers[0].byteLength && binLen % 4 === 0, 'buffer 0 does not match the BIN chunk');
  check(28 + jsonLen + binLen === glb.length, 'the GLB chunks do not fill the file');
  const lastView = glbJson.bufferViews.at(-1);
  check(lastView.byteOffset + lastView.byteLength <= binLen, 'a buffer view runs past the BIN chunk');
  ok(`GLB download is a valid glTF 2 container (${glb.length} bytes, ${glbJson.animations.length} animation(s))`);

  const [gltfDl] = await Promise.all([page.waitForEvent('download'), page.click('#download-gltf')]);
  const gltfText = await readFile(await gltfDl.path(), 'utf8');
  await writeFile(path.join(artefacts, 'clip.gltf'), gltfText);
  const gltf = JSON.parse(gltfText);
  check(gltf.asset?.version === '2.0', `glTF asset.version is ${gltf.asset?.version}`);
  check(gltf.animations?.length === samples && gltf.extensions?.MMCP_motion, 'the glTF lacks its animations or MMCP_motion');
  ok('glTF download parses with asset.version 2.0');

  // 7. A refused request (an empty prompt) shows the server's message.
  refusalExpected = true;
  await page.fill('#segments .prompt', '');
  const [badRes] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/generate') && r.request().method() === 'POST'),
    page.click('#generate'),
  ]);
  check(badRes.status() >= 400 && badRes.status() < 500, `an empty prompt answered ${badRes.status()}`);
  const env = (await badRes.json()).error;
  await waitState(() => !document.getElementById('error').hidden, null, 'no error is shown');
  const shown = await page.textContent('#error');
  check(shown.includes(env.message) && shown.includes(env.code), `the page shows "${shown}", not the server's "${env.code}: ${env.message}"`);
  // MMCP's 422 names the field (details.errors[].loc): the page shows it there.
  const fieldMsg = env.details?.errors?.[0]?.msg;
  check(fieldMsg, `the 422 names no field: ${JSON.stringify(env.details)}`);
  const at = await page.textContent('.field-error[data-loc="segments[0].prompt"]', { timeout: 2_000 }).catch(() => null);
  check(at === fieldMsg, `the prompt field shows ${JSON.stringify(at)}, not the server's ${JSON.stringify(fieldMsg)}`);
  await shot('06-refused');
  refusalExpected = false;
  ok(`refused request shows ${badRes.status()} ${env.code}: ${env.message}${fieldMsg ? ` and "${fieldMsg}" at the prompt` : ''}`);

  // 8. An async job's progress (decisions D13) drives the progress bar. The
  // answers are mocked in the browser, so this runs against any server.
  let polls = 0;
  const clipsBefore = (await state()).clips;
  await page.route('**/generate', (route) => (route.request().method() !== 'POST' ? route.continue() : route.fulfill({
    status: 202,
    headers: { Location: '/viewer-test/job', 'Retry-After': '0' },
    contentType: 'application/json',
    body: JSON.stringify({ job_id: 'viewer-test', status: 'running', submitted_at: new Date().toISOString() }),
  })));
  await page.route('**/viewer-test/job', (route) => {
    polls += 1;
    if (polls < 3) {
      return route.fulfill({ status: 202, headers: { 'Retry-After': '0' }, contentType: 'application/json',
        body: JSON.stringify({ job_id: 'viewer-test', status: 'running', progress: { done: polls, total: 4 } }) });
    }
    return route.fulfill({ status: 200, contentType: 'model/gltf+json', body: gltfText });
  });
  await page.fill('#segments .prompt', 'walk forward');
  await page.click('#generate');
  await waitState(() => { const p = document.getElementById('progress'); return !p.hidden && p.value > 0; }, null, 'no progress bar while the job runs');
  await shot('07-progress');
  await waitState((n) => window.viewerState.clips === n + 1 || window.viewerState.lastError, clipsBefore, 'the mocked job never finished');
  const s8 = await state();
  check(s8.clips === clipsBefore + 1, `the mocked job failed: ${JSON.stringify(s8.lastError)}`);
  check(polls === 3 && (await page.isHidden('#progress')), `polled ${polls} times, progress bar still shown`);
  await page.unrouteAll();
  ok('async job: progress bar from the 202 progress object, then the clip');

  // 9. Optionally, a model that answers with async jobs is polled to the end.
  const asyncModel = caps.models.find((m) => m.supports_async);
  if (asyncModel) {
    const before = (await state()).clips;
    await page.selectOption('#model', asyncModel.id);
    // Our test model reports progress for `steps N MS`: the real bar moves.
    const probe = asyncModel.id === 'async-probe';
    await page.fill('#segments .prompt', probe ? 'steps 6 400' : 'stand');
    await page.fill('#segments .duration', '1');
    await page.click('#clear-path');
    const [r] = await Promise.all([
      page.waitForResponse((x) => x.url().endsWith('/generate') && x.request().method() === 'POST'),
      page.click('#generate'),
    ]);
    if (probe) {
      await waitState(() => { const p = document.getElementById('progress'); return !p.hidden && p.value > 0; }, null, 'the real job\'s progress never showed');
      await shot('08-job-progress');
    }
    await waitState((n) => window.viewerState.clips === n + 1 || window.viewerState.lastError, before, 'the async job never finished');
    const s = await state();
    check(s.clips === before + 1, `the async job failed: ${JSON.stringify(s.lastError)}`);
    ok(`async model ${asyncModel.id} answered ${r.status()} and its job was polled to a clip${probe ? ', its progress on the bar' : ''}`);
  }

  noProblems('the whole run');
  ok('no console errors during the run');
  clearTimeout(overall);
  await cleanup();
  console.log(`all viewer checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e) => fail(e instanceof Failure ? e.message : e.stack ?? String(e)));

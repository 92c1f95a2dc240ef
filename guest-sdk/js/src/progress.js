// Progress reports (wit/progress.wit): how far the generation under way has
// got. Async jobs' polls carry the latest report, and `motionmcp-host
// generate` draws it as a progress bar.
import { report } from "mmcp:backbone/progress@0.1.0";

const U32_MAX = 0xffffffff;

function u32(x) {
  const n = Math.trunc(Number(x));
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), U32_MAX) : 0;
}

/**
 * Reports that `done` of `total` steps are finished (a denoiser: once per
 * step). A `total` of 0 is ignored; outside `generate` reports go nowhere.
 */
export function reportProgress(done, total) {
  report(u32(done), u32(total));
}

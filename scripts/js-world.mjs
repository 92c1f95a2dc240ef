// Prints the WIT world a JavaScript backbone is built for (run by
// scripts/componentize.sh, with the parser of the pinned componentize-js):
//   node scripts/js-world.mjs DIR/backbone.js
//
// componentize-js binds every import of the world it is given, used or not,
// and a module importing an interface the world lacks does not build, so
// the world follows from the source:
//   - GPU: the module graph (static imports, re-exports and literal dynamic
//     imports, followed through relative paths) imports the host's `tensor`
//     or `weights` interface; the SDK's `gpu.js` entry does, `index.js`
//     does not;
//   - batch: backbone.js exports `batch` (the SDK's `exportBatch`).
// GPU and batch: sdk-backbone-world; GPU: gpu-backbone-world; batch:
// batch-backbone-world; neither: backbone-world.

import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

// The parser componentize-js itself reads a module's exports with.
const { default: oxc } = await import(new URL("../.tools/node/node_modules/oxc-parser/index.js", import.meta.url));

const GPU_INTERFACES = /^mmcp:backbone\/(tensor|weights)@/;

function parse(file) {
  const source = readFileSync(file, "utf8");
  const { module, errors } = oxc.parseSync(file, source);
  if (errors.length > 0) {
    throw new Error(`${file}: ${errors.map((e) => e.message).join("; ")}`);
  }
  const specifiers = [
    ...module.staticImports.map((i) => i.moduleRequest.value),
    ...module.staticExports.flatMap((e) => e.entries.map((entry) => entry.moduleRequest?.value)),
    // `import("./x.js")`; a computed name cannot be followed.
    ...module.dynamicImports.map(({ moduleRequest: { start, end } }) => {
      const text = source.slice(start, end);
      return /^(["']).*\1$/s.test(text) ? text.slice(1, -1) : undefined;
    }),
  ].filter((s) => s !== undefined);
  const exports = module.staticExports.flatMap((e) => e.entries.map((entry) => entry.exportName.name));
  return { specifiers, exports };
}

/** Whether the module graph from `entry` reaches a GPU interface. */
function usesGpu(entry) {
  const seen = new Set();
  const pending = [resolve(entry)];
  while (pending.length > 0) {
    const file = pending.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of parse(file).specifiers) {
      if (GPU_INTERFACES.test(specifier)) return true;
      if (specifier.startsWith("./") || specifier.startsWith("../")) {
        const target = resolve(dirname(file), specifier);
        if (existsSync(target)) pending.push(target);
      }
    }
  }
  return false;
}

const entry = process.argv[2];
const batch = parse(entry).exports.includes("batch");
const gpu = usesGpu(entry);
console.log(
  gpu ? (batch ? "sdk-backbone-world" : "gpu-backbone-world") : batch ? "batch-backbone-world" : "backbone-world",
);

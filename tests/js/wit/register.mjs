// Imported first by a test file: installs hooks.mjs, so the SDK's imports of
// the host's interfaces resolve (import the SDK dynamically after this).
import { register } from "node:module";

register("./hooks.mjs", import.meta.url);

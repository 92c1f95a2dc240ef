// Tensor lifetimes. A tensor's GPU memory is freed when its WIT handle is
// dropped, and JavaScript has no destructors: the garbage collector may
// never run during a request (and componentize-js's bindings stop tracking a
// handle for finalization once it has been passed to a method), so relying
// on it would let every request leak its intermediates until the model's
// GPU quota runs out. Instead tensors are counted in scopes:
//
// - every call into the backbone that serves requests (`generate`,
//   `generateBatch`) runs in a scope, so a tensor made during a request is
//   freed when the request ends, like a Rust temporary;
// - `Tensor.tidy(fn)` is a scope of its own (one sampling step, say): what
//   `fn` made is freed when it returns, except the tensors it returns;
// - `keep()` takes a tensor out of its scope (a cache held across
//   requests), `dispose()` frees one at once;
// - a tensor made outside any scope (at load, in `setup`: the weights)
//   lives until `dispose()`.
//
// This module imports nothing from the host: the export adapter opens the
// request scope in every component, and it costs nothing without tensors.

const scopes = [];
// The scope an object is counted in (null: none).
const SCOPE = Symbol("scope");

/** Counts `owned` (which has `dispose()`) in the innermost scope, if any. */
export function track(owned) {
  const scope = scopes.length === 0 ? null : scopes[scopes.length - 1];
  owned[SCOPE] = scope;
  scope?.add(owned);
}

/** Takes `owned` out of its scope: it lives until disposed. */
export function untrack(owned) {
  owned[SCOPE]?.delete(owned);
  owned[SCOPE] = null;
}

// The tracked objects reachable from `value` through arrays and plain
// objects (what `tidy` hands on to the enclosing scope).
function reachable(value, scope, found, seen = new Set()) {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (scope.has(value)) {
    found.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) reachable(v, scope, found, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) reachable(v, scope, found, seen);
  }
}

/**
 * Runs `fn` in a new scope and frees everything tracked in it when `fn`
 * returns or throws, except the objects its result holds (itself, or in
 * arrays and plain objects, at any depth): those move to the enclosing
 * scope, or out of scopes altogether at the top.
 */
export function tidy(fn) {
  const scope = new Set();
  scopes.push(scope);
  let result;
  const kept = [];
  try {
    result = fn();
    reachable(result, scope, kept);
  } finally {
    scopes.pop();
    const outer = scopes.length === 0 ? null : scopes[scopes.length - 1];
    for (const owned of kept) {
      scope.delete(owned);
      owned[SCOPE] = outer;
      outer?.add(owned);
    }
    for (const owned of scope) owned.dispose();
  }
  return result;
}

// Node.js module hooks for the SDK's unit tests: the host's WIT interfaces
// ("mmcp:backbone/<name>@0.1.0"), which exist only inside a component,
// resolve to the stand-ins in this directory.

export async function resolve(specifier, context, next) {
  const wit = /^mmcp:backbone\/([a-z-]+)@/.exec(specifier);
  if (wit !== null) {
    return { url: new URL(`./${wit[1]}.mjs`, import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}

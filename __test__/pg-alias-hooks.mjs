// ESM resolve hooks of __test__/pg-alias.ts: `import 'pg'` (and pg-cursor, pg-query-stream) from
// any module gets pgwarp's drop-in, as npm's `"pg": "npm:pgwarp-pg@..."` override gives it.
let targets = {};

export async function initialize(data) {
  targets = data;
}

export async function resolve(specifier, context, next) {
  const target = targets[specifier];
  return next(target === undefined ? specifier : target, context);
}

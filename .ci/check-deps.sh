#!/usr/bin/env bash
# The prebuilt engines must cross-compile for every platform and need nothing from the system
# at run time. So, on every target:
# - no aws-lc-rs/aws-lc-sys (they break cross-compiling musl, arm64 and Windows builds:
#   aws/aws-lc-rs #512, #736, #737): rustls uses the ring provider;
# - no OpenSSL and no native-tls, which link the system's TLS library;
# - no crate that links a native library (`links` in its manifest) except ring and
#   libmimalloc-sys, whose C (and ring's assembly) is compiled into the engine itself by `cc`
#   for each target: nothing is looked for on the system.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for crate in aws-lc-rs aws-lc-sys openssl openssl-sys native-tls; do
  out=$(cargo tree -i "$crate" --target all -e normal 2>&1)
  if ! grep -q "did not match any packages" <<<"$out"; then
    echo "$crate is in the engine's dependency tree:" >&2
    echo "$out" >&2
    status=1
  fi
done
links=$(cargo metadata --format-version 1 --locked 2>/dev/null | node -e '
  const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const pkgs = new Map(m.packages.map((p) => [p.id, p]));
  const nodes = new Map(m.resolve.nodes.map((n) => [n.id, n]));
  const seen = new Set();
  const todo = [m.packages.find((p) => p.name === "pgwarp-node").id];
  while (todo.length) {
    const id = todo.pop();
    if (seen.has(id)) continue;
    seen.add(id);
    for (const d of nodes.get(id).deps) if (d.dep_kinds.some((k) => k.kind === null)) todo.push(d.pkg);
  }
  for (const id of seen) { const p = pkgs.get(id); if (p.links && !["ring", "libmimalloc-sys"].includes(p.name)) console.log(p.name + " (links " + p.links + ")"); }
')
if [ -n "$links" ]; then
  echo "crates that link a native library are in the engine's dependency tree: $links" >&2
  status=1
fi
[ "$status" = 0 ] && echo "dependency check: no aws-lc, OpenSSL, native-tls or native library but ring and mimalloc, on any target"
exit "$status"

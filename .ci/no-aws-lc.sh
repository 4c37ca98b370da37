#!/usr/bin/env bash
# aws-lc-rs breaks cross-compiling the prebuilt binaries (musl, arm64, Windows: aws/aws-lc-rs
# #512, #736, #737), so rustls must use ring: fail if anything pulls aws-lc-rs in, on any target.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(cargo tree -i aws-lc-rs --target all 2>&1)
if grep -q "did not match any packages" <<<"$out"; then
  echo "dependency check: no aws-lc-rs on any target"
  exit 0
fi
echo "aws-lc-rs is in the dependency tree (rustls must use the ring provider only):" >&2
echo "$out" >&2
exit 1

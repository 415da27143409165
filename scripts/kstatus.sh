#!/usr/bin/env bash
# Builds tests/kstatus (the health of live objects as kustomize-controller v1.9.6 computes it:
# kstatus from the fluxcd/cli-utils version it pins, Flux's Job reader and its CEL health
# checks from fluxcd/pkg/runtime) when its sources changed, and prints the binary's path. The
# binary is kept beside the Rust target dir, under the hash of its sources, so a warm machine
# reuses it.
#
#   scripts/kstatus.sh                        # build or reuse; prints target/kstatus/<hash>/kstatus
#   "$(scripts/kstatus.sh)" < REQUEST.json    # health as Flux sees it (see tests/kstatus/main.go)
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/kstatus
hash=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)
root=${CARGO_TARGET_DIR:-$PWD/target}/kstatus
out=$root/$hash/kstatus
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "kstatus: no Go toolchain (go) on PATH; the health differential tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$root/$hash"
start=$(date +%s)
echo "kstatus: building $out (a cold build takes a few minutes)" >&2
(
  cd "$src"
  GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$out.tmp" .
)
mv "$out.tmp" "$out"
echo "kstatus: built in $(( $(date +%s) - start ))s" >&2
# Older builds are of sources that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
echo "$out"

#!/usr/bin/env bash
# Builds tests/artifactgen (source-watcher's own copy code, staging an ExternalArtifact's files)
# when its sources changed, and prints the binary's path. The binary is kept beside the Rust
# target dir, under the hash of its sources, so a warm machine reuses it.
#
#   scripts/artifactgen.sh                        # build or reuse; prints target/artifactgen/<hash>/artifactgen
#   "$(scripts/artifactgen.sh)" < REQUEST.json    # the staged files (see tests/artifactgen/main.go)
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/artifactgen
hash=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)
root=${CARGO_TARGET_DIR:-$PWD/target}/artifactgen
out=$root/$hash/artifactgen
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "artifactgen: no Go toolchain (go) on PATH; the ArtifactGenerator differential tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$root/$hash"
start=$(date +%s)
echo "artifactgen: building $out (a cold build takes a few minutes)" >&2
(
  cd "$src"
  GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$out.tmp" .
)
mv "$out.tmp" "$out"
echo "artifactgen: built in $(( $(date +%s) - start ))s" >&2
# Older builds are of sources that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
echo "$out"

#!/usr/bin/env bash
# Builds the sops CLI the decryption tests use as their oracle (getsops/sops at a pinned
# version, from its Go module) when it is not built yet, and prints the binary's path. The
# binary is kept beside the Rust target dir, under its version, so a warm machine reuses it;
# Go's module and build caches keep a rebuild short.
#
#   scripts/sops.sh                   # build or reuse; prints target/peers/sops-v3.13.3/sops
#   "$(scripts/sops.sh)" --decrypt F  # use it
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v3.13.3
root=${CARGO_TARGET_DIR:-$PWD/target}/peers
dir=$root/sops-$version
out=$dir/sops
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "sops: no Go toolchain (go) on PATH; the decryption tests need Go 1.26 and the Go module proxy to build sops $version" >&2
  exit 3
fi
mkdir -p "$dir"
start=$(date +%s)
echo "sops: building $out (a cold build takes several minutes)" >&2
tmp=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" \
  go install -trimpath -ldflags="-s -w" "github.com/getsops/sops/v3/cmd/sops@$version"
mv "$tmp/sops" "$out"
echo "sops: built in $(( $(date +%s) - start ))s" >&2
# Builds of other versions are of pins that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d -name 'sops-*' ! -name "sops-$version" -exec rm -rf {} +
echo "$out"

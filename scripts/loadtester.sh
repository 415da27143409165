#!/usr/bin/env bash
# Builds Flagger's load tester (flagger-loadtester) from Flagger's published Go module, for the
# differential tests that hold `fledge loadtester` to it (tests/it/loadtester.rs), and prints
# the binary's path. The binary is kept beside the Rust target dir under its pinned version, so
# a warm machine reuses it; Go's caches keep a rebuild short.
#
#   scripts/loadtester.sh     # build or reuse; prints target/peers/loadtester-v1.36.1/loadtester
#
# v1.36.1 is the Flagger version scripts/flagger.sh builds. Exit status 3: no Go toolchain on
# this machine; 1: the build failed (Go's error above).
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.36.1
dir=${CARGO_TARGET_DIR:-$PWD/target}/peers/loadtester-$version
out=$dir/loadtester
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "loadtester: no Go toolchain (go) on PATH; the load tester differential tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$dir"
start=$(date +%s)
echo "loadtester: building flagger-loadtester $version into $dir" >&2
if ! GOBIN=$dir/bin GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
  "github.com/fluxcd/flagger/cmd/loadtester@$version"; then
  echo "loadtester: flagger-loadtester $version did not build (the go command's error is above)" >&2
  rm -rf "$dir/bin"
  exit 1
fi
mv "$dir/bin/loadtester" "$out"
rm -rf "$dir/bin"
echo "loadtester: built in $(($(date +%s) - start))s" >&2
echo "$out"

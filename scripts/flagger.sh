#!/usr/bin/env bash
# Builds Flagger from its published Go module, for the differential tests that hold fledge's
# rollouts to what Flagger generates (tests/it/support/flagger.rs), and prints the binary's
# path. The binary is kept beside the Rust target dir under its pinned version, so a warm
# machine reuses it; Go's caches keep a rebuild short.
#
#   scripts/flagger.sh        # build or reuse; prints target/peers/flagger-v1.36.1/flagger
#
# v1.36.1 is the newest tag the module proxy serves. Exit status 3: no Go toolchain on this
# machine; 1: the build failed (Go's error above).
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.36.1
dir=${CARGO_TARGET_DIR:-$PWD/target}/peers/flagger-$version
out=$dir/flagger
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "flagger: no Go toolchain (go) on PATH; the Flagger differential tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$dir"
start=$(date +%s)
echo "flagger: building Flagger $version into $dir (a cold build takes about 3 minutes on 2 cores)" >&2
# The module root holds no main package; cmd/flagger is the controller.
if ! GOBIN=$dir/bin GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
  "github.com/fluxcd/flagger/cmd/flagger@$version"; then
  echo "flagger: Flagger $version did not build (the go command's error is above)" >&2
  rm -rf "$dir/bin"
  exit 1
fi
mv "$dir/bin/flagger" "$out"
rm -rf "$dir/bin"
echo "flagger: built in $(($(date +%s) - start))s" >&2
echo "$out"

#!/usr/bin/env bash
# Builds tests/signalflow (Splunk's own SignalFlow fake backend, from signalflow-client-go, the
# client Flagger's splunk provider uses, and that provider, vendored in tests/signalflow/providers)
# from its Go module when its sources changed, and prints
# the binary's path. Only the Go module proxy is needed. The binary is kept beside the Rust target
# dir, under the hash of its sources, so a warm machine reuses it.
#
#   scripts/signalflow.sh                  # build or reuse; prints target/signalflow/<hash>/signalflow
#   "$(scripts/signalflow.sh)" CONFIG.json # serve one program (see tests/signalflow/main.go)
#   "$(scripts/signalflow.sh)" --flagger CONFIG.json # Flagger's provider querying it
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/signalflow
# Every file under the module, by name and content.
hash=$(find "$src" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
root=${CARGO_TARGET_DIR:-$PWD/target}/signalflow
out=$root/$hash/signalflow
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "signalflow: no Go toolchain (go) on PATH; the SignalFlow tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$root/$hash"
start=$(date +%s)
echo "signalflow: building $out (a cold build takes a minute)" >&2
(
  cd "$src"
  GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$out.tmp" .
)
mv "$out.tmp" "$out"
echo "signalflow: built in $(( $(date +%s) - start ))s" >&2
# Older builds are of sources that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
echo "$out"

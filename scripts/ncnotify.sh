#!/usr/bin/env bash
# Builds tests/ncnotify (one event sent through notification-controller v1.7.5's own notifier,
# vendored unmodified in tests/ncnotify/notifier, since its `internal/notifier` can only be
# imported from within its module and the Go module proxy does not serve that module) from its
# Go module when its sources changed, and prints the binary's path. Only the Go module proxy is
# needed. The binary is kept beside the Rust target dir, under the hash of its sources, so a
# warm machine reuses it.
#
#   scripts/ncnotify.sh                      # build or reuse; prints target/ncnotify/<hash>/ncnotify
#   "$(scripts/ncnotify.sh)" REQUEST.json    # send one event (see tests/ncnotify/main.go)
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/ncnotify
# Every file under the module, by name and content.
hash=$(find "$src" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
root=${CARGO_TARGET_DIR:-$PWD/target}/ncnotify
out=$root/$hash/ncnotify
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "ncnotify: no Go toolchain (go) on PATH; the notification differential tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$root/$hash"
start=$(date +%s)
echo "ncnotify: building $out (a cold build takes several minutes)" >&2
(
  cd "$src"
  GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$out.tmp" .
)
mv "$out.tmp" "$out"
echo "ncnotify: built in $(( $(date +%s) - start ))s" >&2
# Older builds are of sources that changed since (and src-* is the tree earlier versions of
# this script cloned).
find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
echo "$out"

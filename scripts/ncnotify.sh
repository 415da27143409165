#!/usr/bin/env bash
# Builds tests/ncnotify (one event sent through notification-controller's own notifier) inside
# notification-controller v1.7.5's source tree, since `internal/notifier` can only be imported
# from within its module, and prints the binary's path. The Go module proxy does not serve
# v1.7.x, so the tree comes from FLEDGE_NC_SRC (a checkout of tag v1.7.5) or a shallow clone.
# The binary is kept beside the Rust target dir, under the hash of its sources.
#
#   scripts/ncnotify.sh                      # build or reuse; prints target/ncnotify/<hash>/ncnotify
#   "$(scripts/ncnotify.sh)" REQUEST.json    # send one event (see tests/ncnotify/main.go)
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.7.5
hash=$( (echo "$version"; cat tests/ncnotify/main.go) | sha256sum | cut -c1-16)
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
src=$root/src-$version
mkdir -p "$root"
if [ ! -d "$src" ]; then
  rm -rf "$src.tmp"
  if [ -n "${FLEDGE_NC_SRC:-}" ]; then
    cp -r "$FLEDGE_NC_SRC" "$src.tmp"
  else
    git clone --quiet --depth 1 --branch "$version" https://github.com/fluxcd/notification-controller.git "$src.tmp"
  fi
  mv "$src.tmp" "$src"
fi
mkdir -p "$src/cmd/ncnotify" "$root/$hash"
cp tests/ncnotify/main.go "$src/cmd/ncnotify/main.go"
start=$(date +%s)
echo "ncnotify: building $out (a cold build takes several minutes)" >&2
(
  cd "$src"
  GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$out.tmp" ./cmd/ncnotify
)
mv "$out.tmp" "$out"
echo "ncnotify: built in $(( $(date +%s) - start ))s" >&2
find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" ! -name "src-*" -exec rm -rf {} +
echo "$out"

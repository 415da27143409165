#!/usr/bin/env bash
# Builds Flux's controllers from their published Go modules, for the differential tests that
# hold fledge's sync to what Flux applies (tests/it/support/flux.rs), and prints each binary's
# path, one a line, in the order asked. A binary is kept beside the Rust target dir under its
# name and pinned version, so a warm machine reuses it; Go's caches keep a rebuild short.
#
#   scripts/fluxpeers.sh                      # kustomize-controller, source-controller,
#                                             # image-reflector-controller,
#                                             # image-automation-controller (the tests')
#   scripts/fluxpeers.sh source-controller    # any of them, in the order given
#
# `go install` refuses these modules (their go.mod has replace directives, one of them to
# ./api), so each is built the way its own repository builds it: the module's source is copied
# out of the module cache, its api module copied to ./api, and `go build .` run there.
#
# Exit status 3: no Go toolchain on this machine; 1: a build failed (Go's error above).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${CARGO_TARGET_DIR:-$PWD/target}/peers
# kustomize-controller v1.9.6's dependencies need a newer Go than the 1.26 the control plane
# builds with; the go command fetches this one from the module proxy (once, about 76 MB).
toolchain=go1.27.3
# The image controllers are built with the Go their releases are built with (1.26, their go.mod
# and Dockerfile). Built with go1.27.3, k8s.io/kube-openapi's spec.Schema.UnmarshalJSON drops a
# `$ref`, so that kyaml never resolves a `# {"$imagepolicy": "ns:name"}` marker and
# image-automation-controller's Setters strategy changes nothing (its own TestUpdateWithSetters
# fails); go1.26.8 is the Go of this machine's control plane build, fetched if another.
image_toolchain=go1.26.8

say() { echo "fluxpeers: $*" >&2; }

if [ $# -eq 0 ]; then
  set -- kustomize-controller source-controller image-reflector-controller image-automation-controller
fi
# The directory of a module in the module cache, downloading it when missing.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

# Builds `name` (a fluxcd controller at `version`) into $root/<name>-<version>/<name>.
# `patch` (a function name, or "") edits the copied module before the build; `go` is the
# toolchain (GOTOOLCHAIN), $toolchain unless given.
build() {
  local name=$1 version=$2 patch=$3 go=${4:-$toolchain}
  local dir=$root/$name-$version out
  out=$dir/$name
  if [ -x "$out" ]; then
    echo "$out"
    return 0
  fi
  if ! command -v go >/dev/null; then
    say "no Go toolchain (go) on PATH; the Flux differential tests need Go 1.26 and the Go module proxy"
    exit 3
  fi
  local start src api work
  start=$(date +%s)
  say "building $name $version into $dir (a cold build takes about 6 minutes on 2 cores)"
  src=$(module_dir "github.com/fluxcd/$name@$version")
  api=$(module_dir "github.com/fluxcd/$name/api@$version")
  if [ -z "$src" ] || [ -z "$api" ]; then
    say "the module proxy did not serve github.com/fluxcd/$name@$version or its api module"
    return 1
  fi
  mkdir -p "$dir"
  # A build directory of its own: two runs building the same controller at once (test.sh's and
  # a test binary's) must not delete each other's sources; the binary is renamed into place.
  local tmp
  tmp=$(mktemp -d "$dir/build.XXXXXX")
  work=$tmp/src
  cp -r "$src" "$work"
  chmod -R u+w "$work"
  rm -rf "$work/api"
  cp -r "$api" "$work/api"
  chmod -R u+w "$work/api"
  if [ -n "$patch" ]; then
    "$patch" "$work"
  fi
  if ! (cd "$work" && GOTOOLCHAIN=$go CGO_ENABLED=0 go build -mod=mod -trimpath \
    -buildvcs=false -ldflags="-s -w" -o "$tmp/$name" .); then
    say "$name $version did not build (the go command's error is above)"
    rm -rf "$tmp"
    return 1
  fi
  mv "$tmp/$name" "$out"
  rm -rf "$tmp"
  say "built $name $version in $(($(date +%s) - start))s"
  echo "$out"
}

# source-controller v1.9.6 requires github.com/fluxcd/pkg/artifact v0.18.3, which the module
# proxy does not serve; v0.18.0 is the newest that it does, and its API is the one
# source-controller uses.
artifact_v0_18_0() {
  (cd "$1" && go mod edit -replace github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0)
}

status=0
for name in "$@"; do
  case $name in
  kustomize-controller) build kustomize-controller v1.9.6 "" || status=1 ;;
  source-controller) build source-controller v1.9.6 artifact_v0_18_0 || status=1 ;;
  # Both require their api modules at their own version (v1.2.0), the automation controller
  # the reflector's api module too, which the module proxy serves.
  image-reflector-controller) build image-reflector-controller v1.2.0 "" "$image_toolchain" || status=1 ;;
  image-automation-controller) build image-automation-controller v1.2.0 "" "$image_toolchain" || status=1 ;;
  *)
    say "unknown peer '$name' (known: kustomize-controller source-controller image-reflector-controller image-automation-controller)"
    exit 64
    ;;
  esac
done
exit $status

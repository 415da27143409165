#!/usr/bin/env bash
# Builds the test control plane (tests/testcluster: etcd, kube-apiserver and
# kube-controller-manager from Go modules) when its sources changed, and prints the binary's
# path. The binary is kept beside the Rust target dir, under the hash of its sources, so a
# warm machine reuses it; Go's own caches keep a rebuild after a small change short.
#
#   scripts/testcluster.sh            # build or reuse; prints target/testcluster/<hash>/testcluster
#   "$(scripts/testcluster.sh)" DIR   # start a control plane; prints READY DIR/kubeconfig
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/testcluster
hash=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)
root=${CARGO_TARGET_DIR:-$PWD/target}/testcluster
out=$root/$hash/testcluster
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "testcluster: no Go toolchain (go) on PATH; the real-cluster tests need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
mkdir -p "$root/$hash"
start=$(date +%s)
echo "testcluster: building $out (a cold build takes several minutes)" >&2
# The version the components report (upstream's release builds stamp it the same way).
version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$src/go.mod" | head -1)
minor=$(echo "$version" | cut -d. -f2)
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
(
  cd "$src"
  GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -buildvcs=false \
    -ldflags="-s -w$stamp" -o "$out.tmp" .
)
mv "$out.tmp" "$out"
echo "testcluster: built in $(( $(date +%s) - start ))s" >&2
# Older builds are of sources that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
echo "$out"

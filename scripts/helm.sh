#!/usr/bin/env bash
# Builds fledge-helm, the Helm engine fledge renders HelmReleases with (engine/helm: a small
# Go program over helm.sh/helm/v4, spoken to over stdin and stdout), and the helm CLI at the
# same version, the oracle of the chart tests (`helm template`, `helm package`, `helm repo
# index`, `helm push`). Reuses what is built: the engine is kept under a hash of its sources,
# the CLI under its version, beside the Rust target dir. Prints two lines: the engine's path,
# then the CLI's.
#
#   scripts/helm.sh                  # build or reuse both
#   FLEDGE_HELM_ENGINE=$(scripts/helm.sh | head -1) fledge build --charts DIR
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v4.3.2
root=${CARGO_TARGET_DIR:-$PWD/target}/peers
hash=$(cat engine/helm/go.mod engine/helm/go.sum engine/helm/*.go | sha256sum | cut -c1-16)
engine=$root/fledge-helm-$hash/fledge-helm
cli=$root/helm-$version/helm
if [ -x "$engine" ] && [ -x "$cli" ]; then
  printf '%s\n%s\n' "$engine" "$cli"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "helm: no Go toolchain (go) on PATH; fledge-helm and helm $version need Go 1.26 and the Go module proxy" >&2
  exit 3
fi
start=$(date +%s)
mkdir -p "$(dirname "$engine")" "$(dirname "$cli")"
tmp=$(mktemp -d "$root/helm-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ ! -x "$engine" ]; then
  echo "helm: building $engine (a cold build takes a few minutes)" >&2
  (cd engine/helm && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/fledge-helm" .)
  mv "$tmp/fledge-helm" "$engine"
fi
if [ ! -x "$cli" ]; then
  echo "helm: building $cli" >&2
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" \
    go install -trimpath -ldflags="-s -w" "helm.sh/helm/v4/cmd/helm@$version"
  mv "$tmp/helm" "$cli"
fi
echo "helm: built in $(( $(date +%s) - start ))s" >&2
# Builds of other sources or versions are of pins that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d \( -name 'fledge-helm-*' ! -name "fledge-helm-$hash" -o -name 'helm-v*' ! -name "helm-$version" \) -exec rm -rf {} +
printf '%s\n%s\n' "$engine" "$cli"

#!/usr/bin/env bash
# Builds the cosign CLI (github.com/sigstore/cosign/v2/cmd/cosign) from its Go module, the
# signer of the signature-verification tests (`cosign generate-key-pair`, `cosign sign --key`)
# and so the oracle of what a signed OCI artifact looks like. Reuses what is built: the CLI is
# kept under its version beside the Rust target dir. Prints the binary's path.
#
#   scripts/cosign.sh                                  # build or reuse
#   COSIGN_PASSWORD= "$(scripts/cosign.sh)" generate-key-pair
#
# Exit status 3: no Go toolchain on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v2.6.5
root=${CARGO_TARGET_DIR:-$PWD/target}/peers
out=$root/cosign-$version/cosign
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "cosign: no Go toolchain (go) on PATH; cosign $version needs Go 1.26 and the Go module proxy" >&2
  exit 3
fi
start=$(date +%s)
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$root/cosign-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "cosign: building $out (a cold build takes several minutes)" >&2
GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$tmp" \
  go install -trimpath -ldflags="-s -w" "github.com/sigstore/cosign/v2/cmd/cosign@$version"
mv "$tmp/cosign" "$out"
echo "cosign: built in $(( $(date +%s) - start ))s" >&2
# Builds of other versions are of a pin that changed since.
find "$root" -mindepth 1 -maxdepth 1 -type d -name 'cosign-v*' ! -name "cosign-$version" -exec rm -rf {} +
echo "$out"

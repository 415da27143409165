#!/usr/bin/env bash
# Runs fledge's whole test suite: unit tests, the kustomize corpus, differential tests against
# `kubectl kustomize`, fuzzing and schema validation. Installs the Python test tools if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi
if ! command -v kubectl >/dev/null; then
  echo "test.sh: kubectl (which embeds kustomize) is needed for the differential tests" >&2
  exit 1
fi
exec cargo test --release --locked "$@"

#!/usr/bin/env bash
# Runs fledge's whole test suite: unit tests, the kustomize corpus, differential tests against
# `kubectl kustomize`, sops, Flux's build and Flux's controllers, fuzzing, schema validation,
# and the tests against a real Kubernetes API server (the control plane scripts/testcluster.sh
# builds from Go modules, or reuses; the other Go peers are built beside it).
# Installs the Python test tools if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi
# The real peers some tests run: sshd (Git over ssh), gpg, gpgv and ssh-keygen (commit
# verification), Prometheus (metrics), age (SOPS). Installed with apt when missing, as .ci/run does.
missing=()
for need in sshd:openssh-server ssh-keygen:openssh-client gpg:gnupg gpgv:gpgv prometheus:prometheus age-keygen:age; do
  command -v "${need%%:*}" >/dev/null || [ -x "/usr/sbin/${need%%:*}" ] || missing+=("${need##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "test.sh: installing ${missing[*]} with apt, for the tests that run them" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v kubectl >/dev/null; then
  echo "test.sh: kubectl (which embeds kustomize) is needed for the differential tests" >&2
  exit 1
fi
# The Go peers the tests run (sops, Flux's generator, health checks, notifier, SignalFlow's
# fake backend, Flagger's external metrics provider, artifact
# generator and controllers, `flux push artifact`'s push, cosign (the signer of the OCI
# signature tests), Flagger and its load tester, Helm's engine and CLI), built from their Go modules or
# reused (each script caches by version or source hash), in
# parallel with the control plane below. Where one cannot be built its tests skip, saying so,
# or fail under CI.
peers=$(mktemp -d)
for p in sops fluxgen kstatus ncnotify signalflow externalmetrics artifactgen ocipush cosign fluxpeers flagger loadtester helm; do
  { scripts/$p.sh >"$peers/$p" 2>"$peers/$p.err" || rm -f "$peers/$p"; } &
done
skip=()
if testcluster=$(scripts/testcluster.sh); then
  export FLEDGE_TESTCLUSTER=$testcluster
else
  if [ "${CI:-}" = true ]; then
    echo "test.sh: the test control plane could not be built, and under CI the real-cluster tests are never skipped" >&2
    exit 1
  fi
  echo "" >&2
  echo "test.sh: *** SKIPPING the real-cluster tests (real_cluster::*): the test control plane could not be built (see above; it needs Go 1.26 and the Go module proxy) ***" >&2
  echo "" >&2
  skip=(--skip real_cluster::)
fi
wait
for p in sops fluxgen kstatus ncnotify signalflow externalmetrics artifactgen ocipush cosign fluxpeers flagger loadtester helm; do
  cat "$peers/$p.err" >&2
done
# A peer built is passed to the tests; one that was not is tried again by its tests, which
# then say why they skip (or fail, under CI).
if [ -s "$peers/sops" ]; then export FLEDGE_SOPS="$(cat "$peers/sops")"; fi
if [ -s "$peers/fluxgen" ]; then export FLEDGE_FLUXGEN="$(cat "$peers/fluxgen")"; fi
if [ -s "$peers/kstatus" ]; then export FLEDGE_KSTATUS="$(cat "$peers/kstatus")"; fi
if [ -s "$peers/ncnotify" ]; then export FLEDGE_NCNOTIFY="$(cat "$peers/ncnotify")"; fi
if [ -s "$peers/signalflow" ]; then export FLEDGE_SIGNALFLOW="$(cat "$peers/signalflow")"; fi
if [ -s "$peers/externalmetrics" ]; then export FLEDGE_EXTERNALMETRICS="$(cat "$peers/externalmetrics")"; fi
if [ -s "$peers/artifactgen" ]; then export FLEDGE_ARTIFACTGEN="$(cat "$peers/artifactgen")"; fi
if [ -s "$peers/ocipush" ]; then export FLEDGE_OCIPUSH="$(cat "$peers/ocipush")"; fi
if [ -s "$peers/cosign" ]; then export FLEDGE_COSIGN="$(cat "$peers/cosign")"; fi
if [ -s "$peers/flagger" ]; then export FLEDGE_FLAGGER="$(cat "$peers/flagger")"; fi
if [ -s "$peers/loadtester" ]; then export FLEDGE_LOADTESTER="$(cat "$peers/loadtester")"; fi
if [ -s "$peers/fluxpeers" ]; then
  { read -r kustomize; read -r source; read -r image_reflector; read -r image_automation; } <"$peers/fluxpeers"
  export FLEDGE_FLUX_KUSTOMIZE_CONTROLLER=$kustomize FLEDGE_FLUX_SOURCE_CONTROLLER=$source
  export FLEDGE_FLUX_IMAGE_REFLECTOR_CONTROLLER=$image_reflector
  export FLEDGE_FLUX_IMAGE_AUTOMATION_CONTROLLER=$image_automation
fi
if [ -s "$peers/helm" ]; then
  { read -r engine; read -r helm; } <"$peers/helm"
  export FLEDGE_HELM_ENGINE=$engine FLEDGE_HELM=$helm
fi
rm -rf "$peers"
if [ ${#skip[@]} -eq 0 ]; then
  exec cargo test --release --locked "$@"
fi
exec cargo test --release --locked "$@" -- "${skip[@]}"

#!/usr/bin/env bash
# Validates the Kubernetes manifests offline with kubeconform against strict Kubernetes schemas.
# kubeconform is built with Go (pinned); the schemas come from the kubernetes-validate PyPI package
# (no schema download at run time): infra/k8s/schemas.py rewrites them for kubeconform once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LOG_NAME=kubeconform
# shellcheck source=infra/dev/log.sh
. "$ROOT/infra/dev/log.sh"

KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"
SCHEMAS_PACKAGE=kubernetes-validate==1.37.0
CACHE="${AGENTBUS_CACHE:-$ROOT/.cache}"
BIN="$CACHE/bin/kubeconform"
SCHEMAS="$CACHE/k8s-schemas"

# `go install` builds report their version as "development": a stamp file records it.
if ! [ -x "$BIN" ] || [ "$(cat "$BIN.version" 2>/dev/null)" != "$KUBECONFORM_VERSION" ]; then
  command -v go >/dev/null || die "Go is needed to build kubeconform (apt-get install golang-go)"
  log "building kubeconform $KUBECONFORM_VERSION with Go"
  GOBIN="$CACHE/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  echo "$KUBECONFORM_VERSION" >"$BIN.version"
fi
if ! [ -s "$SCHEMAS/v$KUBERNETES_VERSION-standalone-strict/deployment-apps-v1.json" ]; then
  log "extracting Kubernetes $KUBERNETES_VERSION schemas from $SCHEMAS_PACKAGE"
  "$("$ROOT/infra/dev/ensure-uv.sh")" run --quiet --no-project --with "$SCHEMAS_PACKAGE" \
    python "$HERE/schemas.py" --kubernetes-version "$KUBERNETES_VERSION" --out "$SCHEMAS" >/dev/null
fi

# The files kustomization.yaml lists (what `kustomize build infra/k8s` renders), and every
# base/*.yaml must be listed there except the Deployment template.
mapfile -t listed < <(cd "$HERE" && "$ROOT/.venv/bin/python" -c '
import yaml
for r in yaml.safe_load(open("kustomization.yaml"))["resources"]:
    print(r)')
# (A lookup table, not `printf | grep -q`: grep -q exits at its first match, and under pipefail
# printf's SIGPIPE would fail the check at random.)
declare -A is_listed=()
for name in "${listed[@]}"; do is_listed["$name"]=1; done
for file in "$HERE"/base/*.yaml; do
  name="base/$(basename "$file")"
  [ "$name" = base/service-deployment.yaml ] && continue
  [ -n "${is_listed[$name]:-}" ] || die "$name is not listed in infra/k8s/kustomization.yaml"
done

cd "$HERE"
exec "$BIN" -strict -summary -kubernetes-version "$KUBERNETES_VERSION" \
  -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  "${listed[@]}" base/service-deployment.yaml

#!/usr/bin/env bash
# Renders every overlay of deploy/k8s with `kubectl kustomize` (and the
# monitoring objects with deploy/k8s/monitoring/render.sh), validates them
# offline against the Kubernetes and Prometheus-operator schemas
# (npm kubernetes-models), checks the deployment's properties field by field,
# checks the agent's ConfigMap with `colo validate`, and proves that broken
# manifests are rejected (a broken overlay rendered by kustomize, and known
# breakages of the valid renders).
#   tests/deploy/manifests_test.sh path/to/colo
set -euo pipefail
colo=${1:?usage: manifests_test.sh COLO_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# kubectl is not a Debian package (bookworm has none): without it the test is
# skipped (ctest shows it as skipped, not passed).
command -v kubectl >/dev/null || { echo "manifests_test: kubectl not found: skipped" >&2; exit 77; }
command -v node >/dev/null || { echo "manifests_test: node not found (apt: nodejs npm)" >&2; exit 1; }
# The schema packages, exactly as locked (node_modules is not committed).
if ! (cd "$here" && npm ls --silent >/dev/null 2>&1); then
  (cd "$here" && npm ci --no-audit --no-fund --silent 2>&1 | grep -v EBADENGINE >&2 || true)
fi
(cd "$here" && npm ls --silent >/dev/null) || { echo "manifests_test: npm ci failed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A copy of the tree with the same layout, so the monitoring kustomization
# reaches dashboards/. The real dashboards are used where they exist, the
# test placeholders (tests/fixtures/k8s/dashboards) where they do not yet.
mkdir -p "$tmp/repo/deploy" "$tmp/repo/dashboards/rules"
cp -r "$repo/deploy/k8s" "$tmp/repo/deploy/"
for f in colo-node.json colo-fleet.json colo-agent.json rules/colo-rules.yaml; do
  if [[ -f "$repo/dashboards/$f" ]]; then cp "$repo/dashboards/$f" "$tmp/repo/dashboards/$f"
  else
    echo "note: dashboards/$f missing; using the test placeholder"
    cp "$repo/tests/fixtures/k8s/dashboards/$f" "$tmp/repo/dashboards/$f"
  fi
done

validate() { node "$here/validate.mjs" "$@"; }
fail=0
for variant in privileged capabilities; do
  kubectl kustomize "$tmp/repo/deploy/k8s/overlays/$variant" >"$tmp/$variant.yaml"
  mkdir -p "$tmp/cfg-$variant"
  validate agent "$tmp/$variant.yaml" --variant "$variant" --write-config "$tmp/cfg-$variant" || fail=1
  if [[ -f "$tmp/cfg-$variant/colo.yaml" ]]; then
    "$colo" validate "$tmp/cfg-$variant/colo.yaml" || { echo "INVALID: $variant: colo validate rejects the ConfigMap's colo.yaml" >&2; fail=1; }
  fi
done
"$tmp/repo/deploy/k8s/monitoring/render.sh" >"$tmp/monitoring.yaml"
validate monitoring "$tmp/monitoring.yaml" --agent "$tmp/privileged.yaml" --dashboards "$tmp/repo/dashboards" || fail=1

# A broken overlay, rendered by kustomize itself, must be rejected.
mkdir -p "$tmp/repo/deploy/k8s/overlays/broken"
cat >"$tmp/repo/deploy/k8s/overlays/broken/kustomization.yaml" <<'YAML'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../privileged
patches:
  - target: {kind: DaemonSet, name: colo-agent}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/ports/0/containerPort
        value: "9809"
      - op: remove
        path: /spec/template/spec/hostPID
YAML
kubectl kustomize "$tmp/repo/deploy/k8s/overlays/broken" >"$tmp/broken.yaml"
if validate agent "$tmp/broken.yaml" --variant privileged 2>"$tmp/broken.err"; then
  echo "FAIL: the broken overlay was accepted" >&2; fail=1
else
  grep -q "containerPort must be integer" "$tmp/broken.err" || { echo "FAIL: schema error not reported:" >&2; cat "$tmp/broken.err" >&2; fail=1; }
  grep -q "hostPID must be true" "$tmp/broken.err" || { echo "FAIL: hostPID not reported:" >&2; cat "$tmp/broken.err" >&2; fail=1; }
  echo "broken overlay rejected as expected"
fi
# A ConfigMap whose colo.yaml colo rejects must fail the check above.
sed 's/^  enabled: true/  enabled: maybe/' "$tmp/cfg-privileged/colo.yaml" >"$tmp/bad-colo.yaml"
if "$colo" validate "$tmp/bad-colo.yaml" 2>"$tmp/bad-colo.err"; then
  echo "FAIL: colo validate accepted kubernetes.enabled: maybe" >&2; fail=1
else
  grep -q "kubernetes.enabled" "$tmp/bad-colo.err" && echo "broken colo.yaml rejected as expected: $(head -1 "$tmp/bad-colo.err")"
fi
# Known breakages of the valid renders, one at a time.
validate self-test "$tmp/privileged.yaml" "$tmp/monitoring.yaml" --dashboards "$tmp/repo/dashboards" \
  --capabilities "$tmp/capabilities.yaml" || fail=1

if [[ $fail -ne 0 ]]; then echo "manifests_test: FAILED" >&2; exit 1; fi
echo "manifests_test: all renders valid, all broken variants rejected"

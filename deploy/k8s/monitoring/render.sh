#!/usr/bin/env bash
# Renders colo's monitoring objects on stdout, for `kubectl apply -f -`:
# the ServiceMonitor, the dashboards ConfigMap (label grafana_dashboard: "1")
# from dashboards/*.json, and a PrometheusRule wrapping the Prometheus rule
# file dashboards/rules/colo-rules.yaml (which promtool checks as it is).
# Needs the Prometheus operator's CRDs in the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
rules="$repo/dashboards/rules/colo-rules.yaml"
[[ -r "$rules" ]] || { echo "render.sh: cannot read $rules" >&2; exit 1; }
grep -q '^groups:' "$rules" || { echo "render.sh: $rules has no top-level 'groups:'" >&2; exit 1; }

kubectl kustomize --load-restrictor LoadRestrictionsNone "$here"
cat <<'YAML'
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: colo
  namespace: colo-system
  labels:
    app.kubernetes.io/name: colo
    app.kubernetes.io/part-of: colo
spec:
YAML
# The rule file's top-level mapping becomes spec (indented two spaces);
# document markers are dropped.
grep -v -E '^(---|\.\.\.)[[:space:]]*$' "$rules" | sed 's/^/  /'

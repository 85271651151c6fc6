#!/usr/bin/env bash
# deploy/bare-host/colo.service: `systemd-analyze verify` passes with no
# warning about the unit (it exits 0 on ignored settings, so its output is
# checked too), and the properties colo relies on are there: the capabilities
# it needs and nothing more, restart on failure, bpffs mounted before start,
# the config validated before start. Broken copies of the unit must fail.
#   tests/deploy/systemd_unit_test.sh path/to/colo
set -euo pipefail
colo=${1:?usage: systemd_unit_test.sh COLO_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
unit="$here/../../deploy/bare-host/colo.service"
command -v systemd-analyze >/dev/null || { echo "systemd_unit_test: systemd-analyze not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify UNIT_TEXT_FILE -> 0 if clean
check() {
  local f="$tmp/colo.service" out
  # The unit names the installed path; point it at the binary just built.
  sed "s#/usr/local/bin/colo#$colo#g" "$1" >"$f"
  out=$(systemd-analyze verify --man=no "$f" 2>&1) || { echo "$out"; return 1; }
  if grep -E "colo\.service" <<<"$out"; then return 1; fi
  local want="CAP_BPF CAP_DAC_OVERRIDE CAP_KILL CAP_NET_ADMIN CAP_PERFMON CAP_SYS_ADMIN"
  local caps
  caps=$(grep -E '^CapabilityBoundingSet=' "$f" | cut -d= -f2- | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
  [[ "$caps" == "$want" ]] || { echo "capabilities are '$caps', expected '$want'"; return 1; }
  grep -qxE 'User=root' "$f" || { echo "expected User=root (bounded by CapabilityBoundingSet)"; return 1; }
  grep -qxE 'AmbientCapabilities=' "$f" || { echo "expected no ambient capabilities"; return 1; }
  grep -qxE 'NoNewPrivileges=yes' "$f" || { echo "expected NoNewPrivileges=yes"; return 1; }
  grep -qxE 'Restart=on-failure' "$f" || { echo "expected Restart=on-failure"; return 1; }
  grep -qxE 'RequiresMountsFor=/sys/fs/bpf' "$f" || { echo "expected RequiresMountsFor=/sys/fs/bpf"; return 1; }
  grep -qE '^ExecStartPre=\+.*mount -t bpf .* /sys/fs/bpf' "$f" || { echo "expected an ExecStartPre=+ that mounts bpffs"; return 1; }
  grep -qE "^ExecStartPre=$colo validate " "$f" || { echo "expected the config to be validated before start"; return 1; }
  grep -qE "^ExecStart=$colo agent --config " "$f" || { echo "expected ExecStart=colo agent --config ..."; return 1; }
  grep -qxE 'ExecReload=/bin/kill -HUP \$MAINPID' "$f" || { echo "expected SIGHUP reload"; return 1; }
  return 0
}

if ! out=$(check "$unit"); then
  echo "FAIL: deploy/bare-host/colo.service:" >&2; echo "$out" >&2; exit 1
fi
echo "colo.service: systemd-analyze verify clean, properties present"

# Broken copies must be rejected.
fail=0
while IFS='|' read -r name expr; do
  sed -E "$expr" "$unit" >"$tmp/broken.service"
  if out=$(check "$tmp/broken.service"); then
    echo "FAIL: broken unit accepted: $name" >&2; fail=1
  else
    echo "rejected as expected: $name: $(head -1 <<<"$out")"
  fi
done <<'CASES'
invalid Restart value|s/^Restart=on-failure/Restart=sometimes/
unknown key|s/^Type=simple/Typo=simple/
missing executable|s#^ExecStart=/usr/local/bin/colo#ExecStart=/nonexistent/colo#
extra capability|s/^CapabilityBoundingSet=(.*)/CapabilityBoundingSet=\1 CAP_SYS_PTRACE/
missing CAP_BPF|s/CAP_BPF //
unknown capability|s/^CapabilityBoundingSet=(.*)/CapabilityBoundingSet=\1 CAP_BOGUS/
no restart|/^Restart=/d
no bpffs dependency|/^RequiresMountsFor=/d
CASES
[[ $fail -eq 0 ]] || exit 1
echo "systemd_unit_test: passed"

#!/usr/bin/env bash
# Review of issue 13 (rev-run): does deploy_manifests (manifests_test.py)
# catch a manifest that deploys a taalad nobody can reach or that cannot
# start? Each case copies deploy/ and tests/ into a scratch tree, makes one
# deliberate mistake there and runs manifests_test.py on it: it must fail.
#   review_run_manifests_test.sh SOURCE_DIR TAALAD TAALACTL
# Cases marked FINDING pass manifests_test.py today. The unmodified copy
# must pass (else the cases prove nothing).
set -uo pipefail
src=$(cd "${1:?usage: review_run_manifests_test.sh SOURCE_DIR TAALAD TAALACTL}" && pwd)
taalad=${2:?}
taalactl=${3:?}
work=$(mktemp -d /tmp/review_run_manifests.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

fresh() {
  rm -rf "$work/tree"
  mkdir -p "$work/tree"
  cp -r "$src/deploy" "$src/tests" "$work/tree/"
}
run_test() {
  python3 "$work/tree/tests/deploy/manifests_test.py" --source="$work/tree" \
    --taalad="$taalad" --taalactl="$taalactl" >"$work/out" 2>&1
}
# edit FILE PYTHON_EXPR_ON_s: s is the file's text.
edit() {
  python3 - "$work/tree/$1" "$2" <<'EOF'
import sys
path, expr = sys.argv[1], sys.argv[2]
s = open(path).read()
t = eval(expr)
assert t != s, "the edit changed nothing in " + path
open(path, "w").write(t)
EOF
}
must_fail() {  # must_fail WHAT
  if run_test; then
    fail "manifests_test.py passes with $1"
  else
    ok "manifests_test.py catches $1: $(grep -m1 FAIL "$work/out")"
  fi
}

fresh
if run_test; then ok "the unmodified copy passes"; else
  fail "the unmodified copy fails: $(grep -m3 FAIL "$work/out")"
fi

# Held: a mistake the test claims to catch.
fresh
edit deploy/k8s/base/statefulset.yaml \
  's.replace("              path: /readyz\n", "              path: /healthz\n")'
must_fail "the readiness probe on /healthz"

# FINDING: the Service selects no pod (its selector names another app): the
# ports match, the test passes, and clients dialing taala.<ns>.svc:7070 get
# no endpoints. manifests_test.py compares the Service's ports only, never
# its selector with the pod template's labels.
fresh
edit deploy/k8s/base/service.yaml \
  's.replace("  selector:\n    app.kubernetes.io/name: taala\n", "  selector:\n    app.kubernetes.io/name: taalad\n")'
must_fail "a Service whose selector matches no pod"

# FINDING: the PodDisruptionBudget selects no pod: maxUnavailable: 1 is
# checked, what it applies to is not (the budget protects nothing).
fresh
edit deploy/k8s/base/pdb.yaml \
  's.replace("    matchLabels:\n      app.kubernetes.io/name: taala\n", "    matchLabels:\n      app.kubernetes.io/name: other\n")'
must_fail "a PodDisruptionBudget whose selector matches no pod"

# FINDING: the probes over HTTPS: the admin listener is plain HTTP
# (server/admin_listener.cc), so every startup probe fails and the kubelet
# restarts taalad forever; the test checks the probes' path and port only.
fresh
edit deploy/k8s/base/statefulset.yaml \
  's.replace("              path: /healthz\n", "              path: /healthz\n              scheme: HTTPS\n")'
must_fail "the startup and liveness probes over HTTPS"

# FINDING: the Secrets mounted 0400: their files are root's (fsGroup only
# adds group ownership), the container runs as uid 10001, so taalad cannot
# read --tls_cert / --tls_key / --auth_tokens_file and never starts. The
# test checks that the flag paths lie under the mountPaths, not that the
# pod's user can read them (defaultMode with fsGroup/runAsUser).
fresh
edit deploy/k8s/base/statefulset.yaml 's.replace("defaultMode: 0440", "defaultMode: 0400")'
must_fail "the TLS and token Secrets unreadable by uid 10001 (defaultMode 0400)"

# Held (fix-manifests): the admin port's exposure. The Service carries gRPC
# only (probes hit the pod IP, Prometheus scrapes pods), and the
# NetworkPolicy admits 7071 from Prometheus' pods alone.
fresh
edit deploy/k8s/base/service.yaml \
  's + "    - name: admin\n      port: 7071\n      targetPort: admin\n      protocol: TCP\n"'
must_fail "the Service publishing the admin port again"
fresh
edit deploy/k8s/base/networkpolicy.yaml \
  's.replace("        - port: 7071\n", "        - port: 7072\n")'
must_fail "a NetworkPolicy admitting another port than --admin_listen's"
fresh
edit deploy/k8s/base/networkpolicy.yaml \
  's[:s.index("    - from:\n")] + "    - ports:\n        - port: 7071\n          protocol: TCP\n"'
must_fail "a NetworkPolicy admitting the admin port from anywhere"
fresh
edit deploy/k8s/base/kustomization.yaml 's.replace("  - networkpolicy.yaml\n", "")'
must_fail "the NetworkPolicy left out of the kustomization"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"

#!/usr/bin/env bash
# The chart against a real, throwaway Kubernetes control plane, without Docker:
# etcd (Debian's), kube-apiserver, kube-controller-manager and kube-scheduler (built from the Go
# module proxy) and kwok, which plays the kubelet of a fake node (pods get Running/Ready or, for
# Jobs, Succeeded; images are never pulled). Everything listens on 127.0.0.1 only.
#   1. helm install --wait --rollback-on-failure: the migration hook Job completes, every service's
#      Deployment is Available; the api points at the scheduler Service with the generated token.
#   2. helm upgrade with a value that cannot become ready: Helm rolls back by itself; then a good
#      upgrade goes through, running the pre-upgrade migration again and keeping the token.
#   3. CloudNativePG's Cluster/ScheduledBackup and the plugin's ObjectStore (and KEDA's ScaledObject),
#      rendered from the production values, are accepted with their CRDs applied; a misspelt field is not;
#      the rest of the production rendering passes a server-side dry run.
#   4. BENCH k8s_e2e installed=true rolled_back=true install_s=...
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CHART="$ROOT/deploy/helm/mirage"
WORK="${MIRAGE_K8S_E2E_DIR:-$ROOT/.local/k8s-e2e}"
NS=mirage
PIDS=()
# PyYAML for filtering renders: the workspace venv has it (make bootstrap).
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3)}"

log() { printf '[k8s-e2e] %s\n' "$*" >&2; }
die() { printf '[k8s-e2e] FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local status=$? pid
  if [ "$status" -ne 0 ] && [ -f "$WORK/kubeconfig" ] && [ -n "${KUBECTL:-}" ]; then
    # What the cluster looked like when it failed, for the logs.
    "$KUBECTL" --kubeconfig "$WORK/kubeconfig" get nodes,all,events -A -o wide >"$WORK/logs/state.txt" 2>&1 || true
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  [ "$status" -eq 0 ] || log "logs are in $WORK/logs"
}
trap cleanup EXIT

tool() { "$ROOT/deploy/tools/tool.sh" "$1" || die "could not build $1 (deploy/tools/tool.sh $1)"; }
log "tools (built once, cached under .local/tools)"
HELM="$(tool helm)"; KUBECTL="$(tool kubectl)"; KUBE="$(tool kube)"; KWOK="$(tool kwok)"; ETCD="$(tool etcd)"
CRDS="$(tool crd-schemas)/crds"
KWOK_STAGES="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$("$KWOK" --version | awk '{print $3}')" \
  | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/kustomize/stage"
[ -d "$KWOK_STAGES" ] || die "kwok's stage definitions not found in its Go module"

# Debian's etcd 3.4 lacks the progress notifications that client-go's streaming watch lists need
# (the apiserver then turns RequestWatchProgress off): clients fall back to plain list+watch.
export KUBE_FEATURE_WatchListClient=false

rm -rf "$WORK"; mkdir -p "$WORK/logs" "$WORK/etcd" "$WORK/pki"
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ETCD_PORT="$(free_port)"; ETCD_PEER="$(free_port)"; API_PORT="$(free_port)"; KCM_PORT="$(free_port)"
SCHED_PORT="$(free_port)"; KWOK_PORT="$(free_port)"

wait_for() { # wait_for SECONDS WHAT CMD...
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.3
  done
}
start() { # start NAME CMD...: run in the background, log to logs/NAME.log
  local name="$1"; shift
  "$@" >"$WORK/logs/$name.log" 2>&1 &
  PIDS+=($!)
}

log "etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$ETCD" --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-cluster "default=http://127.0.0.1:$ETCD_PEER"
wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

openssl genrsa -out "$WORK/pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$WORK/pki/sa.key" -pubout -out "$WORK/pki/sa.pub" 2>/dev/null
TOKEN="$(openssl rand -hex 24)"
echo "$TOKEN,admin,admin,system:masters" >"$WORK/pki/tokens.csv"
cat >"$WORK/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:$API_PORT
      insecure-skip-tls-verify: true
users:
  - name: admin
    user:
      token: $TOKEN
contexts:
  - name: e2e
    context: {cluster: e2e, user: admin}
current-context: e2e
EOF
export KUBECONFIG="$WORK/kubeconfig"

log "kube-apiserver on 127.0.0.1:$API_PORT"
# --endpoint-reconciler-type=none: on loopback the apiserver cannot publish itself as the
# `kubernetes` Service endpoint, and nothing here needs it.
start kube-apiserver "$KUBE/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" --cert-dir "$WORK/pki" \
  --token-auth-file "$WORK/pki/tokens.csv" --authorization-mode RBAC \
  --service-account-key-file "$WORK/pki/sa.pub" --service-account-signing-key-file "$WORK/pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/16 \
  --endpoint-reconciler-type none --allow-privileged=false --feature-gates WatchList=false
wait_for 90 kube-apiserver "$KUBECTL" get --raw /readyz

log "kube-controller-manager, kube-scheduler, kwok"
start kube-controller-manager "$KUBE/kube-controller-manager" --kubeconfig "$KUBECONFIG" \
  --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
  --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$WORK/pki/kcm" --leader-elect=false \
  --service-account-private-key-file "$WORK/pki/sa.key" --use-service-account-credentials=false \
  --controllers '*,-nodeipam,-persistentvolume-binder,-attachdetach,-ttl,-bootstrapsigner,-tokencleaner'
start kube-scheduler "$KUBE/kube-scheduler" --kubeconfig "$KUBECONFIG" \
  --authentication-kubeconfig "$KUBECONFIG" --authorization-kubeconfig "$KUBECONFIG" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$WORK/pki/sched" --leader-elect=false
# kwok's own stage definitions: nodes become Ready and stay so; pods become Ready, Job pods
# Succeed, deleted pods go away.
for stage in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete \
  pod/fast/pod-delete; do
  echo "---"; cat "$KWOK_STAGES/$stage.yaml"
done >"$WORK/kwok-stages.yaml"
start kwok "$KWOK" --kubeconfig "$KUBECONFIG" --config "$WORK/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --node-ip 127.0.0.1 --server-address "127.0.0.1:$KWOK_PORT"
"$KUBECTL" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-0
    topology.kubernetes.io/zone: e2e-a
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
wait_for 60 "a Ready kwok node" "$KUBECTL" wait --for=condition=Ready node/kwok-node-0 --timeout=1s
wait_for 60 "the default ServiceAccount" "$KUBECTL" -n default get serviceaccount default
"$KUBECTL" create namespace "$NS" >/dev/null
wait_for 60 "the namespace's ServiceAccount" "$KUBECTL" -n "$NS" get serviceaccount default

# 1. Install with the migration hook, waiting for every Deployment to be Available.
log "helm install --wait --rollback-on-failure"
started=$SECONDS
"$HELM" install mirage "$CHART" -n "$NS" --wait --rollback-on-failure --timeout 60s \
  --set default.image.tag=e2e >"$WORK/logs/helm-install.log" 2>&1 \
  || { cat "$WORK/logs/helm-install.log" >&2; die "helm install failed"; }
INSTALL_S=$((SECONDS - started))
# Every service the values enable (one per package under services/, the simulator off) has its Deployment.
expected="$("$HELM" template mirage "$CHART" -n "$NS" --set default.image.tag=e2e \
  | "$PYTHON" -c 'import sys, yaml; print(" ".join(sorted(d["metadata"]["name"] for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment")))')"
found="$("$KUBECTL" -n "$NS" get deployments -o jsonpath='{.items[*].metadata.name}' | tr ' ' '\n' | sort | xargs)"
[ "$found" = "$expected" ] || die "expected the Deployments $expected, found $found"
for service in "$ROOT"/services/*/pyproject.toml; do
  service="$(basename "$(dirname "$service")")"
  [ "$service" = simulator ] || [[ " $found " == *" mirage-$service "* ]] || die "no Deployment for services/$service"
done
deployments="$(wc -w <<<"$found")"
"$KUBECTL" -n "$NS" wait --for=condition=Available deployment --all --timeout=10s >/dev/null \
  || die "not every Deployment is Available after install"
# The hook Job ran to completion (Helm deletes it on success; the Job controller's event remains).
"$KUBECTL" -n "$NS" get events --field-selector involvedObject.kind=Job,involvedObject.name=mirage-migrate,reason=Completed \
  -o name | grep -q . || die "no Completed event for the migration hook Job"
log "installed in ${INSTALL_S}s: $deployments Deployments Available, migration hook Succeeded"
# The api reaches this release's scheduler (warm-up ticks) with the token the scheduler checks,
# generated once by the chart; lookup must keep it across upgrades and rollbacks (checked below).
scheduler_url="$("$KUBECTL" -n "$NS" get configmap mirage-api -o jsonpath='{.data.MIRAGE_API_SCHEDULER__URL}')"
[ "$scheduler_url" = "http://mirage-scheduler:8007" ] || die "the api's MIRAGE_API_SCHEDULER__URL is '$scheduler_url'"
"$KUBECTL" -n "$NS" get service mirage-scheduler -o jsonpath='{.spec.ports[0].port}' | grep -qx 8007 \
  || die "no scheduler Service on 8007"
control_token() { "$KUBECTL" -n "$NS" get secret mirage-scheduler-control -o jsonpath='{.data.token}'; }
TOKEN_BEFORE="$(control_token)"
[ -n "$TOKEN_BEFORE" ] || die "no scheduler control token Secret"

# 2. An upgrade that cannot become ready (the api asks for more CPU than any node has) rolls back.
log "helm upgrade with an api that can never be scheduled"
started=$SECONDS
if "$HELM" upgrade mirage "$CHART" -n "$NS" --wait --rollback-on-failure --timeout 30s --set default.image.tag=e2e \
  --set components.api.resources.requests.cpu=512 >"$WORK/logs/helm-upgrade.log" 2>&1; then
  die "the unschedulable upgrade succeeded"
fi
UPGRADE_S=$((SECONDS - started))
"$HELM" history mirage -n "$NS" -o json >"$WORK/history.json"
"$PYTHON" - "$WORK/history.json" <<'EOF' || die "helm history does not show the rollback (see $WORK/history.json)"
import json, sys
history = json.load(open(sys.argv[1]))
last = history[-1]
assert last["status"] == "deployed", last
assert "Rollback to 1" in last["description"], last
assert any(h["status"] == "failed" for h in history), history
EOF
requested="$("$KUBECTL" -n "$NS" get deployment mirage-api -o jsonpath='{.spec.template.spec.containers[0].resources.requests.cpu}')"
[ "$requested" = 100m ] || die "the api Deployment was not rolled back (requests.cpu=$requested)"
"$KUBECTL" -n "$NS" rollout status deployment/mirage-api --timeout=60s >/dev/null || die "the api did not settle after the rollback"
log "rolled back by itself in ${UPGRADE_S}s"

# A good upgrade (a new image tag) goes through: the pre-upgrade migration hook runs again, every
# Deployment rolls out, and the generated scheduler control token survives (the chart's lookup).
migrations() {
  "$KUBECTL" -n "$NS" get events --field-selector involvedObject.kind=Job,involvedObject.name=mirage-migrate,reason=Completed \
    -o name | wc -l
}
migrations_before="$(migrations)"
"$HELM" upgrade mirage "$CHART" -n "$NS" --wait --rollback-on-failure --timeout 60s \
  --set default.image.tag=e2e-next >"$WORK/logs/helm-upgrade-good.log" 2>&1 \
  || { cat "$WORK/logs/helm-upgrade-good.log" >&2; die "a good upgrade failed"; }
"$KUBECTL" -n "$NS" get deployment mirage-api -o jsonpath='{.spec.template.spec.containers[0].image}' \
  | grep -q ':e2e-next$' || die "the good upgrade did not change the api's image"
[ "$(migrations)" -gt "$migrations_before" ] || die "the pre-upgrade migration hook did not run on the good upgrade"
[ "$(control_token)" = "$TOKEN_BEFORE" ] || die "the scheduler control token changed on upgrade"
log "a good upgrade went through (pre-upgrade migration ran; the scheduler control token kept)"

# 3. The operators' objects, as the production values render them, against their CRDs.
log "CloudNativePG, Barman Cloud plugin and KEDA objects against their CRDs"
for crd in postgresql.cnpg.io_clusters postgresql.cnpg.io_scheduledbackups postgresql.cnpg.io_backups \
  barmancloud.cnpg.io_objectstores keda.sh_scaledobjects; do
  "$KUBECTL" apply --server-side -f "$CRDS/$crd.yaml" >/dev/null || die "could not apply the $crd CRD"
done
"$KUBECTL" wait --for=condition=Established crd --all --timeout=60s >/dev/null
"$KUBECTL" create namespace mirage-prod >/dev/null
"$HELM" template mirage "$CHART" -n mirage-prod -f "$CHART/values-production.yaml" --set default.image.tag=e2e \
  | "$PYTHON" -c '
import sys, yaml
keep = {"Cluster", "ObjectStore", "ScheduledBackup", "ScaledObject"}
docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] in keep]
assert {d["kind"] for d in docs} == keep, sorted({d["kind"] for d in docs})
yaml.safe_dump_all(docs, sys.stdout)' >"$WORK/operator-objects.yaml" || die "could not render the operator objects"
"$KUBECTL" -n mirage-prod create -f "$WORK/operator-objects.yaml" >"$WORK/logs/operator-objects.log" 2>&1 \
  || { cat "$WORK/logs/operator-objects.log" >&2; die "the API server refused the operator objects"; }
accepted="$("$KUBECTL" -n mirage-prod get clusters.postgresql.cnpg.io,scheduledbackups.postgresql.cnpg.io,objectstores.barmancloud.cnpg.io,scaledobjects.keda.sh -o name | wc -l)"
[ "$accepted" -eq 4 ] || die "expected 4 operator objects stored, found $accepted"
# The same objects with a misspelt field must be refused (strict field validation), or step 3 proves nothing.
sed 's/^  instances:/  instancez:/' "$WORK/operator-objects.yaml" >"$WORK/operator-objects-bad.yaml"
if "$KUBECTL" -n mirage-prod apply --dry-run=server -f "$WORK/operator-objects-bad.yaml" >"$WORK/logs/bad.log" 2>&1; then
  die "the API server accepted a Cluster with a misspelt field"
fi
grep -q 'unknown field "spec.instancez"' "$WORK/logs/bad.log" || die "unexpected refusal: $(cat "$WORK/logs/bad.log")"
log "Cluster, ScheduledBackup, ObjectStore and ScaledObject accepted; a misspelt field refused"
# Everything else the production values render, through the real API server's validation and
# admission (a dry run: nothing runs it). Strimzi's and the Prometheus Operator's kinds have no
# CRD here and are left out by name.
"$HELM" template mirage "$CHART" -n mirage-prod -f "$CHART/values-production.yaml" --set default.image.tag=e2e \
  | "$PYTHON" -c '
import sys, yaml
skip = {"Kafka", "KafkaNodePool", "KafkaTopic", "ServiceMonitor"}
docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] not in skip]
yaml.safe_dump_all(docs, sys.stdout)' >"$WORK/production.yaml"
"$KUBECTL" -n mirage-prod apply --dry-run=server -f "$WORK/production.yaml" >"$WORK/logs/production-dry-run.log" 2>&1 \
  || { cat "$WORK/logs/production-dry-run.log" >&2; die "the API server refused the production rendering"; }
log "the production rendering passes the API server's validation ($(grep -c . "$WORK/logs/production-dry-run.log") objects)"

echo "BENCH k8s_e2e installed=true rolled_back=true install_s=$INSTALL_S upgrade_rollback_s=$UPGRADE_S crds_accepted=true deployments=$deployments"

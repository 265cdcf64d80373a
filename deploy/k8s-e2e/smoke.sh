#!/usr/bin/env bash
# Smoke suite against an installed release (staging in the CI/CD workflow), through kubectl port-forward:
#   every Deployment of the release is Available; the api's GET /health answers 200 "healthy";
#   with the simulator enabled (staging), a person's message gets a reply through the whole pipeline.
# Usage: deploy/k8s-e2e/smoke.sh [RELEASE] [NAMESPACE]   (KUBECONFIG selects the cluster)
set -euo pipefail

RELEASE="${1:-mirage}"
NS="${2:-mirage}"
KUBECTL="${KUBECTL:-kubectl}"
DEADLINE_S="${MIRAGE_SMOKE_DEADLINE_S:-120}"
PIDS=()

log() { printf '[smoke] %s\n' "$*" >&2; }
die() { printf '[smoke] FAILED: %s\n' "$*" >&2; exit 1; }
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

forward() { # forward SERVICE PORT: 127.0.0.1:PORT -> svc/RELEASE-SERVICE:PORT
  "$KUBECTL" -n "$NS" port-forward "svc/$RELEASE-$1" "$2:$2" --address 127.0.0.1 >/dev/null 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 30))
  until curl -s -o /dev/null "http://127.0.0.1:$2/livez"; do
    [ "$SECONDS" -lt "$deadline" ] || die "port-forward to $1 did not come up"
    sleep 0.5
  done
}

log "every Deployment of $RELEASE is Available"
"$KUBECTL" -n "$NS" wait --for=condition=Available deployment -l "app.kubernetes.io/instance=$RELEASE" \
  --timeout="${DEADLINE_S}s" >/dev/null || die "not every Deployment is Available"

forward api 8000
log "GET /health"
status="$(curl -s -o /tmp/mirage-smoke-health.json -w '%{http_code}' http://127.0.0.1:8000/health)"
[ "$status" = 200 ] || die "GET /health answered $status: $(cat /tmp/mirage-smoke-health.json)"
grep -q '"healthy"' /tmp/mirage-smoke-health.json || die "GET /health is not healthy: $(cat /tmp/mirage-smoke-health.json)"

if "$KUBECTL" -n "$NS" get "deployment/$RELEASE-simulator" >/dev/null 2>&1; then
  forward simulator 8002
  number="55119$(date +%s | tail -c 7)"
  log "a person ($number) writes to demo-1; waiting for the reply"
  curl -sf -X POST http://127.0.0.1:8002/_sim/instances/demo-1/inbound -H 'content-type: application/json' \
    -d "{\"from\": \"$number\", \"text\": \"oi, vocês abrem amanhã?\", \"push_name\": \"Smoke\"}" >/dev/null \
    || die "the simulator refused the inbound message"
  deadline=$((SECONDS + DEADLINE_S))
  until curl -sf "http://127.0.0.1:8002/_sim/sent?number=$number" | grep -q '"text"'; do
    [ "$SECONDS" -lt "$deadline" ] || die "no reply to $number within ${DEADLINE_S}s"
    sleep 1
  done
fi
log "passed"

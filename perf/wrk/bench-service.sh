#!/usr/bin/env bash
# The reference service's HTTP benchmark (issue 3): wrk on loopback against the release build,
# next to a bare axum hello-world measured the same way in the same run.
#
#   bash perf/wrk/bench-service.sh            # needs wrk (Debian: apt-get install wrk)
#
# Servers run on CPU 0 and wrk on CPU 1 (taskset), so the two do not fight over a core and the
# ratio is stable. /healthz is measured three times each, alternating, and the median ratio is
# printed; then wrk's own output for authenticated GET /v1/tasks at full speed and paced to
# 1,000 requests per second.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

cargo build --release -q -p app --bins --examples
url=$(cargo xtask dev up | sed -n 's/^APP_DATABASE_URL=//p')
export APP_DATABASE_URL="$url" APP_LISTEN=127.0.0.1:8098 APP_OPS_LISTEN=127.0.0.1:9098 \
  APP_LOG=info APP_LOGIN_LIMIT_PER_IP=1000 APP_LOGIN_LIMIT_PER_ACCOUNT=1000
export APP_DRAIN_SECONDS=0
server=(taskset -c 0) client=(taskset -c 1)
taskset -c 0 true 2>/dev/null || server=() client=()
"${server[@]}" target/release/app >/dev/null & app_pid=$!
"${server[@]}" target/release/examples/bare_axum 127.0.0.1:8099 & bare_pid=$!
trap 'kill $app_pid $bare_pid 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8098/readyz >/dev/null && curl -sf http://127.0.0.1:8099/healthz >/dev/null && break
  sleep 0.1
done

api=http://127.0.0.1:8098
# shellcheck source=perf/member.sh
source perf/member.sh
token=$(member_token "$api")

rps() { "${client[@]}" wrk -t1 -c32 -d "$DURATION" "$1" | sed -n 's/^Requests\/sec: *//p'; }
echo "=== GET /healthz, requests per second (wrk -t1 -c32 -d $DURATION)"
ratios=()
for round in 1 2 3; do
  bare=$(rps http://127.0.0.1:8099/healthz)
  app=$(rps "$api/healthz")
  ratio=$(python3 -c "print(f'{$app / $bare:.1%}')")
  ratios+=("$ratio")
  echo "round $round: bare axum $bare  app $app  app/bare $ratio"
done
echo "median app/bare: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 2p)"

run() { echo; echo "=== $1"; shift; "${client[@]}" wrk --latency -d "$DURATION" "$@"; }
TOKEN=$token run "app authenticated GET /v1/tasks, full speed (1 thread, 32 connections)" \
  -t1 -c32 -s perf/wrk/paced.lua "$api/v1/tasks"
TOKEN=$token PACE_MS=20 run "app authenticated GET /v1/tasks paced to 1,000 req/s (20 connections x 50/s)" \
  -t1 -c20 -s perf/wrk/paced.lua "$api/v1/tasks"

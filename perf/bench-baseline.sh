#!/usr/bin/env bash
# Issue 7's benchmark: the goose `baseline` profile and wrk against the same endpoint
# (authenticated GET /v1/tasks) of the same app instance, in one run.
#
#   bash perf/bench-baseline.sh        # needs wrk (Debian: apt-get install wrk)
#
# The app runs on CPU 0, the load generators on CPU 1 (taskset) where there are two.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release -q -p app -p perf
url=$(cargo xtask dev up | sed -n 's/^APP_DATABASE_URL=//p')
export APP_DATABASE_URL="$url" APP_LISTEN=127.0.0.1:8096 APP_OPS_LISTEN=127.0.0.1:9096 \
  APP_LOG=warn APP_LOGIN_LIMIT_PER_IP=1000000 APP_LOGIN_LIMIT_PER_ACCOUNT=1000 APP_DRAIN_SECONDS=0
server=(taskset -c 0) client=(taskset -c 1)
taskset -c 0 true 2>/dev/null || server=() client=()
"${server[@]}" target/release/app serve >/dev/null & app_pid=$!
trap 'kill $app_pid 2>/dev/null' EXIT
api=http://127.0.0.1:8096
for _ in $(seq 100); do curl -sf "$api/readyz" >/dev/null && break; sleep 0.1; done

echo "=== goose: baseline profile (16 users, 30 s; list:create:complete 4:2:1)"
reports=target/xtask/bench-baseline
mkdir -p "$reports"
"${client[@]}" target/release/perf --host "$api" --users 16 --increase-rate 8 --run-time 30s \
  --no-reset-metrics --report-file "$reports/report.md" --quiet >/dev/null
sed -n '/## Request Metrics/,/## Status Code Metrics/p' "$reports/report.md" | grep -v '^## Status'

echo "=== wrk: GET /v1/tasks with one member's token (wrk -t1 -c16 -d30s --latency)"
# shellcheck source=perf/member.sh
source perf/member.sh
token=$(member_token "$api")
"${client[@]}" wrk -t1 -c16 -d30s --latency -H "authorization: Bearer $token" "$api/v1/tasks?limit=20"

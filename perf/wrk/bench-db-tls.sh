#!/usr/bin/env bash
# p99 latency of authenticated GET /v1/tasks at about 1,000 requests per second, with the app's
# database connection over TLS (sslmode=verify-full, the default of every environment) and plain
# (issue 15). Rounds alternate TLS and plain, each on a fresh PostgreSQL from the tests' launcher.
# wrk has no rate option: each of CONNECTIONS (30) waits PACE_MS (20) after every answer, so the
# rate is 30 x 1000 / (20 + latency) per second, about 1,000 at a 10 ms mean: read the achieved
# Requests/sec next to each p99.
#
#   bash perf/wrk/bench-db-tls.sh        # needs wrk (Debian: apt-get install wrk)
#
# PostgreSQL and the app run on CPU 0, wrk on CPU 1 (taskset), as in bench-service.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-30}
PACE_MS=${PACE_MS:-20}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

cargo build --release -q -p app --bins --examples
server=(taskset -c 0) client=(taskset -c 1)
taskset -c 0 true 2>/dev/null || server=() client=()
# shellcheck source=perf/member.sh
source perf/member.sh
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait || true; rm -rf "$work"' EXIT

# ticks PGID PID: CPU ticks (user + system) so far of process group PGID (PostgreSQL: the
# launcher starts it in a group of its own) and of process PID (the app).
ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v pg="$1" -v app="$2" '
    { split(substr($0, index($0, ") ") + 2), f, " ") }
    f[3] == pg || $1 == app { s += f[12] + f[13] }
    END { print s }'
}

# round MODE: PostgreSQL (MODE: tls or plain) and the app, a member with 20 tasks, then wrk.
round() {
  local mode=$1 url api=http://127.0.0.1:8097 pg app token
  rm -f "$work/pg" # not the previous round's URL
  "${server[@]}" target/release/examples/ephemeral_postgres "$mode" >"$work/pg" & pg=$!
  pids=("$pg")
  until url=$(sed -n 's/^APP_DATABASE_URL=//p' "$work/pg") && [ -n "$url" ]; do
    kill -0 "$pg" || { echo "PostgreSQL did not start" >&2; exit 1; }
    sleep 0.1
  done
  APP_DATABASE_URL="$url" APP_LISTEN=127.0.0.1:8097 APP_OPS_LISTEN=127.0.0.1:9097 APP_DRAIN_SECONDS=0 \
    APP_LOGIN_LIMIT_PER_IP=1000 APP_LOGIN_LIMIT_PER_ACCOUNT=1000 \
    "${server[@]}" target/release/app >/dev/null & app=$!
  pids=("$app" "$pg")
  until curl -sf "$api/readyz" >/dev/null; do
    kill -0 "$app" || { echo "the app did not start" >&2; exit 1; }
    sleep 0.1
  done
  token=$(member_token "$api")
  postmaster=$(ps -o pid=,comm= --ppid "$pg" | awk '$2 == "postgres" { print $1 }')
  before=$(ticks "$postmaster" "$app")
  echo "=== $mode ($(grep -o 'sslmode=[a-z-]*' <<<"$url" || echo 'no sslmode'))"
  TOKEN=$token PACE_MS=$PACE_MS "${client[@]}" wrk --latency -t1 -c"$CONNECTIONS" -d "$DURATION" \
    -s perf/wrk/paced.lua "$api/v1/tasks" | tee "$work/wrk" | sed -n '/Latency Distribution/,/Transfer/p'
  cpu=$(python3 -c "import sys; t, n = int(sys.argv[1]), int(sys.argv[2]); print(f'{t * 1000 / $(getconf CLK_TCK) / n:.2f}')" \
    "$(($(ticks "$postmaster" "$app") - before))" "$(awk '/requests in/ { print $1 }' "$work/wrk")")
  echo "$mode p99 $(sed -n 's/^ *99% *//p' "$work/wrk") at $(sed -n 's/^Requests\/sec: *//p' "$work/wrk") req/s;" \
    "app + PostgreSQL CPU $cpu ms per request" >>"$work/p99"
  kill "$app" "$pg"
  wait "$app" "$pg" || true
}

for _ in $(seq "$ROUNDS"); do
  round tls
  round plain
done
echo
echo "=== p99 per round (wrk --latency -t1 -c$CONNECTIONS, PACE_MS=$PACE_MS, $DURATION)"
sort -s -k1,1 "$work/p99"

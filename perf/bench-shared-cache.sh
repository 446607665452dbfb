#!/usr/bin/env bash
# Issue 18's benchmark: two clones of HEAD acting as two machines, one S3 bucket between them
# (moto over TLS with a throw-away CA). The writer runs `cargo xtask ci`
# with the writer key: every gate runs and its pass goes to the bucket, signed. The reader is a
# fresh clone with an empty target directory and no writer key: the figure is its wall time from
# `cargo xtask ci` (building xtask included) to the verdict, and how many gates it ran.
#
#   bash perf/bench-shared-cache.sh                 # the writer is a fresh clone too (a cold ci)
#   WRITER=/tmp/cold bash perf/bench-shared-cache.sh # reuse a clone of HEAD whose target is warm
#
# Both clones commit the same `[cache]` section on a branch `bench-shared-cache`, so the reader's
# tree is clean and identical to the writer's. Everything else lives under BENCH_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /tmp/gatehouse-bench-XXXXXX)}
mkdir -p "$work"
log() { echo "[bench] $*" >&2; }

# --- the bucket: moto over TLS, its certificate from a CA made for this run
moto=$(cd "$root" && cargo xtask tools path moto)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=bench-ca \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$work/moto.key" -out "$work/moto.csr" 2>/dev/null
openssl x509 -req -days 1 -in "$work/moto.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -out "$work/moto.pem" \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth') 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" --ssl-cert "$work/moto.pem" --ssl-key "$work/moto.key" \
  >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
endpoint=https://127.0.0.1:$port
for _ in $(seq 300); do curl -sf --cacert "$work/ca.pem" "$endpoint/moto-api/" >/dev/null && break; sleep 0.1; done
curl -sf --cacert "$work/ca.pem" -X PUT "$endpoint/bench-cache" >/dev/null
log "bucket s3://bench-cache at $endpoint"

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
export GATEHOUSE_CA_FILE=$work/ca.pem CI=true
unset GATEHOUSE_CACHE GATEHOUSE_CACHE_KEY RUSTC_WRAPPER

# --- the writer
writer=${WRITER:-$work/writer}
[ -d "$writer" ] || git clone -q "$root" "$writer"
cd "$writer"
[ "$(git rev-parse HEAD)" = "$(git -C "$root" rev-parse HEAD)" ] ||
  { echo "$writer is not at $(git -C "$root" rev-parse --short HEAD)" >&2; exit 2; }
git checkout -q -B bench-shared-cache
key=$(cargo xtask cache keygen --force --public-key .gatehouse/cache.pub | tail -n1)
printf '\n[cache]\nshared = "s3://bench-cache/team"\npublic_key = ".gatehouse/cache.pub"\nendpoint = "%s"\n' \
  "$endpoint" >>gatehouse.toml
git add gatehouse.toml .gatehouse/cache.pub
git -c user.name=bench -c user.email=bench@localhost commit -q -m "bench: the shared cache"
rm -rf target/xtask/cache # the local store: every gate runs and writes to the bucket
log "writer: cargo xtask ci in $writer"
start=$SECONDS
GATEHOUSE_CACHE_KEY=$key cargo xtask ci >"$work/writer.log" 2>&1 || { tail -30 "$work/writer.log" >&2; exit 1; }
log "writer: $((SECONDS - start)) s"

# --- the reader: a fresh clone, empty target directory, no writer key
reader=$work/reader
rm -rf "$reader"
git clone -q -b bench-shared-cache "$writer" "$reader"
cd "$reader"
log "reader: cargo xtask ci in $reader"
start=$SECONDS
cargo xtask ci >"$work/reader.log" 2>&1 || { tail -30 "$work/reader.log" >&2; exit 1; }
elapsed=$((SECONDS - start))
python3 - target/xtask/runs/latest/report.json "$elapsed" <<'EOF'
import json, sys, collections
report = json.load(open(sys.argv[1]))
counts = collections.Counter(g["status"] for g in report["gates"])
ran = sorted(g["name"] for g in report["gates"] if g["status"] != "cached")
print(f"reader: {sys.argv[2]} s to the verdict '{report['outcome']}' (exit {report['exit_code']}); "
      f"gates {dict(counts)}; ran: {', '.join(ran) or 'none'}")
EOF

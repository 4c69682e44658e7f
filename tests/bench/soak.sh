#!/usr/bin/env bash
# Soak: a million mixed requests (JSON, streams, clients leaving mid-stream,
# upstream errors) through a release-built switchyard-proxy in front of
# bench-upstream, with the proxy's RSS and open file descriptors sampled
# beside the request counts. See README.md beside this file. Not part of the
# test suite: CI never runs it.
#
#   tests/bench/soak.sh [--requests N] [--concurrency C] [--mix SPEC] [--every S]
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/bench/soak.sh [--requests N] [--concurrency C] [--mix SPEC] [--every S]

  --requests N     requests to send (default 1000000)
  --concurrency C  loadgen workers, one request in flight each (default 32)
  --mix SPEC       kinds and weights (default json=50,stream=30,disconnect=10,error=10)
  --every S        seconds between two samples of the proxy (default 5)

Environment: SOAK_NO_BUILD=1 uses the binaries already in target/release.
EOF
}

REQUESTS=1000000
CONCURRENCY=32
MIX="json=50,stream=30,disconnect=10,error=10"
EVERY=5

need_int() {
    if [[ ! ${2:-} =~ ^[1-9][0-9]*$ ]]; then
        echo "soak.sh: $1 needs a whole number above 0, got '${2:-}'" >&2
        exit 2
    fi
}

while (($# > 0)); do
    case $1 in
        --requests) need_int "$1" "${2:-}"; REQUESTS=$2; shift 2 ;;
        --concurrency) need_int "$1" "${2:-}"; CONCURRENCY=$2; shift 2 ;;
        --mix) [[ -n ${2:-} ]] || { echo "soak.sh: --mix needs a value" >&2; exit 2; }; MIX=$2; shift 2 ;;
        --every) need_int "$1" "${2:-}"; EVERY=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "soak.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN="$ROOT/target/release"
CLIENT_KEY="sk-soak-client-0123456789"
MODEL="gpt-4o-mini"

log() { printf '[soak %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-soak.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in {1..50}; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if ((rc != 0)); then
        log "logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# VmRSS (kB) and open file descriptors of process $1.
proc_sample() {
    local rss fds
    rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status")
    fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    echo "$rss $fds"
}

if [[ ${SOAK_NO_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p switchyard-tests -p switchyard-proxy --bins)
fi
for b in bench-upstream loadgen switchyard-proxy; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing (cargo build --release -p switchyard-tests -p switchyard-proxy --bins)"
done

# bench-upstream prints its URL as its first line.
"$BIN/bench-upstream" --listen 127.0.0.1:0 >"$TMP/upstream.out" 2>"$TMP/upstream.err" &
PIDS+=("$!")
UPSTREAM_URL=""
for _ in {1..100}; do
    UPSTREAM_URL=$(head -n 1 "$TMP/upstream.out" 2>/dev/null || true)
    [[ $UPSTREAM_URL == http://* ]] && break
    UPSTREAM_URL=""
    sleep 0.1
done
[[ -n $UPSTREAM_URL ]] || die "bench-upstream printed no URL within 10 s"

# Two accounts, so an upstream 500 is retried on the other before the client
# gets its 502; breakers tolerant enough that the errors the mix asks for
# never open them (this measures leaks, not failover).
PORT=$(free_port)
ADMIN_PORT=$(free_port)
cat >"$TMP/gateway.yaml" <<EOF
providers:
  - name: up
    kind: openai-compatible
    base_url: "$UPSTREAM_URL/v1"
    accounts:
      - {name: a, api_key: "sk-soak-upstream-a-000000"}
      - {name: b, api_key: "sk-soak-upstream-b-000000"}
models:
  - {name: $MODEL, targets: [{provider: up, model: $MODEL}]}
keys:
  - {name: soak, key: "$CLIENT_KEY"}
settings:
  limits: {max_concurrency: 100000}
  breaker: {consecutive_failures: 1000, failure_rate: 1.0, min_requests: 1000000}
EOF
RUST_LOG=warn "$BIN/switchyard-proxy" --config "$TMP/gateway.yaml" \
    --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --grace-seconds 1 \
    >"$TMP/proxy.out" 2>"$TMP/proxy.err" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
for _ in {1..100}; do
    kill -0 "$PROXY_PID" 2>/dev/null || die "switchyard-proxy exited during startup: $(tail -n 5 "$TMP/proxy.err")"
    curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" || die "switchyard-proxy not ready within 10 s"

read -r START_RSS START_FDS < <(proc_sample "$PROXY_PID")
log "switchyard-proxy pid $PROXY_PID on :$PORT in front of $UPSTREAM_URL; idle: $((START_RSS / 1024)) MB, $START_FDS fds"
log "sending $REQUESTS requests at c=$CONCURRENCY, mix $MIX; a sample every ${EVERY}s"

START=$EPOCHREALTIME
"$BIN/loadgen" --url "http://127.0.0.1:$PORT/v1/chat/completions" --key "$CLIENT_KEY" --model "$MODEL" \
    --concurrency "$CONCURRENCY" --mix "$MIX" --requests "$REQUESTS" --warmup 0s \
    --watch-pid "$PROXY_PID" --watch-every "${EVERY}s" >"$TMP/loadgen.json" 2> >(tee "$TMP/loadgen.err" >&2) ||
    die "loadgen failed"
END=$EPOCHREALTIME
kill -0 "$PROXY_PID" 2>/dev/null || die "switchyard-proxy died during the soak: $(tail -n 5 "$TMP/proxy.err")"

# Idle again: connections closed, streams drained.
sleep 3
read -r END_RSS END_FDS < <(proc_sample "$PROXY_PID")
curl -fsS "http://127.0.0.1:$ADMIN_PORT/metrics" >"$TMP/metrics.txt" || die "no /metrics"
curl -fsS "http://127.0.0.1:$ADMIN_PORT/status" >"$TMP/status.json" || die "no /status"

python3 - "$TMP/loadgen.json" "$TMP/metrics.txt" "$TMP/status.json" "$START" "$END" \
    "$START_RSS" "$START_FDS" "$END_RSS" "$END_FDS" <<'EOF'
import json, sys

run = json.loads(next(l for l in open(sys.argv[1]) if l.strip().startswith("{")))
metrics = open(sys.argv[2]).read().splitlines()
status = json.load(open(sys.argv[3]))
start, end = float(sys.argv[4]), float(sys.argv[5])
start_rss, start_fds, end_rss, end_fds = (int(x) for x in sys.argv[6:10])
samples = run.get("samples", [])
total = sum(k["requests"] + k["errors"] for k in run["kinds"].values())
# Warm: the first sample past a tenth of the requests.
warm = next((s for s in samples if s["requests"] >= total / 10), samples[-1] if samples else None)
max_rss = max([s["rss_kb"] for s in samples] + [start_rss, end_rss])
max_fds = max([s["fds"] for s in samples] + [start_fds, end_fds])
inflight = sum(float(l.split()[-1]) for l in metrics if l.startswith("switchyard_inflight_requests"))
wall = end - start

mb = lambda kb: f"{kb / 1024:.1f} MB"
print()
print(f"Soak: {total} requests in {wall:.0f} s ({total / wall:.0f} rps), c={run['concurrency']}")
print(f"  {'kind':<11} {'ok':>9} {'errors':>7}")
for name, k in run["kinds"].items():
    print(f"  {name:<11} {k['requests']:>9} {k['errors']:>7}")
print(f"  {'RSS / fds':<11} start {mb(start_rss)} / {start_fds}, "
      + (f"warm {mb(warm['rss_kb'])} / {warm['fds']} (at {warm['requests']} requests), " if warm else "")
      + f"end {mb(end_rss)} / {end_fds} (idle), max {mb(max_rss)} / {max_fds}")
usage = status.get("usage", {})
print(f"  proxy: in flight at the end {inflight:.0f}; usage records {usage.get('records')}, "
      f"client_closed {usage.get('client_closed')}")
flat_rss = warm is None or end_rss <= warm["rss_kb"] * 1.10 + 2048
# Idle upstream connections stay pooled after the load: compare with warm too.
flat_fds = warm is None or end_fds <= warm["fds"] + 4
print(f"  -> RSS {'flat' if flat_rss else 'GROWING'} (end within 10% + 2 MB of warm), "
      f"fds {'flat' if flat_fds else 'GROWING'} (end at most 4 above warm), "
      f"in flight {'0' if inflight == 0 else 'NOT 0'}")
sys.exit(0 if flat_rss and flat_fds and inflight == 0 else 1)
EOF

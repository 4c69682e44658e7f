#!/usr/bin/env bash
# Benchmark: a direct call to bench-upstream, nginx proxy_pass in front of it,
# and switchyard-proxy in front of it (with usage accounting, and a second one
# without: --usage-sink none), interleaved in one run. See README.md beside
# this file. Not part of the test suite: CI never runs it.
#
#   tests/bench/run.sh [--rounds N] [--duration S] [--quick]
#
# The soak (a million mixed requests, RSS and fds sampled) is tests/bench/soak.sh.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/bench/run.sh [--rounds N] [--duration S] [--quick]

  --rounds N      rounds over every case and target (default 3)
  --duration S    seconds of load per run, after a 1 s warmup (default 10)
  --quick         1 round of 3 s: a smoke test of the script

Environment: BENCH_UPSTREAM_ARGS (extra bench-upstream flags, e.g.
"--events 20 --event-delay-us 0"), BENCH_RESULTS (results file path),
BENCH_NO_BUILD=1 (use the binaries already in target/release),
BENCH_PROXY_ARGS (extra switchyard-proxy flags, e.g. "--worker-threads 1").
EOF
}

ROUNDS=3
DURATION=10
WARMUP=1

need_int() {
    if [[ ! ${2:-} =~ ^[0-9]+$ ]]; then
        echo "run.sh: $1 needs a whole number, got '${2:-}'" >&2
        exit 2
    fi
}

while (($# > 0)); do
    case $1 in
        --rounds) need_int "$1" "${2:-}"; ROUNDS=$2; shift 2 ;;
        --duration) need_int "$1" "${2:-}"; DURATION=$2; shift 2 ;;
        --quick) ROUNDS=1; DURATION=3; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if ((ROUNDS < 1 || DURATION < 1)); then
    echo "run.sh: --rounds and --duration must be at least 1" >&2
    exit 2
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN="$ROOT/target/release"
CLIENT_KEY="sk-bench-client-0123456789"
MODEL="gpt-4o-mini"
HZ=$(getconf CLK_TCK)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes

TMP=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-bench.XXXXXX")
PIDS=()

cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
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
        for f in "$TMP"/*.err "$TMP"/nginx-error.log; do
            [[ -s $f ]] || continue
            echo "---- tail of $f" >&2
            tail -n 20 "$f" >&2
        done
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

# Waits until 127.0.0.1:$1 accepts connections (process $2 must stay alive).
wait_port() {
    local port=$1 pid=$2 name=$3
    for _ in {1..100}; do
        kill -0 "$pid" 2>/dev/null || die "$name exited during startup"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not listen on port $port within 10 s"
}

# ---------------------------------------------------------------- build, nginx

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -p switchyard-tests -p switchyard-proxy --bins)
fi
for b in bench-upstream loadgen switchyard-proxy; do
    [[ -x $BIN/$b ]] || die "$BIN/$b is missing (cargo build --release -p switchyard-tests -p switchyard-proxy --bins)"
done

if ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
    if [[ -n ${CI:-} ]]; then
        die "nginx is not installed, and this script never installs it under CI"
    fi
    ((EUID == 0)) || die "nginx is not installed; install it (apt-get install nginx-light) or run as root"
    log "installing nginx"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq nginx-light >&2 || apt-get install -y -qq nginx >&2 ||
        die "could not install nginx"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---------------------------------------------------------------- start, stop

# Stops the given processes (TERM, then KILL after 5 s) and forgets them.
stop_pids() {
    local pid p keep=()
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        for _ in {1..50}; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        [[ " $* " == *" $p "* ]] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

declare -A URL=()
read -ra UPSTREAM_EXTRA <<<"${BENCH_UPSTREAM_ARGS:-}"

# Starts fresh bench-upstream, nginx and switchyard-proxy processes (each round
# gets its own, so the rounds are independent samples of a process's life).
# Logs of round N go to $TMP/*.N.{out,err}.
start_targets() {
    local n=$1
    # bench-upstream prints its URL as its first line.
    "$BIN/bench-upstream" --listen 127.0.0.1:0 "${UPSTREAM_EXTRA[@]}" \
        >"$TMP/upstream.$n.out" 2>"$TMP/upstream.$n.err" &
    UPSTREAM_PID=$!
    PIDS+=("$UPSTREAM_PID")
    UPSTREAM_URL=""
    for _ in {1..100}; do
        kill -0 "$UPSTREAM_PID" 2>/dev/null || die "bench-upstream exited during startup"
        UPSTREAM_URL=$(head -n 1 "$TMP/upstream.$n.out" 2>/dev/null || true)
        [[ $UPSTREAM_URL == http://* ]] && break
        UPSTREAM_URL=""
        sleep 0.1
    done
    [[ -n $UPSTREAM_URL ]] || die "bench-upstream printed no URL within 10 s"
    local hostport=${UPSTREAM_URL#http://}
    hostport=${hostport%%/*}

    local nginx_port
    nginx_port=$(free_port)
    sed -e "s|@TMP@|$TMP|g" -e "s|@UPSTREAM@|$hostport|g" -e "s|@LISTEN@|127.0.0.1:$nginx_port|g" \
        "$HERE/nginx.conf.tmpl" >"$TMP/nginx.conf"
    "$NGINX" -t -q -p "$TMP" -c "$TMP/nginx.conf" 2>"$TMP/nginx-t.err" ||
        die "nginx refused its config: $(cat "$TMP/nginx-t.err")"
    "$NGINX" -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/nginx.$n.out" 2>"$TMP/nginx.$n.err" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_port "$nginx_port" "$NGINX_PID" nginx

    local proxy_port admin_port off_port off_admin_port
    proxy_port=$(free_port)
    admin_port=$(free_port)
    off_port=$(free_port)
    off_admin_port=$(free_port)
    cat >"$TMP/gateway.yaml" <<EOF
providers:
  - name: up
    kind: openai-compatible
    base_url: "$UPSTREAM_URL/v1"
    accounts: [{name: a, api_key: "sk-bench-upstream-000000"}]
models:
  - {name: $MODEL, targets: [{provider: up, model: $MODEL}]}
keys:
  - {name: bench, key: "$CLIENT_KEY"}
settings:
  limits: {max_concurrency: 100000}
EOF
    # shellcheck disable=SC2086 # BENCH_PROXY_ARGS is split into flags on purpose
    RUST_LOG=warn "$BIN/switchyard-proxy" --config "$TMP/gateway.yaml" \
        --listen "127.0.0.1:$proxy_port" --admin-listen "127.0.0.1:$admin_port" --grace-seconds 1 \
        ${BENCH_PROXY_ARGS:-} >"$TMP/proxy.$n.out" 2>"$TMP/proxy.$n.err" &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    # The same proxy with usage accounting off, to measure what accounting costs.
    # shellcheck disable=SC2086
    RUST_LOG=warn "$BIN/switchyard-proxy" --config "$TMP/gateway.yaml" --usage-sink none \
        --listen "127.0.0.1:$off_port" --admin-listen "127.0.0.1:$off_admin_port" --grace-seconds 1 \
        ${BENCH_PROXY_ARGS:-} >"$TMP/noacct.$n.out" 2>"$TMP/noacct.$n.err" &
    PROXY_OFF_PID=$!
    PIDS+=("$PROXY_OFF_PID")
    wait_port "$proxy_port" "$PROXY_PID" switchyard-proxy
    wait_port "$off_port" "$PROXY_OFF_PID" "switchyard-proxy --usage-sink none"
    for port in "$admin_port" "$off_admin_port"; do
        for _ in {1..50}; do
            curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
            sleep 0.1
        done
    done

    URL=(
        [direct]="$UPSTREAM_URL/v1/chat/completions"
        [nginx]="http://127.0.0.1:$nginx_port/v1/chat/completions"
        [proxy]="http://127.0.0.1:$proxy_port/v1/chat/completions"
        [noacct]="http://127.0.0.1:$off_port/v1/chat/completions"
    )
    log "started: bench-upstream $UPSTREAM_URL (pid $UPSTREAM_PID), nginx :$nginx_port (master pid $NGINX_PID)," \
        "switchyard-proxy :$proxy_port (pid $PROXY_PID), without accounting :$off_port (pid $PROXY_OFF_PID)"
}

stop_targets() {
    stop_pids "$PROXY_PID" "$PROXY_OFF_PID" "$NGINX_PID" "$UPSTREAM_PID"
}

TARGETS=(direct nginx proxy noacct)
# name:stream:concurrency
CASES=(json:0:1 json:0:32 json:0:128 stream:1:1 stream:1:32)

# ---------------------------------------------------------------- /proc

# Children of nginx's master: its workers.
nginx_workers() {
    local stat rest f pids=()
    for stat in /proc/[0-9]*/stat; do
        { read -r rest <"$stat"; } 2>/dev/null || continue
        rest=${rest##*) }
        read -ra f <<<"$rest"
        if [[ ${f[1]} == "$NGINX_PID" ]]; then
            pids+=("${stat//[^0-9]/}")
        fi
    done
    echo "${pids[*]}"
}

# Sum of utime+stime, in clock ticks, of the given processes.
cpu_ticks() {
    local pid rest f total=0
    for pid in "$@"; do
        { read -r rest <"/proc/$pid/stat"; } 2>/dev/null || continue
        rest=${rest##*) }
        read -ra f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# Sum of a /proc/PID/status field (kB) over the given processes.
status_kb() {
    local field=$1 pid sum=0 v
    shift
    for pid in "$@"; do
        v=$(awk -v k="$field:" '$1 == k { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# Resets VmHWM of the given processes; prints 1 when every reset worked.
reset_peak() {
    local pid ok=1
    for pid in "$@"; do
        if ! { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null; then
            ok=0
        fi
    done
    echo "$ok"
}

now() { echo "$EPOCHREALTIME"; }

# Busy clock ticks of the whole machine (every field of /proc/stat's cpu line
# but idle and iowait; guest time is already in user).
busy_ticks() {
    local _cpu user nice system _idle _iowait irq softirq steal
    read -r _cpu user nice system _idle _iowait irq softirq steal _ </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# CPU ticks of this shell's reaped children (cutime + cstime): loadgen's, once
# it has been waited for.
children_ticks() {
    local rest f
    read -r rest <"/proc/$$/stat"
    rest=${rest##*) }
    read -ra f <<<"$rest"
    echo $((f[13] + f[14]))
}

# ---------------------------------------------------------------- runs

RESULTS=${BENCH_RESULTS:-$ROOT/target/bench/results-$(date +%Y%m%d-%H%M%S).jsonl}
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"

# target_pids TARGET -> the processes whose CPU counts for TARGET
target_pids() {
    case $1 in
        direct) echo "" ;;
        nginx) echo "$NGINX_PID $(nginx_workers)" ;;
        proxy) echo "$PROXY_PID" ;;
        noacct) echo "$PROXY_OFF_PID" ;;
    esac
}
# rss_pids TARGET -> the processes whose peak RSS counts for TARGET
rss_pids() {
    case $1 in
        direct) echo "" ;;
        nginx) nginx_workers ;;
        proxy) echo "$PROXY_PID" ;;
        noacct) echo "$PROXY_OFF_PID" ;;
    esac
}

loadgen_args() { # TARGET STREAM CONCURRENCY
    local a=(--url "${URL[$1]}" --concurrency "$3" --model "$MODEL" --key "$CLIENT_KEY")
    (($2)) && a+=(--stream)
    printf '%s\n' "${a[@]}"
}

# Checks that every target answers, both JSON and streams, before measuring.
smoke() {
    local t s out args
    for t in "${TARGETS[@]}"; do
        for s in 0 1; do
            mapfile -t args < <(loadgen_args "$t" "$s" 4)
            out=$(timeout 60 "$BIN/loadgen" "${args[@]}" --requests 40 --warmup 0s 2>>"$TMP/loadgen.err") ||
                die "loadgen failed against $t (stream=$s): $out"
            python3 -c '
import json, sys
d = json.loads(sys.argv[1])
if d["errors"] or d["requests"] < 40:
    sys.exit(1)' "$out" || die "smoke test against $t (stream=$s) failed: $out"
        done
    done
    log "smoke test passed: every target answers JSON and streams"
}

# run_one ROUND CASE STREAM CONCURRENCY TARGET
run_one() {
    local round=$1 case=$2 stream=$3 conc=$4 target=$5
    local -a cpu_p rss_p args
    read -ra cpu_p <<<"$(target_pids "$target")"
    read -ra rss_p <<<"$(rss_pids "$target")"
    mapfile -t args < <(loadgen_args "$target" "$stream" "$conc")

    local reset
    reset=$(reset_peak "${rss_p[@]}" "$UPSTREAM_PID")

    local out="$TMP/run.json" lg ch0 ch1 l0 l1
    ch0=$(children_ticks)
    l0=$(now)
    timeout $((DURATION + WARMUP + 60)) "$BIN/loadgen" "${args[@]}" \
        --duration "${DURATION}s" --warmup "${WARMUP}s" >"$out" 2>>"$TMP/loadgen.err" &
    lg=$!
    # CPU is sampled from the end of the warmup to the end of the run and
    # turned into a rate, so the warmup does not count against the requests.
    sleep "$WARMUP.2"
    local t0 c0 u0 s0 t1 c1 u1 s1 rc=0
    t0=$(now)
    c0=$(cpu_ticks "${cpu_p[@]}")
    u0=$(cpu_ticks "$UPSTREAM_PID")
    s0=$(busy_ticks)
    wait "$lg" || rc=$?
    t1=$(now)
    c1=$(cpu_ticks "${cpu_p[@]}")
    u1=$(cpu_ticks "$UPSTREAM_PID")
    s1=$(busy_ticks)
    ch1=$(children_ticks)
    l1=$t1
    ((rc == 0)) || die "loadgen exited with $rc against $target ($case c=$conc): $(tail -n 5 "$TMP/loadgen.err")"

    local hwm rss up_hwm
    hwm=$(status_kb VmHWM "${rss_p[@]}")
    rss=$(status_kb VmRSS "${rss_p[@]}")
    up_hwm=$(status_kb VmHWM "$UPSTREAM_PID")

    python3 - "$out" "$RESULTS" <<EOF
import json, sys
with open(sys.argv[1]) as f:
    line = next(l for l in f if l.strip().startswith("{"))
d = json.loads(line)
window = $t1 - $t0
hz = $HZ
cpu_s = ($c1 - $c0) / hz
up_cpu_s = ($u1 - $u0) / hz
rps = d.get("rps") or 0
# Cores busy during the window: the whole machine, and what our processes
# used. loadgen's CPU is known only for its whole life (warmup included).
sys_cores = ($s1 - $s0) / hz / window
loadgen_cores = ($ch1 - $ch0) / hz / ($l1 - $l0)
other_cores = sys_cores - (cpu_s + up_cpu_s) / window - loadgen_cores
def per_req(cpu):
    return cpu / window / rps * 1e6 if rps and window > 0 else None
rec = {
    "kind": "run", "round": $round, "case": "$case", "target": "$target",
    "stream": bool($stream), "concurrency": $conc, "duration_arg_s": $DURATION,
    "cpu_window_s": round(window, 4),
    "cpu_s": cpu_s if "$target" != "direct" else None,
    "cpu_us_per_req": per_req(cpu_s) if "$target" != "direct" else None,
    "upstream_cpu_s": up_cpu_s, "upstream_cpu_us_per_req": per_req(up_cpu_s),
    "peak_rss_kb": $hwm if "$target" != "direct" else None,
    "rss_after_kb": $rss if "$target" != "direct" else None,
    "peak_reset": bool($reset), "upstream_peak_rss_kb": $up_hwm,
    "busy_cores": round(sys_cores, 3), "loadgen_cores": round(loadgen_cores, 3),
    "other_cores": round(other_cores, 3),
    "loadgen": d,
}
with open(sys.argv[2], "a") as f:
    f.write(json.dumps(rec) + "\n")
cpu = rec["cpu_us_per_req"]
print(f"{rps:>10.0f} rps  p50 {d.get('p50_us')} us  p99 {d.get('p99_us')} us"
      + (f"  ttft50 {d.get('ttft_p50_us')} us" if rec["stream"] else "")
      + (f"  cpu {cpu:.1f} us/req" if cpu is not None else "")
      + (f"  peak {$hwm / 1024:.1f} MB" if "$target" != "direct" else "")
      + (f"  ERRORS {d['errors']}" if d.get("errors") else "")
      + (f"  (other processes used {other_cores:.2f} cores)" if other_cores > 0.15 else ""))
EOF
}

# ---------------------------------------------------------------- main

log "results: $RESULTS"
log "plan: $ROUNDS round(s) x ${#CASES[@]} cases x ${#TARGETS[@]} targets, ${DURATION}s each after a ${WARMUP}s warmup;" \
    "$("$NGINX" -v 2>&1 | sed 's/.*: //'), fresh processes each round"
for ((round = 1; round <= ROUNDS; round++)); do
    start_targets "$round"
    smoke
    for c in "${CASES[@]}"; do
        IFS=: read -r case stream conc <<<"$c"
        for target in "${TARGETS[@]}"; do
            printf '[round %d] %-6s c=%-3d %-6s ' "$round" "$case" "$conc" "$target" >&2
            run_one "$round" "$case" "$stream" "$conc" "$target" >&2
        done
    done
    stop_targets
done

python3 "$HERE/report.py" "$RESULTS"
log "raw results: $RESULTS"

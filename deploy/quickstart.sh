#!/usr/bin/env bash
# Switchyard in one command: builds the binaries, starts a control plane on
# SQLite and one data plane subscribed to it, applies deploy/examples/gateway.yaml
# with syctl, creates a client key and prints how to call the gateway.
# Ctrl-C stops both processes cleanly. State (database, generated master key
# and tokens, the data plane's cache) lives in .quickstart/ (or $QUICKSTART_DIR).
#
# Provider keys come from the environment, as the example file references them
# (OPENAI_KEY_A, OPENAI_KEY_B, DEEPSEEK_KEY, OPENROUTER_KEY). A missing one is
# replaced by a placeholder so the file applies; that provider then answers 401
# until you export the real key and run this again.
set -euo pipefail

cd "$(dirname "$0")/.."
STATE=${QUICKSTART_DIR:-.quickstart}
LISTEN=${QUICKSTART_LISTEN:-127.0.0.1:8080}
GRPC=${QUICKSTART_GRPC:-127.0.0.1:50051}
PROFILE=${QUICKSTART_PROFILE:-release}

echo "==> building ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo build --release -q -p switchyard-control -p switchyard-proxy -p switchyard-ctl
else
    cargo build -q -p switchyard-control -p switchyard-proxy -p switchyard-ctl
fi
BIN=target/$PROFILE

umask 077
mkdir -p "$STATE"
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
[ -s "$STATE/master.key" ] || rand_hex 32 >"$STATE/master.key"
[ -s "$STATE/admin.token" ] || rand_hex 24 >"$STATE/admin.token"
[ -s "$STATE/node.token" ] || rand_hex 24 >"$STATE/node.token"
# What /metrics and /status require (Authorization: Bearer) on both processes.
[ -s "$STATE/ops.token" ] || rand_hex 24 >"$STATE/ops.token"

missing=()
for var in OPENAI_KEY_A OPENAI_KEY_B DEEPSEEK_KEY OPENROUTER_KEY; do
    if [ -z "${!var:-}" ]; then
        export "$var=sk-placeholder-$var"
        missing+=("$var")
    fi
done
# The example's own client keys: kept across runs.
for var in APP1_KEY BATCH_KEY; do
    [ -s "$STATE/$var" ] || echo "sk-${var%_KEY}-$(rand_hex 16)" | tr 'A-Z' 'a-z' >"$STATE/$var"
    export "$var=${!var:-$(cat "$STATE/$var")}"
done

export SWITCHYARD_ENDPOINT="http://$GRPC" SWITCHYARD_TOKEN_FILE="$STATE/admin.token"
pids=()
stop() {
    trap - EXIT INT TERM
    if [ ${#pids[@]} -gt 0 ]; then
        echo
        echo "==> stopping"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
}
trap stop EXIT INT TERM

echo "==> control plane (gRPC $GRPC, database $STATE/switchyard.db)"
RUST_LOG=${RUST_LOG:-warn} "$BIN/switchyard-control" --database "sqlite://$STATE/switchyard.db" \
    --master-key-file "$STATE/master.key" --admin-token-file "$STATE/admin.token" \
    --node-token-file "$STATE/node.token" --ops-token-file "$STATE/ops.token" \
    --grpc-listen "$GRPC" --http-listen 127.0.0.1:0 &
pids+=($!)
for _ in $(seq 50); do
    "$BIN/syctl" status >/dev/null 2>&1 && break
    sleep 0.2
done
"$BIN/syctl" status >/dev/null

echo "==> syctl apply -f deploy/examples/gateway.yaml"
"$BIN/syctl" apply -f deploy/examples/gateway.yaml

echo "==> data plane (OpenAI API on $LISTEN)"
RUST_LOG=${RUST_LOG:-warn} "$BIN/switchyard-proxy" --control-plane "http://$GRPC" \
    --token-file "$STATE/node.token" --cache-dir "$STATE/cache" --node-id quickstart \
    --ops-token-file "$STATE/ops.token" --listen "$LISTEN" --admin-listen 127.0.0.1:0 &
pids+=($!)

"$BIN/syctl" key rm quickstart >/dev/null 2>&1 || true
key=$("$BIN/syctl" key create quickstart -o json | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
for _ in $(seq 50); do
    "$BIN/syctl" status -o json | grep -q '"connected": *true' && break
    sleep 0.2
done

cat <<EOF

Switchyard is running.

  OpenAI base URL   http://$LISTEN/v1
  client key        $key          (shown once; also APP1_KEY=$APP1_KEY)

  curl http://$LISTEN/v1/chat/completions -H "Authorization: Bearer $key" \\
       -H 'content-type: application/json' -d '{"model": "smart", "messages": [{"role": "user", "content": "hi"}]}'

  syctl:  export SWITCHYARD_ENDPOINT=http://$GRPC SWITCHYARD_TOKEN_FILE=$STATE/admin.token
          $BIN/syctl status | provider list | key list | diff -f deploy/examples/gateway.yaml
EOF
if [ ${#missing[@]} -gt 0 ]; then
    echo "  placeholders (those providers answer 401): ${missing[*]}"
fi
echo
echo "Ctrl-C stops both."
wait

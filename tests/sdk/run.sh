#!/usr/bin/env bash
# End-to-end tests with the official Python SDKs (openai, anthropic): builds
# the debug switchyard-proxy and fake-upstream, starts one fake per provider
# kind and the proxy on free ports (tests/sdk/gateway.yaml), runs
# tests/sdk/test_*.py with pytest in a venv, and stops everything on exit.
#
#   bash tests/sdk/run.sh               # everything
#   bash tests/sdk/run.sh -k messages   # any pytest arguments
#
# The venv lives in $CARGO_TARGET_DIR/sdk-venv (else target/sdk-venv) and is
# reinstalled when requirements.txt changes; installing needs PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."

SDK_DIR=tests/sdk
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
VENV="$TARGET/sdk-venv"
PYTHON="${PYTHON:-python3}"
# How long a started process may take to say where it listens.
START_TIMEOUT_S=30

die() {
    echo "sdk tests: $*" >&2
    exit 1
}

# --- the venv -----------------------------------------------------------------
wanted="$(sha256sum "$SDK_DIR/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements" 2>/dev/null)" != "$wanted" ]]; then
    echo "== sdk venv: installing $SDK_DIR/requirements.txt into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "cannot create a venv with $PYTHON (is python3-venv installed?)"
    if ! "$VENV/bin/pip" install --disable-pip-version-check --no-input --quiet --timeout 30 \
        -r "$SDK_DIR/requirements.txt"; then
        rm -rf "$VENV"
        die "pip could not install $SDK_DIR/requirements.txt: is PyPI reachable?"
    fi
    echo "$wanted" >"$VENV/.requirements"
fi

# --- the binaries ---------------------------------------------------------------
echo "== sdk: building switchyard-proxy and fake-upstream"
cargo build --quiet -p switchyard-proxy --bin switchyard-proxy -p switchyard-tests --bin fake-upstream
BIN="$TARGET/debug"

# --- the processes ----------------------------------------------------------------
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 && -f "$WORK/proxy.log" ]]; then
        echo "== sdk: the proxy's last log lines" >&2
        tail -n 40 "$WORK/proxy.log" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until FILE has a first line matching PATTERN, for START_TIMEOUT_S at most.
wait_for_line() {
    local file=$1 pattern=$2 what=$3 pid=$4
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until grep -q -- "$pattern" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$what exited: $(tail -n 5 "$file" "${file%.*}.log" 2>/dev/null)"
        ((SECONDS < deadline)) || die "$what did not start within ${START_TIMEOUT_S}s"
        sleep 0.1
    done
}

# One fake per provider kind, each speaking only its provider's API.
for api in openai openai-compatible anthropic gemini; do
    "$BIN/fake-upstream" --api "$api" >"$WORK/$api.url" 2>"$WORK/$api.log" &
    PIDS+=($!)
    wait_for_line "$WORK/$api.url" '^http://' "fake-upstream --api $api" "$!"
done
url() { head -n 1 "$WORK/$1.url"; }
export SDK_OPENAI_URL SDK_COMPAT_URL SDK_ANTHROPIC_URL SDK_GEMINI_URL
SDK_OPENAI_URL="$(url openai)"
SDK_COMPAT_URL="$(url openai-compatible)"
# Anthropic and Gemini providers take the origin: the proxy adds their paths.
SDK_ANTHROPIC_URL="$(url anthropic)"
SDK_ANTHROPIC_URL="${SDK_ANTHROPIC_URL%/v1}"
SDK_GEMINI_URL="$(url gemini)"
SDK_GEMINI_URL="${SDK_GEMINI_URL%/v1}"
export SDK_UPSTREAM_KEY="sk-sdk-upstream-0123456789"
export SDK_CLIENT_KEY="sk-sdk-client-$RANDOM$RANDOM$RANDOM$RANDOM"

# Logs go to stderr as JSON lines; the "serving" one names both addresses.
"$BIN/switchyard-proxy" --config "$SDK_DIR/gateway.yaml" \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --grace-seconds 1 2>"$WORK/proxy.log" &
PIDS+=($!)
wait_for_line "$WORK/proxy.log" 'switchyard-proxy serving' "switchyard-proxy" "$!"
read -r LISTEN ADMIN < <("$VENV/bin/python" - "$WORK/proxy.log" <<'EOF'
import json, re, sys
for line in open(sys.argv[1]):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "switchyard-proxy serving":
        # admin is written as Some(ADDR)
        admin = re.search(r"[\d.]+:\d+", str(fields.get("admin", "")))
        print(fields["addr"], admin.group(0) if admin else "")
        break
EOF
)
[[ -n "${LISTEN:-}" && -n "${ADMIN:-}" ]] || die "cannot read the proxy's addresses from its log"
export SWITCHYARD_URL="http://$LISTEN"
export SWITCHYARD_ADMIN_URL="http://$ADMIN"
export SWITCHYARD_KEY="$SDK_CLIENT_KEY"
# The SDKs must reach 127.0.0.1 directly, whatever proxy the environment names.
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
# No __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

deadline=$((SECONDS + START_TIMEOUT_S))
until "$VENV/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$SWITCHYARD_ADMIN_URL/readyz" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the proxy was not ready within ${START_TIMEOUT_S}s"
    sleep 0.1
done

echo "== sdk: proxy at $SWITCHYARD_URL (admin $SWITCHYARD_ADMIN_URL); running pytest"
"$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE "$SDK_DIR" "$@"

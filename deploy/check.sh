#!/usr/bin/env bash
# Checks deploy/ without a container engine or a cluster:
#   * hadolint on deploy/container/Dockerfile;
#   * deploy/compose/compose.yaml against the compose spec's JSON schema;
#   * every Kubernetes kustomization (deploy/kubernetes/overlays/*, deploy/gitops)
#     rendered by `kubectl kustomize`, each resource validated against
#     Kubernetes' JSON schemas in their strict form (an unknown field fails, and
#     so does a kind without a schema) for the oldest and newest versions the
#     manifests support;
#   * the GitOps CI workflow against GitHub's workflow schema;
#   * every gateway.yaml under deploy/ with `switchyard-proxy --check`;
#   * deploy/check/manifests.py: every flag, SWITCHYARD_* variable, mounted
#     path and ${env:...} the manifests use is real (read off the binaries' --help);
#   * then that each validator still refuses a broken copy of what it passed.
# Exits non-zero on any failure.
#
#   bash deploy/check.sh
#
# The tools (deploy/check/requirements.txt) are installed from PyPI into
# $CARGO_TARGET_DIR/deploy-venv (else target/deploy-venv), reused until the
# pins change; the debug binaries are built (or reused) with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
VENV="$TARGET/deploy-venv"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=deploy/check/requirements.txt
# The oldest Kubernetes the manifests need (native sidecars, preStop sleep), and the newest schemas.
K8S_VERSIONS=(1.30.0 1.37.0)

die() {
    echo "deploy check: $*" >&2
    exit 1
}

# --- the venv -----------------------------------------------------------------
wanted="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements" 2>/dev/null)" != "$wanted" ]]; then
    echo "== deploy venv: installing $REQUIREMENTS into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "cannot create a venv with $PYTHON (is python3-venv installed?)"
    if ! "$VENV/bin/pip" install --disable-pip-version-check --no-input --quiet --timeout 30 -r "$REQUIREMENTS"; then
        rm -rf "$VENV"
        die "pip could not install $REQUIREMENTS: is PyPI reachable?"
    fi
    echo "$wanted" >"$VENV/.requirements"
fi
V="$VENV/bin"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
# check NAME COMMAND...: runs one check, prints its output when it fails.
check() {
    local name=$1
    shift
    if "$@" >"$WORK/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name"
        sed 's/^/      /' "$WORK/out"
    fi
}
# refuses NAME COMMAND...: the command must fail (a validator given a broken input).
refuses() {
    local name=$1
    shift
    if "$@" >"$WORK/out" 2>&1; then
        failed=$((failed + 1))
        echo "FAIL  $name: accepted a broken input"
    else
        passed=$((passed + 1))
        echo "ok    $name"
    fi
}

# kubernetes-validate only warns about a kind it has no schema for: a warning fails here.
k8s_validate() {
    local file=$1 version out
    for version in "${K8S_VERSIONS[@]}"; do
        out="$("$V/kubernetes-validate" --strict --quiet -k "$version" "$file" 2>&1)" || {
            echo "$out"
            return 1
        }
        if [[ -n "$out" ]]; then
            echo "$out"
            return 1
        fi
    done
}

# Every ${env:NAME} of a gateway.yaml set to a dummy secret, then --check.
gateway_check() {
    local file=$1 vars=()
    mapfile -t vars < <(grep -o '\${env:[A-Za-z_][A-Za-z0-9_]*}' "$file" | sed 's/^\${env:\(.*\)}$/\1/' | sort -u)
    local assignments=()
    for var in "${vars[@]}"; do
        assignments+=("$var=check-dummy-$var-0123456789") # distinct: two client keys may not share a value
    done
    env "${assignments[@]}" "$BIN/switchyard-proxy" --check --config "$file"
}

echo "== deploy: building the binaries (debug)"
cargo build --quiet -p switchyard-control -p switchyard-proxy -p switchyard-ctl
BIN="$TARGET/debug"

echo "== deploy: checks"
check "hadolint deploy/container/Dockerfile" "$V/hadolint" deploy/container/Dockerfile
check "compose spec: deploy/compose/compose.yaml" \
    "$V/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
check "GitHub workflow schema: deploy/gitops/ci/github-actions.yaml" \
    "$V/check-jsonschema" --builtin-schema vendor.github-workflows deploy/gitops/ci/github-actions.yaml

rendered=()
for dir in deploy/kubernetes/overlays/*/ deploy/gitops/; do
    dir=${dir%/}
    name=$(echo "$dir" | tr '/' '_')
    out="$WORK/$name.yaml"
    if check "kubectl kustomize $dir" "$V/kubectl" kustomize "$dir" -o "$out"; then
        rendered+=("$out")
        check "kubernetes schemas (strict, ${K8S_VERSIONS[*]}): $dir" k8s_validate "$out"
    fi
done
((${#rendered[@]} > 0)) || die "no kustomization rendered"

while IFS= read -r file; do
    check "switchyard-proxy --check: $file" gateway_check "$file"
done < <(find deploy -name gateway.yaml | sort)

k8s_args=()
for out in "${rendered[@]}"; do
    k8s_args+=(--k8s "$out")
done
check "flags, variables, paths and \${env:...} against the binaries" \
    "$V/python" deploy/check/manifests.py --bin "$BIN" --dockerfile deploy/container/Dockerfile \
    --compose deploy/compose/compose.yaml "${k8s_args[@]}"

# --- the validators still have teeth --------------------------------------------------
echo "== deploy: broken copies must be refused"
printf 'FROM debian:latest\nRUN apt-get update\n' >"$WORK/Dockerfile"
refuses "hadolint: an unpinned base image" "$V/hadolint" "$WORK/Dockerfile"
mkdir -p "$WORK/compose"
sed 's/^    restart: unless-stopped$/    restart: unless-stopped\n    restrat: always/' deploy/compose/compose.yaml >"$WORK/compose/compose.yaml"
grep -q restrat "$WORK/compose/compose.yaml" || die "could not break the compose file"
refuses "compose spec: an unknown service field" \
    "$V/check-jsonschema" --builtin-schema vendor.compose-spec "$WORK/compose/compose.yaml"
sed 's/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/' "${rendered[0]}" >"$WORK/broken-field.yaml"
refuses "kubernetes schemas: an unknown container field" k8s_validate "$WORK/broken-field.yaml"
sed '0,/^kind: Deployment$/s//kind: Deploymnet/' "${rendered[0]}" >"$WORK/broken-kind.yaml"
refuses "kubernetes schemas: an unknown kind" k8s_validate "$WORK/broken-kind.yaml"
sed 's/--allow-insecure-control-plane/--allow-insecure-controlplane/' "${rendered[0]}" >"$WORK/broken-flag.yaml"
refuses "manifests.py: a flag the binary does not take" \
    "$V/python" deploy/check/manifests.py --bin "$BIN" --dockerfile deploy/container/Dockerfile --k8s "$WORK/broken-flag.yaml"

echo "deploy checks: $passed passed, $failed failed"
((failed == 0))

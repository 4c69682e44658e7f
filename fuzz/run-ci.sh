#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a CI-sized budget, from the
# checked-in seeds (fuzz/corpus/<target>/); exits non-zero when any target
# finds a crash or a broken property. See README.md, "Fuzzing".
#
#   fuzz/run-ci.sh [TARGET...]      (default: every target, `cargo fuzz list`)
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_JOBS       targets run at once (default 2: one per core)
#   FUZZ_SANITIZER  address (default) or none
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets it take the -Z flags that
# cargo fuzz passes (sanitizer, coverage instrumentation).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
SANITIZER=${FUZZ_SANITIZER:-address}
for v in "$SECONDS_EACH" "$JOBS"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "run-ci.sh: FUZZ_SECONDS and FUZZ_JOBS take a whole number above 0" >&2; exit 2; }
done
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== cargo fuzz build (sanitizer: $SANITIZER)"
if (($# == 1)); then
    cargo fuzz build --sanitizer "$SANITIZER" "$1"
else
    cargo fuzz build --sanitizer "$SANITIZER"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
touch "$WORK/start" # crash files older than this are from earlier runs

# One target: new inputs go to a scratch corpus, the seeds are only read.
run_one() {
    local t=$1
    mkdir -p "$WORK/$t"
    timeout $((SECONDS_EACH + 300)) cargo fuzz run --sanitizer "$SANITIZER" "$t" "$WORK/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$WORK/$t.log" 2>&1
}

report() {
    local t=$1 rc=$2 runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$t.log" | grep -o '[0-9]*$' || echo "?")
    if ((rc == 0)); then
        echo "fuzz $t: ok, $runs runs in ${SECONDS_EACH}s, corpus $(find "$WORK/$t" -type f | wc -l) new inputs"
        return 0
    fi
    echo "fuzz $t: FAILED (exit $rc):"
    grep -m 1 -A 4 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$WORK/$t.log" || true
    echo "---- the end of its log:"
    grep -v '^#[0-9]' "$WORK/$t.log" | tail -n 30
    local a
    for a in artifacts/"$t"/*; do
        [[ -f $a && $a -nt $WORK/start ]] || continue
        echo "---- $PWD/$a (base64; reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $a)"
        base64 -w 0 "$a"
        echo
    done
    return 1
}

echo "== fuzzing ${#targets[@]} targets, ${SECONDS_EACH}s each, $JOBS at a time"
declare -A pid_of=()
failed=0
passed=0
finish_one() { # waits for any one target and reports it
    local done_pid rc=0 t
    wait -n -p done_pid "${pid_of[@]}" || rc=$?
    for t in "${!pid_of[@]}"; do
        if [[ ${pid_of[$t]} == "$done_pid" ]]; then
            unset "pid_of[$t]"
            if report "$t" "$rc"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        fi
    done
}
for t in "${targets[@]}"; do
    [[ -d corpus/$t ]] || { echo "run-ci.sh: no seeds in corpus/$t" >&2; exit 2; }
    while ((${#pid_of[@]} >= JOBS)); do finish_one; done
    run_one "$t" &
    pid_of[$t]=$!
done
while ((${#pid_of[@]} > 0)); do finish_one; done

echo "fuzz: $passed passed, $failed failed"
((failed == 0))

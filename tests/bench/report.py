#!/usr/bin/env python3
"""Report of a tests/bench/run.sh results file (JSON lines). Standard library only.

    python3 tests/bench/report.py target/bench/results-YYYYmmdd-HHMMSS.jsonl

Every number is the median over the rounds. "+p50" and "+ttft" are the
target's p50 (TTFT p50) minus the direct call's in the same round, medians of
those differences.
"""

import json
import statistics
import sys

# noacct: switchyard-proxy with usage accounting off (--usage-sink none)
TARGETS = ("direct", "nginx", "proxy", "noacct")
# (case, concurrency) in the order run.sh runs them
CASE_ORDER = [("json", 1), ("json", 32), ("json", 128), ("stream", 1), ("stream", 32)]

# Targets for switchyard-proxy.
MAX_ADDED_P50_US = 100  # json c=1
MAX_ADDED_TTFT_P50_US = 200  # stream c=1
MIN_RPS_RATIO = 0.8  # proxy rps / nginx rps, json c=32 and c=128
MAX_PEAK_RSS_MB = 25.0  # json c=128


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0, width=9):
    if v is None:
        return "-".rjust(width)
    if digits == 0:
        return f"{v:,.0f}".rjust(width)
    return f"{v:,.{digits}f}".rjust(width)


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if rec.get("kind") == "run":
                runs.append(rec)
    return runs


def summarize(runs):
    """{(case, conc): {target: {metric: median}}}"""
    by = {}
    for r in runs:
        by.setdefault((r["case"], r["concurrency"]), {}).setdefault(r["target"], []).append(r)
    out = {}
    for key, targets in by.items():
        direct_by_round = {r["round"]: r["loadgen"] for r in targets.get("direct", [])}
        out[key] = {}
        for target, rs in targets.items():
            added_p50, added_ttft = [], []
            for r in rs:
                d = direct_by_round.get(r["round"])
                lg = r["loadgen"]
                if d is not None and lg.get("p50_us") is not None and d.get("p50_us") is not None:
                    added_p50.append(lg["p50_us"] - d["p50_us"])
                if d is not None and lg.get("ttft_p50_us") is not None and d.get("ttft_p50_us") is not None:
                    added_ttft.append(lg["ttft_p50_us"] - d["ttft_p50_us"])
            rs.sort(key=lambda r: r["round"])
            peak = median([r.get("peak_rss_kb") for r in rs])
            out[key][target] = {
                "rounds": len(rs),
                "rps": median([r["loadgen"].get("rps") for r in rs]),
                "p50": median([r["loadgen"].get("p50_us") for r in rs]),
                "p99": median([r["loadgen"].get("p99_us") for r in rs]),
                "ttft_p50": median([r["loadgen"].get("ttft_p50_us") for r in rs]) if key[0] == "stream" else None,
                "added_p50": median(added_p50) if target != "direct" else None,
                "added_ttft": median(added_ttft) if target != "direct" and key[0] == "stream" else None,
                "cpu": median([r.get("cpu_us_per_req") for r in rs]),
                "up_cpu": median([r.get("upstream_cpu_us_per_req") for r in rs]),
                "peak_mb": peak / 1024 if peak is not None and target != "direct" else None,
                "errors": sum(r["loadgen"].get("errors", 0) for r in rs),
                "requests": sum(r["loadgen"].get("requests", 0) for r in rs),
                "peak_reset": all(r.get("peak_reset", False) for r in rs),
                "per_round": {
                    "rps": [r["loadgen"].get("rps") for r in rs],
                    "added_p50": added_p50,
                    "added_ttft": added_ttft,
                    "peak_mb": [r["peak_rss_kb"] / 1024 if r.get("peak_rss_kb") else None for r in rs],
                },
            }
    return out


def verdict(ok):
    if ok is None:
        return "n/a "
    return "PASS" if ok else "MISS"


def report(path):
    runs = load(path)
    if not runs:
        print(f"no runs in {path}")
        return 1
    summary = summarize(runs)
    rounds = max(r["round"] for r in runs)
    duration = runs[0].get("duration_arg_s")
    lines = []
    p = lines.append
    p(f"Switchyard benchmark: {path}")
    p(f"{rounds} round(s), {duration} s per run; medians over rounds; latencies in µs; "
      "CPU = the target's own process(es), µs per request; peak RSS = VmHWM (nginx: sum over workers)")
    header = (f"  {'target':<7}{'rps':>9}{'p50':>9}{'p99':>9}{'ttft p50':>10}{'+p50':>9}"
              f"{'+ttft':>9}{'CPU/req':>9}{'up CPU':>9}{'peak MB':>9}{'errors':>8}")
    keys = [k for k in CASE_ORDER if k in summary] + sorted(k for k in summary if k not in CASE_ORDER)
    for key in keys:
        case, conc = key
        p("")
        p(f"{case} c={conc}")
        p(header)
        for target in TARGETS:
            s = summary[key].get(target)
            if s is None:
                continue
            p(f"  {target:<7}{fmt(s['rps'])}{fmt(s['p50'])}{fmt(s['p99'])}{fmt(s['ttft_p50'], width=10)}"
              f"{fmt(s['added_p50'])}{fmt(s['added_ttft'])}{fmt(s['cpu'], 1)}{fmt(s['up_cpu'], 1)}"
              f"{fmt(s['peak_mb'], 1)}{s['errors']:>8}")
        px, nx = summary[key].get("proxy"), summary[key].get("nginx")
        if px and nx:
            cpu_ratio = px["cpu"] / nx["cpu"] if px["cpu"] and nx["cpu"] else None
            rps_ratio = px["rps"] / nx["rps"] if px["rps"] and nx["rps"] else None
            p(f"  proxy/nginx: CPU per request x{fmt(cpu_ratio, 2, 0)}, rps x{fmt(rps_ratio, 2, 0)}")

    def get(case, conc, target, metric):
        s = summary.get((case, conc), {}).get(target)
        return None if s is None else s.get(metric)

    def ratio(a, b):
        return a / b if a is not None and b else None

    def rounds(case, conc, target, metric, digits=0):
        s = summary.get((case, conc), {}).get(target)
        values = [] if s is None else s["per_round"][metric]
        return "rounds " + ", ".join(fmt(v, digits, 0).strip() for v in values)

    def rps_rounds(conc):
        px = summary.get(("json", conc), {}).get("proxy")
        nx = summary.get(("json", conc), {}).get("nginx")
        if not px or not nx:
            return "rounds -"
        return "rounds " + ", ".join(fmt(ratio(a, b), 2, 0).strip()
                                     for a, b in zip(px["per_round"]["rps"], nx["per_round"]["rps"]))

    checks = []
    v = get("json", 1, "proxy", "added_p50")
    checks.append((f"proxy added p50, json c=1 <= {MAX_ADDED_P50_US} µs",
                   fmt(v, 0, 0) + " µs" if v is not None else "-",
                   None if v is None else v <= MAX_ADDED_P50_US,
                   f"{rounds('json', 1, 'proxy', 'added_p50')}; "
                   f"nginx {fmt(get('json', 1, 'nginx', 'added_p50'), 0, 0)} µs"))
    v = get("stream", 1, "proxy", "added_ttft")
    checks.append((f"proxy added TTFT p50, stream c=1 <= {MAX_ADDED_TTFT_P50_US} µs",
                   fmt(v, 0, 0) + " µs" if v is not None else "-",
                   None if v is None else v <= MAX_ADDED_TTFT_P50_US,
                   f"{rounds('stream', 1, 'proxy', 'added_ttft')}; "
                   f"nginx {fmt(get('stream', 1, 'nginx', 'added_ttft'), 0, 0)} µs"))
    for conc in (32, 128):
        v = ratio(get("json", conc, "proxy", "rps"), get("json", conc, "nginx", "rps"))
        checks.append((f"proxy rps / nginx rps, json c={conc} >= {MIN_RPS_RATIO}",
                       fmt(v, 2, 0) if v is not None else "-",
                       None if v is None else v >= MIN_RPS_RATIO,
                       f"{rps_rounds(conc)}; {fmt(get('json', conc, 'proxy', 'rps'), 0, 0)}"
                       f" vs {fmt(get('json', conc, 'nginx', 'rps'), 0, 0)} rps"))
    v = get("json", 128, "proxy", "peak_mb")
    checks.append((f"proxy peak RSS, json c=128 <= {MAX_PEAK_RSS_MB:g} MB",
                   fmt(v, 1, 0) + " MB" if v is not None else "-",
                   None if v is None else v <= MAX_PEAK_RSS_MB,
                   f"{rounds('json', 128, 'proxy', 'peak_mb', 1)}; "
                   f"nginx workers {fmt(get('json', 128, 'nginx', 'peak_mb'), 1, 0)} MB"))

    p("")
    p("Targets")
    width = max(len(c[0]) for c in checks)
    for name, value, ok, note in checks:
        p(f"  {verdict(ok)}  {name:<{width}}  {value:>10}   ({note})")
    p("")
    p("proxy CPU per request / nginx CPU per request (no target; lower is better)")
    for key in keys:
        r = ratio(get(*key, "proxy", "cpu"), get(*key, "nginx", "cpu"))
        label = f"{key[0]} c={key[1]}"
        p(f"  {label:<12} x{fmt(r, 2, 0)}   "
          f"({fmt(get(*key, 'proxy', 'cpu'), 1, 0)} vs {fmt(get(*key, 'nginx', 'cpu'), 1, 0)} µs)")

    def cpu_by_round(key, target):
        return {r["round"]: r.get("cpu_us_per_req") for r in runs
                if (r["case"], r["concurrency"]) == key and r["target"] == target}

    if any(get(*key, "noacct", "cpu") is not None for key in keys):
        p("")
        p("usage accounting: CPU per request of proxy (on) vs noacct (--usage-sink none), same run")
        for key in keys:
            on, off = get(*key, "proxy", "cpu"), get(*key, "noacct", "cpu")
            if on is None or off is None:
                continue
            on_r, off_r = cpu_by_round(key, "proxy"), cpu_by_round(key, "noacct")
            diffs = [on_r[n] - off_r[n] for n in sorted(on_r) if on_r[n] is not None and off_r.get(n) is not None]
            label = f"{key[0]} c={key[1]}"
            p(f"  {label:<12} {on:8.1f} vs {off:8.1f} µs  ({on - off:+.1f} µs, {100 * (on - off) / off:+.1f}%)"
              f"   rounds {', '.join(f'{d:+.1f}' for d in diffs)}")

    errors = sum(r["loadgen"].get("errors", 0) for r in runs)
    if errors:
        p("")
        p(f"WARNING: {errors} failed requests in the runs; see the errors column")
    busy = [r for r in runs if (r.get("other_cores") or 0) > 0.15]
    if busy:
        worst = max(busy, key=lambda r: r["other_cores"])
        p("")
        p(f"WARNING: in {len(busy)} of {len(runs)} runs other processes used more than 0.15 of the "
          f"2 cores (worst {worst['other_cores']:.2f}: round {worst['round']}, {worst['case']} "
          f"c={worst['concurrency']}, {worst['target']}); those numbers are disturbed")
    if not all(r.get("peak_reset", False) for r in runs):
        p("")
        p("NOTE: /proc/PID/clear_refs was not writable: peak RSS is the peak since start")

    print("\n".join(lines))
    return 0


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    return report(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

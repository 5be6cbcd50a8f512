"""The summary of bench/cpu_cost.py: medians, per-round ratios against nginx and direct, the
data-plane goals, the JSON result."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from harness import LOAD_CPU, PROXY_CPU, median, say, write_result

# The budget DESIGN sets for capture: sidecar vCPU per 1000 req/s with 100 % capture.
TARGET_VCPU = 0.05
# The data plane's goals (at 100 % capture): CPU per request against nginx in the same run,
# p99 added over direct at the fixed rate, capture on/off at saturation, requests per core.
GOAL_CPU_VS_NGINX = 2.0
GOAL_ADDED_P99_MS = 0.5
GOAL_CAPTURE_ON_OFF = 0.95
GOAL_REQUESTS_PER_CORE = 20_000.0


class TargetRuns(Protocol):
    name: str
    fixed: list[dict[str, float]]
    saturated: list[dict[str, float]]


def per_round(
    targets: Mapping[str, TargetRuns],
    top: str,
    bottom: str,
    key: str,
    combine: Callable[[float, float], float],
    saturated: bool = False,
) -> float:
    """Median over rounds of combine(top's value, bottom's value) taken within each round."""
    if top not in targets or bottom not in targets:
        return math.nan
    upper, lower = targets[top], targets[bottom]
    if saturated:
        pairs = zip(upper.saturated, lower.saturated, strict=False)
    else:
        pairs = zip(upper.fixed, lower.fixed, strict=False)
    return median([combine(a[key], b[key]) for a, b in pairs if key in a and key in b])


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _difference(a: float, b: float) -> float:
    return a - b


def summarize(targets: Mapping[str, TargetRuns]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name, target in targets.items():
        row = {
            key: median([r[key] for r in target.fixed if key in r])
            for key in ("cpu_seconds_per_1000", "p50_ms", "p99_ms", "p999_ms", "achieved_rate")
        }
        row["errors"] = sum(r["errors"] for r in target.fixed)
        row["cpu_vs_nginx"] = per_round(targets, name, "nginx", "cpu_seconds_per_1000", _ratio)
        row["added_p50_ms"] = per_round(targets, name, "direct", "p50_ms", _difference)
        row["added_p99_ms"] = per_round(targets, name, "direct", "p99_ms", _difference)
        if target.saturated:
            for key in ("requests_per_second", "requests_per_cpu_second", "proxy_cpu_busy"):
                row[f"saturated_{key}"] = median([r[key] for r in target.saturated])
            row["saturated_errors"] = sum(r["errors"] for r in target.saturated)
        rows[name] = row
    return rows


def _cell(value: float | None, spec: str) -> str:
    """`value` formatted by `spec` ("8.2f"), or a dash as wide when there is none."""
    if value is None or math.isnan(value):
        return "-".rjust(int(spec.lstrip("+").split(".")[0] or 0))
    return format(value, spec)


def print_table(rows: Mapping[str, dict[str, float]]) -> None:
    say("")
    say(
        f"{'proxy':<12} {'vCPU/1000rps':>12} {'x nginx':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p99.9 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'wrk req/s':>10} {'req/CPU-s':>10}"
        "   (medians)"
    )
    for name, row in rows.items():
        direct = name == "direct"
        say(
            f"{name:<12} {_cell(row['cpu_seconds_per_1000'], '12.4f')} "
            f"{_cell(None if direct else row['cpu_vs_nginx'], '8.2f')} "
            f"{row['p50_ms']:7.3f} {row['p99_ms']:7.3f} {row['p999_ms']:8.3f} "
            f"{_cell(None if direct else row['added_p50_ms'], '+8.3f')} "
            f"{_cell(None if direct else row['added_p99_ms'], '+8.3f')} "
            f"{_cell(row.get('saturated_requests_per_second'), '10.0f')} "
            f"{_cell(row.get('saturated_requests_per_cpu_second'), '10.0f')}"
        )


def goals(
    targets: Mapping[str, TargetRuns], rows: Mapping[str, dict[str, float]]
) -> dict[str, Any]:
    """The data-plane goals for 100 % capture, each with its measured value and verdict."""
    full = rows.get("capture_100", {})
    measured = {
        "cpu_vs_nginx": (full.get("cpu_vs_nginx", math.nan), GOAL_CPU_VS_NGINX, "<="),
        "added_p99_ms": (full.get("added_p99_ms", math.nan), GOAL_ADDED_P99_MS, "<="),
        # Per CPU-second: what the req/s ratio would be with the proxy CPU-bound, which wrk on
        # a shared core does not always achieve (the raw req/s ratio is printed beside it).
        "capture_on_off_saturated": (
            per_round(
                targets, "capture_100", "capture_off", "requests_per_cpu_second", _ratio, True
            ),
            GOAL_CAPTURE_ON_OFF,
            ">=",
        ),
        "requests_per_cpu_second": (
            full.get("saturated_requests_per_cpu_second", math.nan),
            GOAL_REQUESTS_PER_CORE,
            ">=",
        ),
    }
    verdicts: dict[str, Any] = {}
    for name, (value, goal, sense) in measured.items():
        met = value <= goal if sense == "<=" else value >= goal
        verdicts[name] = {"value": value, "goal": f"{sense} {goal:g}", "met": bool(met)}
    return verdicts


def noise(targets: Mapping[str, TargetRuns]) -> dict[str, float]:
    loads = [r["load_average_1m"] for t in targets.values() for r in t.fixed]
    return {"min": min(loads), "median": median(loads), "max": max(loads)} if loads else {}


def print_findings(
    targets: Mapping[str, TargetRuns],
    verdicts: dict[str, Any],
    loads: dict[str, float],
    outcomes: dict[str, dict[str, float]],
    info: dict[str, object],
) -> None:
    """The goals' verdicts, the raw saturation ratio, how noisy it was, capture outcomes."""
    for name, verdict in verdicts.items():
        say(
            f"goal {name}: {_cell(verdict['value'], '.3f')} (goal {verdict['goal']}): "
            f"{'met' if verdict['met'] else 'NOT met'}"
        )
    raw_ratio = per_round(
        targets, "capture_100", "capture_off", "requests_per_second", _ratio, True
    )
    say(f"capture on/off at saturation in raw wrk req/s (median of rounds): {raw_ratio:.3f}")
    if loads:
        say(
            f"noise: 1-minute load average over the runs min {loads['min']:.2f}, median "
            f"{loads['median']:.2f}, max {loads['max']:.2f} on {info['cpus']} CPUs"
        )
    for name, counts in outcomes.items():
        shown = ", ".join(f"{k}={v:.0f}" for k, v in sorted(counts.items()) if v)
        say(f"capture outcomes {name}: {shown or 'none'}")


def report(
    target_list: Sequence[TargetRuns],
    outcomes: dict[str, dict[str, float]],
    args: argparse.Namespace,
    info: dict[str, object],
) -> int:
    targets = {t.name: t for t in target_list}
    rows = summarize(targets)
    print_table(rows)
    proxies = {name: row["cpu_seconds_per_1000"] for name, row in rows.items() if name != "direct"}
    capture_cost = {}
    if "capture_100" in proxies and "capture_off" in proxies:
        capture_cost["capture_100"] = proxies["capture_100"] - proxies["capture_off"]
        within = capture_cost["capture_100"] <= TARGET_VCPU
        say(
            f"100 % capture costs {capture_cost['capture_100']:+.4f} vCPU per 1000 req/s over "
            f"capture off: {'within' if within else 'ABOVE'} the {TARGET_VCPU} target"
        )
    verdicts = goals(targets, rows)
    loads = noise(targets)
    print_findings(targets, verdicts, loads, outcomes, info)
    write_result(
        "cpu_cost",
        {
            "method": {
                "tool": "bench/loadgen.py (open loop, 64 keep-alive connections), /proc/PID/stat; "
                f"saturation: wrk -t1 -c{args.connections}",
                "rate": args.rate,
                "seconds_per_run": args.seconds,
                "saturation_seconds_per_run": args.saturation_seconds,
                "features_per_body": args.features,
                "rounds": args.rounds,
                "pinning": f"proxies on CPU {PROXY_CPU}; upstream + load generators on CPU "
                f"{LOAD_CPU}",
            },
            "machine": info,
            "runs": {
                name: {"fixed": t.fixed, "saturated": t.saturated} for name, t in targets.items()
            },
            "median": rows,
            "median_cpu_seconds_per_1000": proxies,
            "capture_cost_per_1000": capture_cost,
            "target_vcpu_per_1000_rps": TARGET_VCPU,
            "within_target": bool(capture_cost) and capture_cost["capture_100"] <= TARGET_VCPU,
            "goals": verdicts,
            "load_average_1m": loads,
            "capture_outcomes": outcomes,
        },
    )
    return 0

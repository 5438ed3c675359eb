"""Run every benchmark once and print the figures as markdown tables (for the README).

Usage: python bench/run_all.py            (full sizes: about 8 minutes on 2 cores)
       python bench/run_all.py --scale 0.01   (a quick look; the test uses a tiny scale)

Throughput columns (a)-(c) are measured in the same process, one after the other, on the same
BPMN; each is the median of `--runs` runs.
"""
from __future__ import annotations

import argparse
import os
import platform as host
import sys
import time
from importlib import metadata
from pathlib import Path

if __package__ in (None, ""):          # `python bench/run_all.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (common, http_api, memory, outbox_throughput, replay_speed, task_list,  # noqa: E402
                   throughput, timer_lateness)

FULL = {"one_step": 600, "http": 40, "open_tasks": 100_000, "task_queries": 300, "replay": 300,
        "memory": 100_000, "timers": 10_000, "outbox": 2000}


MINIMUM = {"task_queries": 20, "timers": 10, "outbox": 20}


def sizes(scale: float) -> dict:
    return {k: max(MINIMUM.get(k, 2), int(v * scale)) for k, v in FULL.items()}


def _n(x: float, digits: int = 0) -> str:
    if x != x:          # NaN
        return "n/a"
    return f"{x:,.{digits}f}"


def run(scale: float = 1.0, runs: int = 5, timer_window: float = 60.0, log=print,
        pg_url: str | None = None) -> dict:
    s = sizes(scale)
    figures: dict = {"sizes": s, "runs": runs}
    started = time.perf_counter()

    def step(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        log(f"  {name}: {time.perf_counter() - t0:.1f} s")
        return result

    log(f"running the benchmarks (scale {scale}) ...")
    figures["fsync"] = step("fsync ceiling", common.fsync_commits_per_second, 1.0)
    figures["throughput"] = step("throughput", throughput.measure, s["one_step"], runs)
    figures["fsync_after"] = step("fsync ceiling again", common.fsync_commits_per_second, 1.0)
    figures["http"] = (step("http", http_api.measure, s["http"]) if http_api.available() else None)
    figures["task_list"] = step("task list", task_list.measure, s["open_tasks"], s["task_queries"])
    figures["replay"] = step("replay", replay_speed.measure, s["replay"], common.cpu_count())
    figures["memory"] = step("memory", memory.measure, s["memory"])
    figures["timers"] = step("timers", timer_lateness.measure, s["timers"], timer_window)
    figures["outbox"] = step("outbox", outbox_throughput.measure, s["outbox"], pg_url=pg_url)
    figures["seconds"] = time.perf_counter() - started
    return figures


def tables(f: dict) -> str:
    t, http = f["throughput"], f["http"]
    s = f["sizes"]
    http_rf = _n(http["refund_first"], 1) if http else "not measured (no web app)"
    lines = [
        "Instances completed per second; SQLite WAL, every commit fsync'd before the verb "
        "returns (group commit); "
        f"median of {f['runs']} runs; {s['one_step']:,} one-step / {max(1, s['one_step'] // 2):,} "
        f"two-step / {max(1, s['one_step'] // 10):,} refund-first instances per run.",
        "",
        "| workload | (a) raw SpiffWorkflow in memory | (b) raw + serialize/deserialize per step "
        "| (c) engine verbs, durable SQLite | (c)/(b) | (d) over HTTP (gunicorn) "
        "| (c) without fsync (diagnostic) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = {"one_step": "start -> script -> end", "two_step":
             "start -> script -> user task -> XOR -> user task -> script -> end"}
    for w in ("one_step", "two_step"):
        r = t[w]
        lines.append(f"| {names[w]} | {_n(r['raw'])} | {_n(r['raw_roundtrip'])} | {_n(r['engine'])} "
                     f"| {r['engine'] / r['raw_roundtrip']:.2f} | n/a (no start route) "
                     f"| {_n(r['engine_no_fsync'])} |")
    lines.append(f"| after-sales refund-first happy path (6 verbs) | | | {_n(t['refund_first'], 1)} | "
                 f"| {http_rf} | |")
    tl, rp, mem, tm = f["task_list"], f["replay"], f["memory"], f["timers"]
    cm = t["commit_ms"]
    rss = ", ".join(f"{k:,}: {v:.0f} MiB" for k, v in mem["rss"])
    by = ", ".join(f"{k} {v:,.0f}/s" for k, v in sorted(rp["by_process"].items()))
    lines += [
        "",
        "| measure | figure | target |",
        "|---|---|---|",
        f"| durable commits/s this disk takes (1 row each, before / after the throughput runs) "
        f"| {_n(f['fsync'])} / {_n(f['fsync_after'])} | |",
        f"| COMMIT time of the engine's durable transactions in (c) ({cm['n']:,} commits) "
        f"| p50 {cm['p50']:.2f} ms, p90 {cm['p90']:.2f} ms, p99 {cm['p99']:.2f} ms | |",
        f"| task list, {tl['n']:,} open tasks, department page of 50 by due time "
        f"({tl['queries']} queries) | p50 {tl['p50_ms']:.1f} ms, p95 {tl['p95_ms']:.1f} ms "
        f"| p95 < 20 ms |",
        f"| replay/verify ({rp['instances']:,} instances, {rp['events']:,} events), one process "
        f"| {_n(rp['events_per_s'])} events/s ({by}) | >= 5,000 events/s |",
        f"| replay/verify, the same split over {rp['workers']} processes "
        f"| {_n(rp['events_per_s_parallel'] or float('nan'))} events/s | |",
        f"| engine process RSS (after warm-up {mem['start_mib']:.0f} MiB), by completed instances "
        f"| {rss} | flat |",
        f"| timer lateness, {tm['n']:,} timers due within {tm['window_s']:.0f} s "
        f"({tm['fired']:,} fired, {_n(tm['fires_per_s'])}/s) | p50 {_n(tm['p50_ms'])} ms, "
        f"p99 {_n(tm['p99_ms'])} ms, max {_n(tm['max_ms'])} ms | |",
    ]
    ob = f["outbox"]
    lines.append(
        f"| outbox delivery, {ob['n']:,} intents to a provider answering in "
        f"{ob['latency_ms']:.0f} ms, durable SQLite: serial ({ob['serial_n']:,}) / 16 / 32 calls "
        f"at once | {_n(ob['serial'])} / {_n(ob['concurrent'][16])} / "
        f"{_n(ob['concurrent'][32])} intents/s | >= 200 intents/s |")
    lines.append(f"| outbox delivery with replies: {ob['replies_n']:,} courier bookings answered at "
                 f"once, each delivered to its waiting instance (an engine verb per intent), 16 "
                 f"at once, durable SQLite | {_n(ob['replies'])} intents/s | |")
    if ob["postgres"]:
        lines.append(f"| outbox delivery, the same on PostgreSQL: 1 / 3 scheduler processes "
                     f"| {_n(ob['postgres'][1])} / {_n(ob['postgres'][3])} intents/s | |")
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"{common.cpu_count()} CPUs, Python {host.python_version()}, SpiffWorkflow "
            f"{metadata.version('SpiffWorkflow')}, SQLAlchemy {metadata.version('SQLAlchemy')}, "
            f"load average {load[0]:.2f}")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes")
    parser.add_argument("--runs", type=int, default=5, help="throughput: median of this many runs")
    parser.add_argument("--timer-window", type=float, default=60.0)
    parser.add_argument("--pg-url", help="outbox: also 1 and 3 scheduler processes on this "
                                         "PostgreSQL server (a fresh database is made)")
    args = parser.parse_args(argv)
    before = machine()
    figures = run(args.scale, args.runs, args.timer_window, log=lambda m: print(m, file=sys.stderr),
                  pg_url=args.pg_url)
    out = (f"Machine: {before} at the start; the whole run took {figures['seconds']:.0f} s.\n\n"
           + tables(figures))
    print(out)
    return out


if __name__ == "__main__":
    main()

"""Every benchmark of bench/ runs at a tiny size, so they keep working as the platform changes."""
from __future__ import annotations

from bench import run_all


def test_every_benchmark_runs_and_the_table_has_every_figure():
    figures = run_all.run(scale=0.003, runs=1, timer_window=2.0, log=lambda _m: None)

    for workload in ("one_step", "two_step"):
        rates = figures["throughput"][workload]
        assert rates["raw"] > 0 and rates["raw_roundtrip"] > 0 and rates["engine"] > 0
    assert figures["throughput"]["refund_first"] > 0
    assert figures["http"] is None or figures["http"]["refund_first"] > 0
    assert figures["task_list"]["rows"] > 0
    assert figures["replay"]["events"] >= 2 * 3          # a refund-first and a two-step instance
    assert [k for k, _ in figures["memory"]["rss"]] == [30, 150, 300]
    assert figures["timers"]["fired"] == figures["timers"]["n"] == 30
    outbox = figures["outbox"]
    assert outbox["n"] == 20 and outbox["serial"] > 0 and outbox["concurrent"][16] > 0
    assert outbox["replies"] > 0

    table = run_all.tables(figures)
    assert "| start -> script -> end |" in table
    assert "refund-first happy path" in table
    assert "timer lateness, 30 timers" in table
    assert "outbox delivery, 20 intents to a provider answering in 50 ms" in table

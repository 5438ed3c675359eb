"""The cost of one script call: in this process (the sandbox alone) against a script worker
process (engine/runtime/script_workers.py: pickle the task data, a pipe round trip, unpickle the
answer), for a one-line script and a gateway condition, with the task data of a refund request.

Usage: python -m bench.script_calls --n 5000
"""
from __future__ import annotations

import argparse
import statistics
import time

from bench.throughput import REFUND_REQUEST
from engine.runtime import script_workers
from engine.runtime.scripting import RestrictedEnvironment

SCRIPT = "refund = round2(amount * 0.9)"
CONDITION = "amount > 100 and customer_tier == 'gold'"
CALL_CONDITION = "len(items) > 0 and amount > 100"


def per_call_us(call, n: int) -> float:
    call()  # warm: compiled code, a started worker
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n * 1e6


def measure(n: int, runs: int = 3) -> dict:
    env = RestrictedEnvironment()
    data = dict(REFUND_REQUEST)
    cases = {
        "script, in process": lambda: env.run_script(SCRIPT, dict(data)),
        "script, in a worker": lambda: env.execute(SCRIPT, dict(data)),
        "cheap condition (stays in process)": lambda: env.evaluate(CONDITION, data),
        "condition with a call, in a worker": lambda: env.evaluate(CALL_CONDITION, data),
    }
    script_workers.pool()
    return {name: statistics.median(per_call_us(call, n) for _ in range(runs))
            for name, call in cases.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="calls per run")
    parser.add_argument("--runs", type=int, default=3, help="median of this many runs")
    args = parser.parse_args(argv)
    for name, us in measure(args.n, args.runs).items():
        print(f"{name}: {us:.1f} us per call")


if __name__ == "__main__":
    main()

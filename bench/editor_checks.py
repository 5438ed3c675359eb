"""What the owners' editor waits for: the latency of one live validation of a draft (the files
as they are in the page through deploy's plan, POST /drafts/<id>/check) and of one field check
as the owner types (POST /editor/check: an SLA with its due time, a condition, a script, a
timer), measured in the engine without HTTP.

The draft is refund_first's, started from the deployed bpmn/ bundle: its closure (refund_first,
return_goods, refund_approval.dmn, their forms and message schemas), with one SLA changed, so
that the plan compiles every version it would deploy as it does while an owner edits. Each
validation is one read transaction on a durable SQLite file, as a page request makes it.

Usage: python -m bench.editor_checks --runs 20
"""
from __future__ import annotations

import argparse
import time

from bench.common import BPMN_DIR, percentile, platform
from engine import clock
from engine.definitions import authoring, drafts

FIELDS = [("sla", "PT4H"), ("expression", "refund_amount > four_eyes_threshold"),
          ("script", "refunded = False\nreturn_result = None"), ("timeDuration", '"P7D"')]


def measure(runs: int, process_key: str = "refund_first") -> dict:
    """{"files", "validate_p50_ms", "validate_p95_ms", "check_p50_ms", "check_p95_ms"}."""
    with platform(durable=True) as p:
        p.deploy(BPMN_DIR)
        with p.sessions() as session:
            files, _base = drafts.deployed_files(session, process_key)
        source = files[f"{process_key}.bpmn"]
        files[f"{process_key}.bpmn"] = source.replace('value="PT4H"', 'value="PT2H"', 1)
        assert files[f"{process_key}.bpmn"] != source
        validations, checks = [], []
        for _ in range(runs + 1):
            t = time.perf_counter()
            with p.sessions() as session:
                result = drafts.validation(session, files)
            validations.append((time.perf_counter() - t) * 1000)
            assert result["ok"] and result["would_version"], result
            for kind, text in FIELDS:
                t = time.perf_counter()
                answer = authoring.check(kind, text, p.runtime.calendar, clock.now())
                checks.append((time.perf_counter() - t) * 1000)
                assert answer["ok"], answer
        validations = validations[1:]        # the first round warms the caches
        checks = checks[len(FIELDS):]
    return {"files": len(files), "validate_p50_ms": percentile(validations, 50),
            "validate_p95_ms": percentile(validations, 95),
            "check_p50_ms": percentile(checks, 50), "check_p95_ms": percentile(checks, 95)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    r = measure(args.runs)
    print(f"refund_first draft ({r['files']} files), {args.runs} runs: live validation "
          f"p50 {r['validate_p50_ms']:.0f} ms, p95 {r['validate_p95_ms']:.0f} ms; "
          f"one field check p50 {r['check_p50_ms']:.2f} ms, p95 {r['check_p95_ms']:.2f} ms")


if __name__ == "__main__":
    main()

"""The global audit log's own costs, on SQLite with durable commits: how fast the sequencer
gives positions, how long signing a checkpoint and verifying the whole log take, and the
inclusion proofs of one instance, for a log of N leaves.

The leaves are N audited actions written in transactions of 100 (the writers' side costs one
INSERT per event or action more than before the log; bench/throughput.py measures the verbs),
plus one instance of tests/data/simple, whose inclusion proofs are exported and checked.

Usage: python -m bench.audit_log --n 100000
"""
from __future__ import annotations

import argparse
import contextlib

from bench.common import SIMPLE_DATA, platform, rate, timed
from engine.history import checkpoints, global_log, log_check, proofs

BATCH = 100


def write_actions(sessions, n: int) -> None:
    for start in range(0, n, BATCH):
        with sessions.begin() as session:
            for i in range(start, min(n, start + BATCH)):
                global_log.record(session, "export", actor="bench", subject=f"instance {i} json",
                                  payload={"instances": [i]})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000, help="audited actions in the log")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        p = stack.enter_context(platform())
        settings = p.settings.with_(audit_dir=p.folder / "audit",
                                    audit_key_file=p.folder / "audit_signing_key")
        checkpoints.ensure_key(settings)
        p.deploy(SIMPLE_DATA)
        instance = p.run("start", "simple", {"request_no": "AS-1", "amount": 9})
        seconds, _ = timed(write_actions, p.sessions, args.n)
        print(f"writers: {args.n} actions in transactions of {BATCH}: "
              f"{rate(args.n, seconds):,.0f} actions/s")

        def sequence():
            with p.sessions.begin() as session:
                return global_log.sequence(session)
        seconds, done = timed(sequence)
        print(f"sequencer: {done} leaves in {seconds:.2f} s: {rate(done, seconds):,.0f} leaves/s")
        seconds, head = timed(checkpoints.sign_head, p.sessions, settings)
        print(f"first checkpoint of {head.size} leaves (folder written, root computed): "
              f"{seconds:.2f} s")
        write_actions(p.sessions, BATCH)
        seconds, head = timed(checkpoints.sign_head, p.sessions, settings)
        print(f"next checkpoint after {BATCH} more leaves: {seconds * 1000:.1f} ms")
        keys = checkpoints.load_public_keys([settings.audit_dir / checkpoints.KEYS])
        with p.sessions() as session:
            seconds, result = timed(log_check.check, session, settings.audit_dir, keys)
        assert result.ok, result.problems
        print(f"audit verify of the log ({result.size} leaves, {result.checkpoints} checkpoints): "
              f"{seconds:.2f} s, {rate(result.size, seconds):,.0f} leaves/s")
        with p.sessions() as session:
            seconds, document = timed(proofs.export, session, settings.audit_dir, "AS-1")
        assert proofs.check(document, keys) == []
        print(f"audit proof of one instance ({len(document['events'])} events) in a log of "
              f"{head.size} leaves: {seconds:.2f} s")


if __name__ == "__main__":
    main()

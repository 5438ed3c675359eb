"""bench/audit_log.py runs at a tiny size and its log verifies (it asserts so itself)."""
from __future__ import annotations

from bench import audit_log


def test_the_audit_log_benchmark_runs(capsys):
    audit_log.main(["--n", "150"])
    out = capsys.readouterr().out
    assert "sequencer: 153 leaves" in out          # 150 actions, 2 deployments, 1 event
    assert "audit verify of the log (253 leaves, 2 checkpoints)" in out
    assert "audit proof of one instance (1 events)" in out

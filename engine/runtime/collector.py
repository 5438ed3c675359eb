"""Python's cyclic garbage collector, tuned for a process that runs workflows.

CPython collects its youngest generation once 700 more container objects were made than freed,
the middle one every 10 of those and the whole heap every 10 of those (when it grew by a
quarter). A refund-first journey leaves about 1,500 more than it freed (a third of them garbage
in cycles: a task and its workflow refer to each other), so a process collected the young
generation about 1.4 times a journey and walked its whole heap (about 230,000 objects in the
benchmark's process, the definitions' specs and the cached workflows among them) every hundred
journeys or so.
`tune()` collects the young generation once 20,000 more were made, which spaces the older
collections out as much. Journeys through the Flask app in process spent 2.5 ms of CPU a
journey in the collector, 0.3 ms after, and ran at 59 against 64 ms of CPU a journey (15
journeys a side, 12 rounds in turn in one process). Garbage in cycles waits that much longer.
"""
from __future__ import annotations

import gc

YOUNG = 20_000


def tune() -> None:
    """Collect the young generation every YOUNG allocations, unless the process already set a
    higher threshold (idempotent)."""
    young, *older = gc.get_threshold()
    if young < YOUNG:
        gc.set_threshold(YOUNG, *older)

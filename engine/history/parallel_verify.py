"""Verify every instance of the database over several processes.

Verifying is independent per instance (its chain, its replay, its stored state), and replay is
CPU-bound Python, so one process uses one core. `verify_all` splits the instance ids into `jobs`
interleaved shares and verifies each in a process of its own (spawned: no database connection or
lock is inherited), every share in read transactions (engine.db.reading), so writers go on
meanwhile. The results come back in instance order; with `stop_at_first` they end at the first
instance that fails, as engine.history.replay.verify_all's do.
"""
from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import select

from engine import config, db
from engine.history import replay
from engine.models import Instance

# Below this many instances per process, starting the processes costs more than it saves.
MIN_PER_JOB = 100


def jobs_for(instances: int, jobs: int | None = None) -> int:
    """How many processes verify `instances` instances: `jobs` if given, else one per core
    while each gets at least MIN_PER_JOB."""
    if jobs is not None and jobs > 0:
        return jobs
    return max(1, min(os.cpu_count() or 1, instances // MIN_PER_JOB))


def verify_all(settings: config.Settings, jobs: int | None = None, *,
               stop_at_first: bool = True) -> list[replay.Result]:
    """Verify every instance; one Result per instance verified, in instance order."""
    engine = db.make_engine(settings.database_url)
    try:
        with db.reading(), db.make_session_factory(engine)() as session:
            ids = list(session.scalars(select(Instance.id).order_by(Instance.id)))
    finally:
        engine.dispose()
    count = jobs_for(len(ids), jobs)
    shares = [(settings, ids[k::count], stop_at_first) for k in range(count)]
    if count == 1:
        results = _verify_share(shares[0])
    else:
        with multiprocessing.get_context("spawn").Pool(count) as pool:
            results = [r for share in pool.map(_verify_share, shares) for r in share]
    results.sort(key=lambda r: r.instance_id)
    if stop_at_first:
        failed = next((i for i, r in enumerate(results) if not r.ok), None)
        results = results if failed is None else results[:failed + 1]
    return results


def _verify_share(share) -> list[replay.Result]:
    """One process's part: its instances, each verified in a read transaction of its own."""
    from engine.runtime.verbs import Runtime

    settings, ids, stop_at_first = share
    engine = db.make_engine(settings.database_url)
    sessions = db.make_session_factory(engine)
    script_engine = Runtime(settings).script_engine
    results = []
    try:
        for instance_id in ids:
            with db.reading(), sessions() as session:
                result = replay.verify(session, instance_id, script_engine)
            results.append(result)
            if stop_at_first and not result.ok:
                break
    finally:
        engine.dispose()
    return results

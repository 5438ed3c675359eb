"""Instance states stored in chunks (engine/runtime/state_store.py, serialization.dump_chunked):
a step of an old instance writes what changed only, the chunks rebuild the very workflow, an
altered or missing chunk is caught by verify, and instances stored whole before keep their
format and verify as recorded."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from engine.history import replay
from engine.models import Instance
from engine.runtime import serialization, state_store, workflow_cache
from tests.engine.runtime.test_workflow_cache import Loop

CHUNKS = state_store.instance_chunk


@pytest.fixture
def loop(sessions, runtime):
    return Loop(sessions, runtime)


def _hashes(loop) -> set[str]:
    with loop.sessions() as session:
        return set(session.scalars(select(CHUNKS.c.hash).where(CHUNKS.c.instance_id == loop.id)))


def _rows_written_by_one_step(loop) -> int:
    before = _hashes(loop)
    loop.complete()
    after = _hashes(loop)
    return len(after - before) + len(before - after)


def test_a_step_writes_the_same_few_chunks_at_any_age(loop):
    young = _rows_written_by_one_step(loop)
    for _ in range(60):
        loop.complete()
    old = _rows_written_by_one_step(loop)
    assert old <= 4 and young <= 4
    assert len(_hashes(loop)) > 10          # the history itself is many chunks
    assert loop.verified()


def test_the_chunks_rebuild_the_workflow_the_instance_runs(loop, runtime):
    for _ in range(20):
        loop.complete()
    with loop.sessions() as session:
        row = session.get(Instance, loop.id)
        assert row.serializer_version == serialization.CHUNKED_VERSION
        entry = workflow_cache.cache.take(session, row, _compiled(session, row))
        loaded = runtime.workflow(session, row)
    assert entry is not None
    assert serialization.dump(loaded) == serialization.dump(entry.workflow)
    assert serialization.state_hash(row.state) == serialization.state_hash(
        serialization.dump_chunked(loaded).manifest)


def test_an_altered_chunk_is_caught_by_verify(loop):
    for _ in range(20):
        loop.complete()
    first = min(_hashes(loop))
    with loop.sessions.begin() as session:
        session.execute(update(CHUNKS).where(CHUNKS.c.instance_id == loop.id,
                                             CHUNKS.c.hash == first)
                        .values(body=func.replace(CHUNKS.c.body, "reopened", "settled!")))
    assert _divergence(loop) == f"the stored instance state does not match the history: " \
                                f"state chunk {first} is missing or altered"


def test_a_missing_chunk_is_caught_by_verify(loop):
    loop.complete()
    gone = min(_hashes(loop))
    with loop.sessions.begin() as session:
        session.execute(delete(CHUNKS).where(CHUNKS.c.hash == gone))
    assert f"state chunk {gone} is missing" in _divergence(loop)


def test_an_instance_stored_whole_keeps_its_format_and_verifies(sessions, runtime, monkeypatch):
    with monkeypatch.context() as before_chunks:    # started by a platform without chunks
        before_chunks.setattr(serialization, "CHUNKED_VERSION", serialization.SERIALIZER_VERSION)
        loop = Loop(sessions, runtime)
        loop.complete()
    workflow_cache.cache.clear()
    for _ in range(3):
        loop.complete()
    row = loop.row()
    assert row.serializer_version == serialization.SERIALIZER_VERSION
    assert '"tasks":{' in row.state and _hashes(loop) == set()
    assert loop.verified()


def _divergence(loop) -> str:
    with loop.sessions() as session:
        result = replay.verify(session, loop.id, loop.runtime.script_engine)
    assert not result.ok
    return result.divergence["problem"]


def _compiled(session, row):
    from engine.definitions import catalog
    return catalog.compiled(session, row.definition_id)

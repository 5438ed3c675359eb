"""Workflow state <-> JSON, storing a reference to the definition instead of the embedded spec.

The stock converter embeds the whole parsed spec in every saved instance (G15 in the notes);
ours writes only the task tree, and on load takes the specs from the definition cache. The
instance row keeps the definition id and its storage format (`serializer_version`) next to it.

Two formats, told apart by `serializer_version`:

- FULL (SERIALIZER_VERSION, instances stored before chunks existed): `instance.state` is the
  whole workflow as one JSON text, and its sha256 is the state hash.
- CHUNKED (CHUNKED_VERSION, every instance started since): the tasks of the workflow and of each
  subprocess are cut, in the workflow's own order, into chunks of CHUNK_TASKS tasks, each a JSON
  text stored in its own row under its sha256 (engine/runtime/state_store.py).
  `instance.state` is the manifest: the workflow's JSON with every task list replaced by its
  chunks' hashes, and the sha256 of the manifest is the state hash, so it still commits to every
  byte of the state. A step of an old instance changes a few tasks, at the end of its history:
  `dump_chunked()` re-serialises only the chunks holding a task that changed and reuses the
  others' hashes, so storing and hashing cost the same at any age. The tasks it re-serialises
  are written straight as text (`_task_text`), byte for byte what the library's converter
  writes, at about 0.6 of its cost: every step, and every step a replay checks, writes some.
  A load restores the tasks as the library's converter does, at about 0.6 of its cost
  (`FastTaskConverter`).

Each instance keeps its format for life (its events' hashes were made with it), so the events of
an instance stored before chunks still verify as they were recorded.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    TaskConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_FORMAT_VERSION
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.runtime import data_copy

SERIALIZER_VERSION = SERIALIZER_FORMAT_VERSION
CHUNK_TASKS = 16
CHUNKED_VERSION = f"{SERIALIZER_FORMAT_VERSION}/c{CHUNK_TASKS}"

_specs: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("specs", default=None)

# A task's id is read three times a load (its key, its own, its parent's list or its child's):
# UUID() parses each text again. UUIDs cannot change, so one made is handed out again.
_uuid = functools.lru_cache(maxsize=1 << 15)(UUID)


class _CachedIds:
    """A workflow converter whose tasks' ids are made by `_uuid` (the library asks UUID)."""

    def mapping_from_dict(self, mapping, key_class=None, **kwargs):
        return super().mapping_from_dict(mapping, _uuid if key_class is UUID else key_class,
                                         **kwargs)


class SpecRefWorkflowConverter(_CachedIds, BpmnWorkflowConverter):
    """Like BpmnWorkflowConverter, minus `spec` and `subprocess_specs`."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        specs = _specs.get()
        if specs is None:
            raise RuntimeError("load() must provide the specs of the instance's definition")
        spec, subprocess_specs = specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class SubprocessConverter(_CachedIds, BpmnSubWorkflowConverter):
    """BpmnSubWorkflowConverter, its tasks' ids made by `_uuid`."""


_WAITING = TaskState.WAITING
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _restored(registry, value):
    """registry.restore(value) for a value as JSON decodes it (dicts, lists, plain values):
    the same values, without a call for each plain one."""
    kind = type(value)
    if kind is dict and "typename" not in value:
        return {key: item if type(item) in _PLAIN else _restored(registry, item)
                for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _PLAIN else _restored(registry, item) for item in value]
    return registry.restore(value)


class FastTaskConverter(TaskConverter):
    """TaskConverter, restoring a task at about 0.6 of its cost (every load of an instance a
    worker does not hold in memory restores each of its tasks, and so does every replay): the
    same steps as TaskConverter.from_dict without what changes nothing. Plain values are not
    handed to the registry one by one (`_restored`); the parent's data is copied as
    DeepMerge.merge({}, parent.data) copies it (engine.runtime.data_copy); ids come from
    `_uuid`. The library's own from_dict runs instead when `_FAST_RESTORE` is off (the tests
    compare both). to_dict is the library's (`_task_text` writes its text)."""

    def from_dict(self, dct, workflow):
        if not _FAST_RESTORE:
            return super().from_dict(dct, workflow)
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = self.target_class(workflow, task_spec, state=dct["state"], id=_uuid(dct["id"]))
        parent = dct["parent"]
        task._parent = _uuid(parent) if parent is not None else None
        task._children = [_uuid(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = _restored(self.registry, dct["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.state & _WAITING:
            workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        parent_task = task.parent if delta else None
        if parent_task is not None:
            data = data_copy.copy_into({}, parent_task.data)
            updates = delta.get("updates", {})
            if updates:
                data.update(_restored(self.registry, updates))
            for key in delta.get("deletions", {}):
                if key in data:
                    del data[key]
        else:
            data = _restored(self.registry, dct["data"])
        task.data = data
        return task


_FAST_RESTORE = True


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecRefWorkflowConverter
    config[BpmnSubWorkflow] = SubprocessConverter
    config[Task] = FastTaskConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # Amounts in workflow data are Decimals (engine/money.py) and come back as the same ones.
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    return BpmnWorkflowSerializer(registry)


_serializer = _make_serializer()
# One encoder for every text: json.dumps(cls=...) would build one per call; the text is the same.
_encode = _serializer._encoder_cls(separators=(",", ":")).encode


@contextlib.contextmanager
def _encoding():
    """The registry converts for the JSON encoder (what serialize_json does) inside the block."""
    registry = _serializer.registry
    registry._encoder_mode = True
    try:
        yield registry
    finally:
        registry._encoder_mode = False


def _json(value) -> str:
    return _encode(value)


def _library_task_converter() -> bool:
    """Whether the registry converts tasks with the library's TaskConverter.to_dict, the one
    _task_text writes as (the registry keeps partial(_obj_to_dict, typename, to_dict))."""
    convert = _serializer.registry.convert_to_dict[_serializer.registry.typenames[Task]]
    return getattr(convert.args[-1], "__func__", None) is TaskConverter.to_dict


# With a task converter of our own registered, _task_text leaves every task to the registry.
_TASK_TEXT = _library_task_converter()
_NO_DELTA = '{"updates":{},"deletions":[]}'
_MISSING = object()


def _task_text(registry, task, sid: str) -> str:
    """The JSON text of `task` (its id's text `sid`), byte for byte `_json(registry.convert(task))`
    inside `_encoding()`, at about 0.6 of its cost: the fields of TaskConverter.to_dict written
    straight into the text instead of through the registry's dispatch, a dict and the encoder.
    tests/engine/runtime/test_serialization.py holds it to the library's text."""
    state, changed, triggered = task.state, task.last_state_change, task.triggered
    name, internal = task.task_spec.name, task.internal_data
    if not _TASK_TEXT or type(task) is not Task or type(state) is not int \
            or type(changed) is not float or changed - changed != 0 \
            or type(triggered) is not bool or type(name) is not str:
        return _json(registry.convert(task))        # what the text below does not cover
    parent = task.parent
    if parent is None:
        data, delta, parent_id = _json(task.data), "{}", "null"
    else:
        # DeepMerge.get_updated_keys / get_deleted_keys, in the same order, the same comparisons.
        before, after = parent.data, task.data
        updates, added = {}, False
        for key, value in after.items():
            old = before.get(key, _MISSING)
            if old is _MISSING:
                updates[key], added = value, True
            elif value != old:
                updates[key] = value
        deleted = [key for key in before if key not in after] \
            if added or len(before) != len(after) else []
        data, parent_id = "{}", f'"{task._parent}"'
        delta = _json({"updates": updates, "deletions": deleted}) if updates or deleted \
            else _NO_DELTA
    children = ",".join([f'"{child}"' for child in task._children])
    internal = "{}" if type(internal) is dict and not internal else _json(registry.convert(internal))
    return (f'{{"id":"{sid}","parent":{parent_id},"children":[{children}],'
            f'"last_state_change":{float.__repr__(changed)},"state":{int.__repr__(state)},'
            f'"task_spec":{encode_basestring_ascii(name)},'
            f'"triggered":{"true" if triggered else "false"},"internal_data":{internal},'
            f'"data":{data},"delta":{delta},"typename":"Task"}}')


def dump(workflow: BpmnWorkflow) -> str:
    """The workflow's state as one JSON text (no spec inside): the FULL format."""
    with _encoding():
        return _json(_serializer.to_dict(workflow))


def load(state: str, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
    """Rebuild a workflow from `dump()` output and its definition's specs; attach `script_engine`.

    The script engine must be attached on every load: the library would otherwise give the
    workflow a fresh, unrestricted one (G13).
    """
    return _from_dict(json.loads(state, cls=_serializer.json_decoder_cls), spec,
                      subprocess_specs, script_engine)


def _from_dict(dct: dict, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
    token = _specs.set((spec, subprocess_specs))
    try:
        workflow = _serializer.from_dict(dct)
    finally:
        _specs.reset(token)
    workflow.script_engine = script_engine
    return workflow


def state_hash(state: str) -> str:
    """The state hash of a stored state: the sha256 of its JSON text (FULL) or of its manifest
    (CHUNKED), as `instance.state` holds it."""
    return hashlib.sha256(state.encode()).hexdigest()


# ------------------------------------------------------------------------------ chunks

@dataclass(frozen=True)
class Chunk:
    """Consecutive tasks of one (sub)workflow: their ids in order, and the sha256 of their JSON
    text `body` (the body is kept only until it is written). `parts` are the body's entries one
    by one (`"<task id>":<task's JSON text>`), when this process made them: the next dump takes
    those of tasks that did not change instead of serialising them again (a chunk that changed
    is mostly tasks that did not)."""

    ids: tuple
    hash: str
    body: str | None = None
    parts: tuple | None = None


@dataclass(frozen=True)
class Chunked:
    """A workflow's state in the CHUNKED format: the manifest text and, per (sub)workflow (""
    for the workflow itself, else the subprocess's key), its chunks in order."""

    manifest: str
    chunks: dict

    @property
    def hashes(self) -> set[str]:
        return {c.hash for chunks in self.chunks.values() for c in chunks}

    def new_chunks(self, before: "Chunked | None") -> list[Chunk]:
        """The chunks to write when the stored state goes from `before` to this one."""
        old = before.hashes if before is not None else set()
        return [c for chunks in self.chunks.values() for c in chunks if c.hash not in old]


def dump_chunked(workflow: BpmnWorkflow, before: Chunked | None = None,
                 since: float | None = None) -> Chunked:
    """The workflow's state in the CHUNKED format.

    With `before` (the same workflow's state as last dumped) and `since` (the timestamp the
    unit of work's clock was pinned to since then), a chunk whose tasks are the same as before
    and of which no task may have changed keeps its hash without being serialised again. A
    task may have changed when it changed state since `since`, when it is not finished yet (a
    waiting timer's due time moves, a running subprocess's data grows), or when its parent may
    have (a task's data is stored as the difference from its parent's). Finished tasks do not
    change otherwise. Without them every chunk is serialised."""
    owners = {"": workflow, **{str(k): sub for k, sub in workflow.subprocesses.items()}}
    with _encoding() as registry:
        chunks = {owner: _chunks_of(registry, wf, before.chunks.get(owner, ())
                                    if before is not None and since is not None else (), since)
                  for owner, wf in owners.items()}
        saved = {owner: wf.tasks for owner, wf in owners.items()}
        try:
            for wf in owners.values():      # the rest of the workflow's JSON, tasks left out
                wf.tasks = {}
            dct = _serializer.to_dict(workflow)
        finally:
            for owner, wf in owners.items():
                wf.tasks = saved[owner]
    dct["tasks"] = [c.hash for c in chunks[""]]
    for owner, sub in dct["subprocesses"].items():
        sub["tasks"] = [c.hash for c in chunks[owner]]
    return Chunked(_json(dct), chunks)


_FINISHED = TaskState.FINISHED_MASK


def _chunks_of(registry, workflow, before, since) -> list[Chunk]:
    tasks = workflow.tasks
    changed = set()
    if before:
        for task in tasks.values():
            if task.last_state_change >= since or not task.state & _FINISHED:
                changed.add(task.id)
                changed.update(task._children)
    known = None
    ids = list(tasks)
    chunks = []
    for n, start in enumerate(range(0, len(ids), CHUNK_TASKS)):
        group = tuple(ids[start:start + CHUNK_TASKS])
        if n < len(before) and before[n].ids == group and changed.isdisjoint(group):
            chunks.append(Chunk(group, before[n].hash, parts=before[n].parts))
            continue
        if known is None:
            known = {i: part for c in before if c.parts for i, part in zip(c.ids, c.parts)}
        parts = tuple(known[i] if i in known and i not in changed else _part(registry, tasks[i])
                      for i in group)
        # The text _json gives the {id: task} dict of the group, assembled from its parts.
        body = "{" + ",".join(parts) + "}"
        chunks.append(Chunk(group, hashlib.sha256(body.encode()).hexdigest(), body, parts))
    return chunks


def _part(registry, task) -> str:
    """`task`'s entry in its chunk's body: its id's JSON text, a colon, its JSON text."""
    sid = str(task.id)
    return f'"{sid}":{_task_text(registry, task, sid)}'


def load_chunked(manifest: str, bodies: dict[str, str], spec, subprocess_specs,
                 script_engine) -> tuple[BpmnWorkflow, Chunked]:
    """Rebuild a workflow from its manifest and the bodies of its chunks (by hash); returns it
    with its Chunked state, for the next dump_chunked(). Raises ValueError naming a chunk that
    is missing or does not match its hash."""
    decoder = _serializer.json_decoder_cls
    dct = json.loads(manifest, cls=decoder)
    chunks = {}

    def tasks_of(owner: str, hashes: list[str]) -> dict:
        tasks, owned = {}, []
        for h in hashes:
            body = bodies.get(h)
            if body is None or hashlib.sha256(body.encode()).hexdigest() != h:
                raise ValueError(f"state chunk {h} is missing or altered")
            part = json.loads(body, cls=decoder)
            tasks.update(part)
            owned.append(Chunk(tuple(_uuid(i) for i in part), h))
        chunks[owner] = owned
        return tasks

    dct["tasks"] = tasks_of("", dct["tasks"])
    for owner, sub in dct["subprocesses"].items():
        sub["tasks"] = tasks_of(owner, sub["tasks"])
    workflow = _from_dict(dct, spec, subprocess_specs, script_engine)
    return workflow, Chunked(manifest, chunks)


def manifest_hashes(manifest: str) -> list[str]:
    """The hashes of the chunks a manifest names, in order."""
    dct = json.loads(manifest)
    return list(dct["tasks"]) + [h for sub in dct["subprocesses"].values() for h in sub["tasks"]]

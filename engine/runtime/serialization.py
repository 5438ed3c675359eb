"""Workflow state <-> JSON, storing a reference to the definition instead of the embedded spec.

The stock converter embeds the whole parsed spec in every saved instance (G15 in the notes);
ours writes only the task tree, and on load takes the specs from the definition cache. The
instance row keeps the definition id and SERIALIZER_VERSION next to the JSON.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
from decimal import Decimal
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_FORMAT_VERSION
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

SERIALIZER_VERSION = SERIALIZER_FORMAT_VERSION

_specs: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("specs", default=None)


class SpecRefWorkflowConverter(BpmnWorkflowConverter):
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


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecRefWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # Amounts in workflow data are Decimals (engine/money.py) and come back as the same ones.
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    return BpmnWorkflowSerializer(registry)


_serializer = _make_serializer()


def dump(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON text (no spec inside)."""
    registry = _serializer.registry
    registry._encoder_mode = True
    try:
        return json.dumps(_serializer.to_dict(workflow), cls=_serializer._encoder_cls,
                          separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def load(state: str, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
    """Rebuild a workflow from `dump()` output and its definition's specs; attach `script_engine`.

    The script engine must be attached on every load: the library would otherwise give the
    workflow a fresh, unrestricted one (G13).
    """
    token = _specs.set((spec, subprocess_specs))
    try:
        workflow = _serializer.from_dict(json.loads(state, cls=_serializer.json_decoder_cls))
    finally:
        _specs.reset(token)
    workflow.script_engine = script_engine
    return workflow


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def stored_size(session, instance) -> int:
    """Bytes of `instance`'s stored state."""
    return len(instance.state.encode())

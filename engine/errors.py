"""The engine's exceptions: one base class, one subclass per kind of refusal.

The web layer maps each subclass to one HTTP status code (see web/errors.py).
"""
from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every refusal the engine reports to its callers."""

    code = "engine_error"

    def __init__(self, message: str, *, instance_id: int | None = None,
                 task_id: str | None = None, field: str | None = None,
                 details: Any = None):
        super().__init__(message)
        self.message = message
        self.instance_id = instance_id
        self.task_id = task_id
        self.field = field
        self.details = details

    def as_dict(self) -> dict:
        details = self.details
        if details is None:
            details = {k: v for k, v in (("instance_id", self.instance_id),
                                         ("task_id", self.task_id),
                                         ("field", self.field)) if v is not None} or None
        return {"code": self.code, "message": self.message, "details": details}


class NotFound(EngineError):
    code = "not_found"


class Conflict(EngineError):
    """The state changed under the caller (lost race, task no longer READY...)."""
    code = "conflict"

    @classmethod
    def lost_race(cls, instance_id: int | None = None) -> "LostRace":
        """Another writer changed the instance first (version check or audit seq), or the rows
        a unit of work decided on (a queued write's `lost`: engine.prebuilt.write)."""
        return LostRace("the request was changed by someone else at the same time; reload and "
                        "try again", instance_id=instance_id)


class LostRace(Conflict):
    """Another writer committed a change of the instance between this command's reads and its
    write: nothing was written, and the same command run again decides on the fresh rows (the
    API does so by itself, see web/__init__.py)."""


class Forbidden(EngineError):
    code = "forbidden"


class InvalidInput(EngineError):
    """The command's data is wrong; `field` names the offending field."""
    code = "invalid_input"


class InvalidDefinition(EngineError):
    """A BPMN/DMN/form upload was refused; `details` lists every problem."""
    code = "invalid_definition"


class ScriptError(EngineError):
    """A BPMN script or expression failed or tried to leave its sandbox."""
    code = "script_error"


class StepFailed(EngineError):
    """Applying a command or running the engine's steps raised (a script, a data output, a
    condition...): the command's effects were rolled back and, where the instance exists, it is
    put in error with an incident (engine/runtime/incidents.py). `incident` holds what the
    incident records: the input's kind, element, message, the input itself and the actor."""
    code = "step_failed"

    def __init__(self, message: str, *, incident: dict, instance_id: int | None = None,
                 task_id: str | None = None):
        super().__init__(message, instance_id=instance_id, task_id=task_id)
        self.incident = incident
        self.recorded = False   # set once the incident is stored in a transaction of its own

    def as_dict(self) -> dict:
        details = {k: v for k, v in (("instance_id", self.instance_id), ("task_id", self.task_id),
                                     ("element", self.incident.get("element")),
                                     ("kind", self.incident.get("kind"))) if v is not None}
        details["incident_recorded"] = self.recorded
        return {"code": self.code, "message": self.message, "details": details}

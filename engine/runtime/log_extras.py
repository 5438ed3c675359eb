"""SpiffWorkflow 3.2 gathers its log records' details even when nothing logs them.

Every change of a task's state logs at INFO with `Task.collect_log_extras()`, and a workflow's
start and end with `Workflow.collect_log_extras()`. Both test `logger.level < 20` to add the
heavy details: the logger's own level, which is NOTSET (0) unless set on that very logger, so
every state change copies the task's data and every workflow record walks the whole task tree,
though the platform leaves the `spiff` loggers at the root's WARNING and no record is ever made.
Every state change also formats its message first (`TaskState.get_name` builds a dict of all
the state names on each call) and reads the clock twice. `install()` makes both gatherers return
no details, and a state change set only the state and its time, when their logger is not enabled
for INFO (then the library makes no record at INFO or DEBUG, the only levels it passes them at);
a `spiff` logger set to INFO or DEBUG gets the library's records as they were.

Noted for upstream: the check should be `logger.isEnabledFor(logging.DEBUG)`, and the details
gathered and the message formatted only when a record is made.
"""
from __future__ import annotations

import logging

from SpiffWorkflow import task as spiff_task
from SpiffWorkflow import workflow as spiff_workflow


def install() -> None:
    """Gather log details only for a logger that logs them (idempotent)."""
    for owner, module in ((spiff_task.Task, spiff_task), (spiff_workflow.Workflow, spiff_workflow)):
        gather = owner.collect_log_extras
        if getattr(gather, "library_gather", None) is None:
            owner.collect_log_extras = _only_if_logged(gather, module.logger)
    if getattr(spiff_task.Task._set_state, "library_set_state", None) is None:
        spiff_task.Task._set_state = _quiet_set_state(spiff_task.Task._set_state)


def _only_if_logged(gather, logger: logging.Logger):
    def collect_log_extras(self, dct=None) -> dict:
        if not logger.isEnabledFor(logging.INFO):
            return {}
        return gather(self, dct)
    collect_log_extras.library_gather = gather
    return collect_log_extras


def _quiet_set_state(library_set_state):
    def _set_state(self, value: int) -> None:
        if spiff_task.logger.isEnabledFor(logging.INFO):
            return library_set_state(self, value)
        if value != self._state:
            # looked up on each call: determinism pins the module's `time` to the unit's clock
            self.last_state_change = spiff_task.time.time()
            self._state = value
    _set_state.library_set_state = library_set_state
    return _set_state

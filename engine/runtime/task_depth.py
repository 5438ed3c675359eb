"""SpiffWorkflow 3.2's task iterator stops descending at depth 1000; lift that limit.

Every query of a workflow (`get_tasks`, `is_completed`, the READY tasks `do_engine_steps` runs)
walks the task tree with `TaskIterator` / `BpmnTaskIterator`, whose `max_depth` defaults to 1000.
A loop (a complaint reopened, a QA check failed again, a pickup rebooked) adds about three levels
per pass, so at pass 333 the tasks below depth 1000 become invisible: `is_completed()` turns true
while a user task is READY, and the platform would store the instance as completed and drop the
task, with a replay agreeing. The iterator keeps its own list of tasks to visit (no recursion),
so the bound protects nothing; `install()` makes the default unlimited. Explicit `max_depth`
arguments are left as they are (the library passes none).

Noted for upstream: the default of `max_depth` in SpiffWorkflow/util/task.py and
SpiffWorkflow/bpmn/util/task.py should be None (no limit).
"""
from __future__ import annotations

import inspect
import sys

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator

UNLIMITED = sys.maxsize
LIBRARY_DEPTH = 1000


def install() -> None:
    """Make the iterators' default `max_depth` unlimited (idempotent)."""
    for iterator in (TaskIterator, BpmnTaskIterator):
        init = iterator.__init__
        names = [p.name for p in inspect.signature(init).parameters.values()
                 if p.default is not inspect.Parameter.empty]
        defaults = list(init.__defaults__)
        index = names.index("max_depth")
        if defaults[index] not in (LIBRARY_DEPTH, UNLIMITED):
            raise RuntimeError(f"{iterator.__name__}'s max_depth default is {defaults[index]}, "
                               "not SpiffWorkflow 3.2's: check engine/runtime/task_depth.py")
        defaults[index] = UNLIMITED
        init.__defaults__ = tuple(defaults)

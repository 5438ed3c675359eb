"""Event subprocesses as the runtime runs them: the starts an instance waits on, and a spec
that SpiffWorkflow does not change under our feet.

SpiffWorkflow 3.2 starts an event subprocess when an event matches its start event
(`EventManager.update_collaboration`), and the first time it does, `BpmnStartTask.trigger_wf`
connects the subprocess into the process spec (Start -> subprocess -> end). The spec is the
compiled, cached one that every instance of the version shares: from then on each new
instance started in that process would begin with the event subprocess armed, a replay (which
compiles its own spec) would build a different state than the recorded one, and two processes
of a deployment would run one version two ways. `settle` makes that connection once, when the
spec is compiled, in the form trigger_wf checks for (the subprocess lists Start among its
inputs, Start does not list it among its outputs, so an instance does not start it by itself),
so trigger_wf never changes a shared spec.
"""
from __future__ import annotations


def settle(spec, subprocess_specs: dict) -> None:
    """Connect every event subprocess of `spec` and of `subprocess_specs` as SpiffWorkflow
    would on its first start, so that starting one never changes the spec."""
    for process_spec in [spec, *subprocess_specs.values()]:
        start = process_spec.start
        for name in getattr(start, "trigger_specs", ()):
            task_spec = process_spec.task_specs.get(name)
            if task_spec is None or start.name in task_spec._inputs:
                continue
            task_spec._inputs.append(start.name)      # what trigger_wf asks: "self in inputs?"
            task_spec.connect(process_spec.end)


def starts(workflow):
    """The start event specs of the event subprocesses SpiffWorkflow would start in `workflow`
    on a matching event (the triggers of its top process, as update_collaboration reads them)."""
    for name in getattr(workflow.spec.start, "trigger_specs", ()):
        spec = workflow.subprocess_specs.get(name)
        yield from (spec.bpmn_start_events if spec is not None else ())

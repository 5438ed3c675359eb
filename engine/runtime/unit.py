"""One unit of work in memory: what every change of a workflow runs inside.

The runtime's verbs, replay, what-if and instance migration all change a workflow the same way:
the clock pinned to the event's time, task ids seeded from "<business key>:<event seq>", service
calls collected instead of made; then the change is applied, the engine advanced until it waits,
and the events it threw taken. Doing it once, here, is what lets a replay rebuild exactly the
state that was recorded: the stored state must not differ by one byte.

    with unit.of_work(instance.business_key, instance.audit_seq + 1, at) as work:
        workflow = apply(workflow)
        error, failed_task = work.advance(workflow)
    services.write_intents(session, instance.id, instance.business_key, work.intents, at)

Nothing here touches the database.
"""
from __future__ import annotations

import contextlib
from datetime import datetime

from engine import clock
from engine.runtime import determinism, services, steps


class Unit:
    """What one unit of work collected: service calls, thrown events, the engine's error."""

    def __init__(self, business_key: str, seq: int, at: datetime, calls: services.ServiceCalls):
        self.business_key, self.seq, self.at = business_key, seq, at
        self.calls = calls
        self.thrown: list = []
        self.error: str | None = None
        self.error_task: str | None = None

    def advance(self, workflow) -> tuple[str | None, str | None]:
        """Run the engine until it waits and take the events it threw; returns (error message,
        failed task id) when a task failed (see steps.advance)."""
        self.error, self.error_task = steps.advance(workflow)
        self.thrown = workflow.get_events()
        return self.error, self.error_task

    @property
    def intents(self) -> list[services.Intent]:
        """The outbox intents: the service calls, then one message per thrown event."""
        return self.calls.intents + [
            services.Intent(f"message.{e.event_definition.name}",
                            f"{self.business_key}:msg:{self.seq}:{n}", {"payload": e.payload},
                            None)
            for n, e in enumerate(self.thrown)]


@contextlib.contextmanager
def of_work(business_key: str, seq: int, at: datetime):
    """Pin the clock to `at`, seed task ids from f"{business_key}:{seq}" and collect service
    calls for the length of the block; yields the Unit."""
    determinism.install()
    with clock.pinned(at), determinism.seeded(f"{business_key}:{seq}"), \
            services.collecting(business_key) as calls:
        yield Unit(business_key, seq, at, calls)

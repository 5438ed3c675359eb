"""The runtime as the product runs it: the engine verbs with the domain wired in.

`runtime(settings)` is the one place that says which domain rules ride on every change of an
instance: the after-sales request follows its instance (service_requests.sync), no payment
leaves without the book's consent (payments.guard), and a request that resolves closes its open
SLA escalations (jobs.sla.escalation_closer), and messages that came early are delivered once
the process waits for them (message_buffer.Drain), and what customers say (filing reasons,
rating comments, reopen reasons) is kept on the request and classified (feedback.Recorder).
The API, the pages, the CLI, the scheduler and the demo all build their Runtime here; a bare
`Runtime()` runs processes without them. Building one also tunes the process's garbage
collector for running workflows (engine/runtime/collector.py).
"""
from __future__ import annotations

from engine import config, feedback, message_buffer, payments, service_requests
from engine.jobs import sla
from engine.runtime import collector
from engine.runtime.verbs import Runtime


def runtime(settings: config.Settings | None = None) -> Runtime:
    collector.tune()
    built = Runtime(settings, hooks=[service_requests.sync], intent_guards=[payments.guard],
                    form_guards=[payments.check_refundable])
    built.hooks.append(sla.escalation_closer(built))
    built.hooks.append(message_buffer.Drain(built))
    built.hooks.append(feedback.Recorder(built.settings.bpmn_dir))
    return built

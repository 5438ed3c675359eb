"""The live queue as server-sent events (GET /events/queue): every open staff page learns of new
and changed tasks, its counts for the navigation and the tab title, and the tasks worth a
browser notification (a new P1 task, a breach), without a reload (static/js/live.js).

Each stream looks at the actor's queue every INTERVAL seconds (engine.live_queue, one short
read each time) and says something only when it changed. The server's worker threads are few
(`aftersales serve`: 8), so a stream lasts STREAM_SECONDS and then asks the browser to come
back, and at most MAX_STREAMS pages of a process stream at once (none on a server of one
thread: context.stream_slot): the others are told to come back in FALLBACK_RETRY_MS, which
makes them poll instead of holding a thread.
"""
from __future__ import annotations

import json
import threading
import time

from flask import Response, abort, g, stream_with_context
from flask_babel import gettext as _

from engine import access, clock, live_queue
from web.pages import bp, context
from web.pages.i18n import bpmn_name

INTERVAL = 3.0              # seconds between two looks at the queue
STREAM_SECONDS = 30.0       # then the browser reconnects (EventSource does so by itself)
RETRY_MS = 1000
FALLBACK_RETRY_MS = 15000
MAX_STREAMS = 4
_streams = threading.BoundedSemaphore(MAX_STREAMS)


@bp.get("/events/queue")
def queue_events():
    """text/event-stream of `queue` events: {"total", "mine", "breached", "changed",
    "alerts": [{"kind", "task_id", "request_number", "text"}]}; the first at once. Signed
    out: 204, which tells EventSource to stop (a login page would be an error in the console);
    a role without a task list: 403."""
    user = context.current_user()
    if user is None:
        return Response(status=204)
    if user["role"] not in (*access.TASK_WORKERS, "admin"):
        abort(403)
    slots = _streams            # released into the semaphore it was taken from
    if not context.stream_slot(slots):
        return _stream(iter([f"retry: {FALLBACK_RETRY_MS}\n\n"]))
    actor = context.actor()

    def events():
        try:
            yield f"retry: {RETRY_MS}\n\n"
            before, ends = None, time.monotonic() + STREAM_SECONDS
            while True:
                with context.transaction() as db:
                    after = live_queue.snapshot(db, actor, clock.now())
                news = live_queue.news(before, after)
                if before is None or news["changed"]:
                    yield _event("queue", {**{k: after[k] for k in ("total", "mine", "breached")},
                                           "changed": news["changed"],
                                           "alerts": [_said(a) for a in news["alerts"]]})
                else:       # a comment: a closed page is noticed here and frees its slot
                    yield ":\n\n"
                before = after
                if time.monotonic() >= ends or not _still_signed_in():
                    return
                time.sleep(INTERVAL)
        finally:
            slots.release()

    return _stream(stream_with_context(events()))


def _stream(body) -> Response:
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _said(alert: dict) -> dict:
    """An alert with the sentence of its notification, in the user's language."""
    name = bpmn_name(alert["name"])
    text = (_("New P1 task: %(name)s (%(number)s)", name=name, number=alert["request_number"])
            if alert["kind"] == "p1" else
            _("SLA breached: %(name)s (%(number)s)", name=name, number=alert["request_number"]))
    return {**alert, "text": text}


def _still_signed_in() -> bool:
    """Is the stream's sign-in still good (a logout anywhere ends it at the next look)?"""
    g.pop("pages_user", None)
    return context.current_user() is not None

"""Background work with APScheduler: timers, the outbox, SLA checks, surge alerts, the expiry
of early messages kept too long, the daily payment reconciliation, the after-sales reports and
the quality watch that sends SKUs with too many problems to procurement.

The jobs are the plain functions of engine/jobs/timers.py, outbox.py, sla.py, surge.py and
engine/reconciliation.py; this module only decides when they run. Timers are not polled on a
fixed period: one date job is armed for the earliest due time and re-armed whenever a nearer
timer is created in this process; a slow safety poll catches timers created by other processes.
Several scheduler processes may share one PostgreSQL database (claims use SKIP LOCKED): timers
and outbox rows are leased to the process that claimed them (engine/jobs/timers.py, outbox.py).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from engine import clock, message_buffer, reconciliation, reports, staff_digest
from engine.errors import Conflict, InvalidInput
from engine.history import checkpoints
from engine.jobs import outbox, procurement, sla, surge, timers

log = logging.getLogger(__name__)
# Staff hear of new P1 work and breaches by a digest mail per department this often.
STAFF_DIGEST_MINUTES = 15

# The engine fires a timer only once `due < now` (strictly); wake a hair after the due time.
WAKE_MARGIN = timedelta(milliseconds=20)
SAFETY_POLL_SECONDS = 15
# Yesterday's payments are reconciled early in the morning (the platform's time zone), once the
# provider's statement of the whole day is out and before finance starts work.
RECONCILE_HOUR = 6
# The reports of the week, month and quarter that ended are made every morning they are due
# (engine.reports.generate_due makes each period's once; a missed morning is made up later).
REPORT_HOUR = 7
# Quality problems build up over days: an hourly look is soon enough for purchasing.
QUALITY_WATCH_MINUTES = 60


class PlatformScheduler:
    def __init__(self, sessions, runtime, worker: str | None = None):
        self.sessions = sessions
        self.runtime = runtime
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._armed: datetime | None = None
        self._lock = threading.Lock()
        self._running = threading.Lock()    # one pass of the timer job at a time
        self._rerun = False
        runtime.timer_listeners.append(self.wake_at)

    def start(self) -> None:
        s = self.scheduler
        s.add_job(self.run_timers, "interval", seconds=SAFETY_POLL_SECONDS, id="timers-poll",
                  next_run_time=clock.now(), max_instances=1, coalesce=True)
        s.add_job(self.run_outbox, "interval", seconds=2, id="outbox", max_instances=1, coalesce=True)
        s.add_job(self.run_sla, "interval", seconds=60, id="sla", max_instances=1, coalesce=True)
        s.add_job(self.run_surge, "interval", seconds=60, id="surge", max_instances=1, coalesce=True)
        s.add_job(self.run_staff_digest, "interval", minutes=STAFF_DIGEST_MINUTES,
                  id="staff-digest", max_instances=1, coalesce=True)
        s.add_job(self.run_message_expiry, "interval", seconds=300, id="message-expiry",
                  max_instances=1, coalesce=True)
        s.add_job(self.run_checkpoint, "interval",
                  seconds=self.runtime.settings.audit_checkpoint_seconds, id="audit-checkpoint",
                  max_instances=1, coalesce=True)
        s.add_job(self.run_reconciliation, "cron", hour=RECONCILE_HOUR, minute=0,
                  timezone=self.runtime.settings.timezone, id="reconciliation", max_instances=1,
                  coalesce=True, misfire_grace_time=6 * 3600)
        s.add_job(self.run_quality_watch, "interval", minutes=QUALITY_WATCH_MINUTES,
                  id="quality-watch", max_instances=1, coalesce=True)
        s.add_job(self.run_reports, "cron", hour=REPORT_HOUR, minute=0,
                  timezone=self.runtime.settings.timezone, id="reports", max_instances=1,
                  coalesce=True, misfire_grace_time=12 * 3600)
        s.start()
        log.info("scheduler %s started", self.worker)

    def shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)

    def wake_at(self, due: datetime) -> None:
        """Make sure the timer job runs right after `due` (keeps the earliest wake-up)."""
        with self._lock:
            if self._armed is not None and self._armed <= due:
                return
            self._armed = due
        if self.scheduler.running:
            # One job per wake-up time: re-arming a single job id while it runs would make
            # APScheduler skip (and drop) the new run.
            self.scheduler.add_job(self.run_timers, "date", run_date=due + WAKE_MARGIN,
                                   id=f"timers-wake-{due.isoformat()}", replace_existing=True,
                                   misfire_grace_time=None)

    def run_timers(self) -> int:
        """Fire due timers until none is due, then arm the wake-up for the next one. A call
        while a pass is running asks that pass to go round once more instead of waiting."""
        if not self._running.acquire(blocking=False):
            self._rerun = True
            return 0
        fired = 0
        try:
            while True:
                self._rerun = False
                with self._lock:
                    self._armed = None
                fired += timers.run_due(self.sessions, self.runtime, worker=self.worker)
                with self.sessions() as session:
                    due = timers.next_due(session)
                if due is not None:
                    self.wake_at(due)
                if not self._rerun:
                    return fired
        finally:
            self._running.release()

    def run_outbox(self) -> dict:
        return outbox.dispatch_due(self.sessions, self.runtime, worker=self.worker)

    def run_sla(self) -> dict:
        return sla.check(self.sessions, self.runtime, clock.now())

    def run_surge(self) -> list[str]:
        with self.sessions.begin() as session:
            return surge.check(session, self.runtime, clock.now())

    def run_message_expiry(self) -> int:
        return message_buffer.expire(self.sessions, clock.now())

    def run_staff_digest(self) -> dict:
        return staff_digest.run(self.sessions, self.runtime.settings, clock.now())

    def run_checkpoint(self) -> checkpoints.Checkpoint | None:
        """Sign a checkpoint of the global audit log if it grew. Without a signing key, or when
        the log was cut below what was checkpointed, it signs nothing and says why in the log
        (the web workers go on; `aftersales audit verify` names the damage)."""
        try:
            return checkpoints.sign_head(self.sessions, self.runtime.settings)
        except InvalidInput as err:
            log.warning("no audit checkpoint: %s", err.message)
        except Conflict as err:
            log.error("audit checkpoint refused: %s", err.message)
        return None

    def run_reconciliation(self) -> reconciliation.Report:
        return reconciliation.daily(self.sessions, self.runtime.settings, clock.now())

    def run_reports(self) -> list[str]:
        with self.sessions.begin() as session:
            return reports.generate_due(session, self.runtime.settings.timezone, clock.now())

    def run_quality_watch(self) -> list[str]:
        with self.sessions.begin() as session:
            return procurement.check(session, self.runtime, clock.now())

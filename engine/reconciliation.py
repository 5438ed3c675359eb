"""The daily reconciliation of payments: the ledger (engine/payments.py) against what the
payment provider says it did, for one business day, and the report of every payment on which
they disagree.

The provider's view is its statement: one line per payment, {idempotency_key or reference,
status, amount}, as JSON lines (or one JSON array) or CSV with a header row. It comes from a
file the provider sent (`aftersales payments reconcile --statement FILE`) or, with the HTTP
payment adapter, from the provider itself: `GET {payment_http_url}/statement?date=YYYY-MM-DD`
(urllib, as engine/order_fetch.py asks the shop). The built-in adapter pays inside the ledger's
own transaction, so without a statement only the ledger's own check is made (rows still
pending after 24 hours).

What disagrees (the report's kinds):
- paid_at_provider: the provider paid it, the ledger holds it pending or failed;
- failed_at_provider: the provider failed it, the ledger holds it paid or pending;
- pending_at_provider: the provider is still at it, the ledger holds it settled;
- amount_differs: the provider's amount is not the ledger's;
- duplicate_at_provider: the statement lists one payment more than once;
- unknown_to_ledger: the statement lists a payment the ledger does not hold;
- missing_at_provider: a ledger row of the day (created or settled that day, not failed) is
  not in the statement;
- stale_pending: a ledger row still pending 24 hours after it was written.

`daily()` is the scheduler's job (engine/jobs/scheduler.py): yesterday's report, kept as an
`alert` row (kind payment_reconciliation, key the date) while anything disagrees, and logged.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine import money, signatures
from engine.config import Settings
from engine.errors import Conflict, EngineError, InvalidInput
from engine.models import Alert, Ledger

log = logging.getLogger(__name__)

ALERT_KIND = "payment_reconciliation"
STALE_AFTER = timedelta(hours=24)
MAX_BYTES = 20 * 1024 * 1024
HTTP_TIMEOUT = 30.0
# The provider's words for a payment it made or refused; any other word is "still at it".
PAID_WORDS = frozenset({"paid", "succeeded", "success", "settled", "completed", "refunded"})
FAILED_WORDS = frozenset({"failed", "failure", "refused", "rejected", "declined", "cancelled",
                          "canceled", "reversed"})
_IN = 500     # keys per IN (...) query: SQLite allows a few thousand parameters


@dataclass(frozen=True)
class Entry:
    """One line of the provider's statement."""

    line: int
    idempotency_key: str | None
    reference: str | None
    status: str
    amount: Decimal

    @property
    def state(self) -> str:
        """paid, failed or pending, as the ledger says it."""
        word = self.status.lower()
        return "paid" if word in PAID_WORDS else "failed" if word in FAILED_WORDS else "pending"

    @property
    def name(self) -> str:
        return self.idempotency_key or f"reference {self.reference}"


@dataclass(frozen=True)
class Disagreement:
    """One payment on which the provider and the ledger disagree."""

    kind: str
    payment: str | None            # the idempotency key, or "reference R" for an unknown one
    message: str
    request_no: str | None = None
    order_id: str | None = None

    def line(self) -> str:
        """`kind: payment KEY (request AS-1, order O-1): message`."""
        of = ", ".join(f"{what} {value}" for what, value in
                       (("request", self.request_no), ("order", self.order_id)) if value)
        what = f" payment {self.payment}" if self.payment else ""
        return f"{self.kind}:{what}{f' ({of})' if of else ''}: {self.message}"

    def as_json(self) -> dict:
        return {"kind": self.kind, "payment": self.payment, "request_no": self.request_no,
                "order_id": self.order_id, "message": self.message}


@dataclass
class Report:
    """The reconciliation of one day: what disagrees, and what was compared."""

    day: date
    source: str                    # where the statement came from, or why there was none
    statement_lines: int | None = None     # None: there was no statement
    ledger_rows: int = 0           # the day's ledger rows
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def summary(self) -> str:
        counted = f"{self.ledger_rows} ledger row(s) of the day, " + (
            f"{self.statement_lines} statement line(s) from {self.source}"
            if self.statement_lines is not None else self.source)
        if self.ok:
            return f"payments ok: {self.day.isoformat()}: {counted}"
        return (f"payments disagree: {self.day.isoformat()}: {len(self.disagreements)} "
                f"disagreement(s); {counted}")


# ------------------------------------------------------------------ the statement

def read_statement(path: Path) -> list[Entry]:
    """The statement in the file `path` (CSV when it ends in .csv, else JSON lines or a JSON
    array). Raises InvalidInput naming the file and the first bad line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(f"statement {path.name} cannot be read: {err}",
                           field="statement") from None
    return parse_statement(text, path.name, as_csv=path.suffix.lower() == ".csv")


def fetch_statement(settings: Settings, day: date) -> list[Entry]:
    """The provider's statement of `day`, asked over HTTP (GET {payment_http_url}/statement).
    Raises Conflict (field statement) when the provider does not answer 200 with a statement,
    InvalidInput when a line of its answer is bad."""
    query = urllib.parse.urlencode({"date": day.isoformat()})
    url = f"{(settings.payment_http_url or '').rstrip('/')}/statement?{query}"
    try:
        # Signed as every call to a provider is (engine/signatures.py): a GET signs b"".
        request = urllib.request.Request(url, headers={
            "Accept": "application/json", **signatures.outgoing_headers(settings, b"")})
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            raw = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as err:
        err.close()         # its answer's socket, held as long as the error lives otherwise
        raise _unavailable(day, f"it answered {err.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise _unavailable(day, f"it did not answer ({getattr(err, 'reason', err)})") from None
    except signatures.NoOutgoingSecret as err:
        raise _unavailable(day, f"it was not asked: {err}") from None
    if len(raw) > MAX_BYTES:
        raise _unavailable(day, "its answer is too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _unavailable(day, "its answer is not UTF-8 text") from None
    return parse_statement(text, f"the provider's statement of {day.isoformat()}")


def parse_statement(text: str, name: str, *, as_csv: bool = False) -> list[Entry]:
    """The entries of a statement's text. Raises InvalidInput naming `name` and the line."""
    return [_entry(number, fields, name) for number, fields in
            (_csv_rows(text) if as_csv else _json_rows(text, name))]


def _json_rows(text: str, name: str):
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except ValueError:
            raise _bad(name, 1, "the statement is not JSON") from None
        yield from enumerate(rows, start=1)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except ValueError:
                raise _bad(name, number, "the line is not JSON") from None


def _csv_rows(text: str):
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        yield reader.line_num, {k.strip(): v.strip() for k, v in row.items()
                                if k is not None and v not in ("", None)}


def _entry(number: int, fields, name: str) -> Entry:
    if not isinstance(fields, dict):
        raise _bad(name, number, "a line must be an object")
    key, reference = fields.get("idempotency_key"), fields.get("reference")
    for what, value in (("idempotency_key", key), ("reference", reference)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise _bad(name, number, f"{what} must be text")
    if not key and not reference:
        raise _bad(name, number, "a line must name the payment's idempotency_key or reference")
    status = fields.get("status")
    if not isinstance(status, str) or not status.strip():
        raise _bad(name, number, "status must be text such as paid or failed")
    try:
        value = money.amount(fields.get("amount"), "amount", positive=True)
    except InvalidInput as err:
        raise _bad(name, number, err.message) from None
    return Entry(number, key.strip() if key else None, reference.strip() if reference else None,
                 status.strip(), value)


def _bad(name: str, number: int, message: str) -> InvalidInput:
    return InvalidInput(f"line {number} of {name} is refused; nothing was reconciled",
                        field="statement", details=[{"file": name, "line": number,
                                                     "message": message}])


def _unavailable(day: date, why: str) -> Conflict:
    return Conflict(f"the payment provider's statement of {day.isoformat()} could not be "
                    f"fetched: {why}", field="statement")


# ------------------------------------------------------------------ the comparison

def reconcile(session: Session, day: date, statement: list[Entry] | None, *, tz: str,
              now: datetime, source: str) -> Report:
    """Compare the ledger with `statement` (None: no statement, the ledger's own check only)
    for the business `day` in the time zone `tz`; returns the Report."""
    start, end = _bounds(day, tz)
    report = Report(day, source, None if statement is None else len(statement))
    todays = _rows_of_day(session, start, end)
    report.ledger_rows = len(todays)
    if statement is not None:
        report.disagreements += _against(session, statement, todays)
    report.disagreements += _stale(session, min(now, end))
    return report


def _bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    if day == date.max:         # its end would be in the year 10000
        raise InvalidInput("the day must be before 9999-12-31", field="date")
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def _rows_of_day(session: Session, start: datetime, end: datetime) -> list[Ledger]:
    return list(session.scalars(select(Ledger).where(
        Ledger.status != "failed",
        or_(and_(Ledger.created_at >= start, Ledger.created_at < end),
            and_(Ledger.settled_at >= start, Ledger.settled_at < end))).order_by(Ledger.id)))


def _against(session: Session, statement: list[Entry], todays: list[Ledger]) -> list:
    by_key, by_reference = _ledger_of(session, statement)
    found: dict[int, tuple[Ledger, list[Entry]]] = {}
    problems = []
    for entry in statement:
        row = by_key.get(entry.idempotency_key) if entry.idempotency_key else \
            by_reference.get(entry.reference)
        if row is None:
            problems.append(Disagreement(
                "unknown_to_ledger", entry.name, f"the provider lists a {entry.status} payment "
                f"of {money.text(entry.amount)} (line {entry.line}) that the ledger does not "
                "hold"))
        elif row.id in found:
            found[row.id][1].append(entry)      # a duplicate: compared once, reported below
        else:
            found[row.id] = (row, [entry])
            problems += _compare(entry, row)
    for row, entries in found.values():
        if len(entries) > 1:
            problems.append(_about(row, "duplicate_at_provider", "the statement lists it "
                                   f"{len(entries)} times (lines "
                                   f"{', '.join(str(e.line) for e in entries)})"))
    problems += [_about(row, "missing_at_provider", f"the ledger holds a {row.status} "
                        f"{row.kind} of {money.text(row.amount)} that the provider's statement "
                        "does not list") for row in todays if row.id not in found]
    return problems


def _ledger_of(session: Session, statement: list[Entry]) -> tuple[dict, dict]:
    """The ledger rows the statement names, by idempotency key and by reference."""
    keys = sorted({e.idempotency_key for e in statement if e.idempotency_key})
    references = sorted({e.reference for e in statement if e.reference and not e.idempotency_key})
    rows: list[Ledger] = []
    for column, values in ((Ledger.idempotency_key, keys), (Ledger.reference, references)):
        for at in range(0, len(values), _IN):
            rows += session.scalars(select(Ledger).where(column.in_(values[at:at + _IN])))
    return ({r.idempotency_key: r for r in rows},
            {r.reference: r for r in rows if r.reference})


def _compare(entry: Entry, row: Ledger) -> list[Disagreement]:
    """What the provider's line and the ledger's row disagree on."""
    problems = []
    said = f"the provider says {entry.status} (line {entry.line})"
    if entry.state != row.status:
        kind = {"paid": "paid_at_provider", "failed": "failed_at_provider",
                "pending": "pending_at_provider"}[entry.state]
        problems.append(_about(row, kind, f"{said}, the ledger holds it {row.status}"))
    if entry.amount != Decimal(row.amount) and not (entry.state == row.status == "failed"):
        problems.append(_about(row, "amount_differs", f"the provider's amount is "
                               f"{money.text(entry.amount)}, the ledger's "
                               f"{money.text(row.amount)}"))
    return problems


def _stale(session: Session, at: datetime) -> list[Disagreement]:
    """Ledger rows that were still pending at `at`, 24 hours or more after they were written."""
    rows = session.scalars(select(Ledger).where(
        Ledger.created_at <= at - STALE_AFTER,
        or_(Ledger.status == "pending", Ledger.settled_at > at)).order_by(Ledger.id))
    return [_about(row, "stale_pending", f"the {row.kind} of {money.text(row.amount)} written "
                   f"at {_when(row.created_at)} was still pending at {_when(at)}, "
                   "24 hours or more later") for row in rows]


def _when(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def _about(row: Ledger, kind: str, message: str) -> Disagreement:
    return Disagreement(kind, row.idempotency_key, message, row.request_no, row.order_id)


# ------------------------------------------------------------------ the daily job

def yesterday(settings: Settings, now: datetime) -> date:
    """The last whole business day before `now`, in the platform's time zone."""
    return now.astimezone(ZoneInfo(settings.timezone)).date() - timedelta(days=1)


def statement_for(settings: Settings, day: date, path: Path | None = None):
    """(the statement, where it came from): the file `path`, else the provider's over HTTP
    with the HTTP adapter, else (None, why there is none). Raises what read_statement and
    fetch_statement raise."""
    if path is not None:
        return read_statement(path), f"file {path.name}"
    if settings.payment_adapter == "http" and settings.payment_http_url:
        return fetch_statement(settings, day), "the provider over HTTP"
    return None, "no statement (the built-in adapter pays inside the ledger)"


def daily(sessions, settings: Settings, now: datetime) -> Report:
    """The scheduler's job: reconcile yesterday, keep the report as its alert row; returns it.
    A statement the provider cannot give is itself in the report (kind statement_unavailable),
    and the ledger's own check still runs."""
    day = yesterday(settings, now)
    try:
        statement, source = statement_for(settings, day)
        failure = None
    except EngineError as err:
        statement, source, failure = None, "none: the provider's statement failed", err
    with sessions.begin() as session:
        report = reconcile(session, day, statement, tz=settings.timezone, now=now,
                           source=source)
        if failure is not None:
            report.disagreements.insert(0, Disagreement(
                "statement_unavailable", None, failure.message))
        record(session, report, now)
    (log.info if report.ok else log.warning)("%s", report.summary())
    return report


def record(session: Session, report: Report, now: datetime) -> Alert | None:
    """Keep `report` as the open alert of its day (updated when the day is reconciled again,
    closed once it agrees); returns the alert, None when the day agrees and had none."""
    alert = session.scalars(select(Alert).where(
        Alert.kind == ALERT_KIND, Alert.key == report.day.isoformat())).first()
    if alert is None and report.ok:
        return None
    if alert is None:
        alert = Alert(kind=ALERT_KIND, key=report.day.isoformat(), opened_at=now)
        session.add(alert)
    alert.count = len(report.disagreements)
    alert.closed_at = now if report.ok else None
    alert.details = {"date": report.day.isoformat(), "source": report.source,
                     "summary": report.summary(), "checked_at": now.isoformat(),
                     "disagreements": [d.as_json() for d in report.disagreements]}
    session.flush()
    return alert

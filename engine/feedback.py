"""Customer feedback on the record: what customers said about their requests, in their words,
kept on the request, classified, searchable.

Four kinds of text, each taken from the event that carried it, by a runtime hook
(`Recorder`, wired in engine.platform) so that every door that files or answers (the API, the
customer app, the pages, the message buffer) records it alike:
* `filing`: the reason given when a request is filed (`complaint` when the request is one);
* `rating`: the comment of a satisfaction rating (csat_submitted);
* `reopen`: the comment of a complaint the customer did not confirm (complaint_feedback with
  confirmed false), `complaint_comment` when they confirmed it.
Each row is classified when stored (engine.feedback_classifier, by the taxonomy version in
force, recorded on the row) and its classes are `feedback_class` rows, so reports count them
in SQL. Reading follows the requests' rule: customers see their own texts (without the
internal classes), staff who read every request (customer service, management, auditors,
admins) search them all; other staff read a request's feedback through the request.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state

from engine import access, feedback_classifier, feedback_taxonomy, prebuilt, service_requests
from engine.access import Actor
from engine.errors import Forbidden, InvalidInput
from engine.models import Feedback, FeedbackClass, FeedbackTaxonomy, ServiceRequest
from engine.orders import CATEGORIES

KINDS = ("filing", "complaint", "rating", "reopen", "complaint_comment")
MAX_QUERY = 100


_REQUEST = select(ServiceRequest.id, ServiceRequest.category).where(
    ServiceRequest.number == bindparam("number"))
_ADD_CLASSES = insert(FeedbackClass)


class Recorder:
    """Runtime hook: store the customer's words an event carries (see the module docstring)."""

    def __init__(self, bpmn_dir: Path):
        self.bpmn_dir = bpmn_dir

    def __call__(self, session: Session, instance, workflow, event: dict) -> None:
        if event["kind"] not in ("started", "message_delivered") \
                or instance.process_key != service_requests.ENTRY_PROCESS:
            return
        said = words_of(event)
        if not said:
            return
        request = _request_of(session, instance.business_key)
        if request is None:     # an entry process started without a request (tests, tools)
            return
        for kind, text in said:
            record(session, self.bpmn_dir, request_id=request.id,
                   request_no=instance.business_key, category=request.category, kind=kind,
                   text=text, instance_id=instance.id, event_seq=event["seq"], at=event["at"])


def _request_of(session: Session, number: str):
    """(id, category) of request `number`: the session's own object when it holds one (a
    filing's, whose row is queued with the unit's writes), else as committed, read ahead of
    the unit's writes (neither column ever changes), so that no transaction begins here."""
    for obj in session.identity_map.values():
        if isinstance(obj, ServiceRequest) and instance_state(obj).dict.get("number") == number:
            return obj
    return prebuilt.ahead(session, _REQUEST, {"number": number}).first()


def words_of(event: dict) -> list[tuple[str, str]]:
    """The (kind, text) pairs of customer feedback in an audit event row (none: [])."""
    payload = event["payload"] or {}
    if event["kind"] == "started":
        data = payload.get("data") or {}
        kind = "complaint" if data.get("type") == "complaint" else "filing"
        return _texts(kind, data.get("reason"))
    message = payload.get("payload") or {}
    if payload.get("name") == "csat_submitted":
        return _texts("rating", message.get("comment"))
    if payload.get("name") == "complaint_feedback":
        kind = "complaint_comment" if message.get("confirmed") else "reopen"
        return _texts(kind, message.get("comment"))
    return []


def _texts(kind: str, text) -> list[tuple[str, str]]:
    return [(kind, text.strip())] if isinstance(text, str) and text.strip() else []


def record(session: Session, bpmn_dir: Path, *, request_id: int, request_no: str,
           category: str, kind: str, text: str, instance_id: int, event_seq: int,
           at: datetime) -> Feedback:
    """Store and classify one text; returns its row (queued with the unit's writes on
    PostgreSQL: engine.prebuilt.add_drawn)."""
    version, classes = classify(session, bpmn_dir, text)
    row = prebuilt.add_drawn(session, Feedback(
        request_id=request_id, request_no=request_no, category=category, kind=kind, text=text,
        taxonomy_version=version, instance_id=instance_id, event_seq=event_seq, at=at))
    if classes:
        prebuilt.write(session, _ADD_CLASSES,
                       [{"feedback_id": row.id, "name": name} for name in classes])
    return row


def classify(session: Session, bpmn_dir: Path, text: str) -> tuple[int, list[str]]:
    """(the taxonomy version in force, the class names it gives `text`)."""
    taxonomy = feedback_taxonomy.current(session, bpmn_dir)
    return taxonomy.version, _classifier(taxonomy, bpmn_dir).classify(text)


def _classifier(taxonomy: FeedbackTaxonomy, bpmn_dir: Path) -> feedback_classifier.Classifier:
    """The version's classifier; its source (a JSON document the row loads only when asked,
    engine.feedback_taxonomy) is read only the first time in a process."""
    return (feedback_classifier.built(taxonomy.sha256, bpmn_dir)
            or feedback_classifier.for_taxonomy(taxonomy.source, taxonomy.sha256, bpmn_dir))


def reclassify(session: Session, bpmn_dir: Path) -> int:
    """Classify again every row classified by an older taxonomy version than the one in
    force; returns how many rows changed version."""
    taxonomy = feedback_taxonomy.current(session, bpmn_dir)
    classifier = _classifier(taxonomy, bpmn_dir)
    rows = list(session.scalars(select(Feedback).where(
        Feedback.taxonomy_version != taxonomy.version)))
    for row in rows:
        session.execute(delete(FeedbackClass).where(FeedbackClass.feedback_id == row.id))
        session.add_all(FeedbackClass(feedback_id=row.id, name=name)
                        for name in classifier.classify(row.text))
        row.taxonomy_version = taxonomy.version
    session.flush()
    return len(rows)


def of_request(session: Session, request_id: int, *, internal: bool) -> list[dict]:
    """The feedback of one request, oldest first (the caller has judged that it may be read):
    {kind, text, at}, and for staff (`internal`) its classes and taxonomy version."""
    rows = list(session.scalars(select(Feedback).where(Feedback.request_id == request_id)
                                .order_by(Feedback.at, Feedback.id)))
    return _shown(session, rows, internal=internal)


def search(session: Session, actor: Actor, filters: dict, *, page: int,
           per_page: int) -> tuple[list[dict], int]:
    """(feedback newest first, how many match) for `filters`: q (words the text contains),
    class (a class name), kind, category, start and end (datetimes, [start, end)). Raises
    Forbidden for whoever does not read every request, InvalidInput naming a bad filter."""
    if not access.reads_every_request(actor):
        raise Forbidden(f"{actor.name} may not search customers' feedback: customer service, "
                        f"management and auditors do")
    where = []
    text = filters.get("q")
    if text:
        if len(text) > MAX_QUERY:
            raise InvalidInput(f"q must be at most {MAX_QUERY} characters", field="q")
        for word in text.split():
            where.append(Feedback.text.contains(word, autoescape=True))
    for name, allowed in (("kind", KINDS), ("category", CATEGORIES)):
        value = filters.get(name)
        if value:
            if value not in allowed:
                raise InvalidInput(f"{name} must be one of {', '.join(allowed)}", field=name)
            where.append(getattr(Feedback, name) == value)
    if filters.get("class"):
        where.append(Feedback.id.in_(select(FeedbackClass.feedback_id).where(
            FeedbackClass.name == filters["class"])))
    if filters.get("start") is not None:
        where.append(Feedback.at >= filters["start"])
    if filters.get("end") is not None:
        where.append(Feedback.at < filters["end"])
    total = session.scalar(select(func.count()).select_from(Feedback).where(*where))
    rows = list(session.scalars(select(Feedback).where(*where)
                                .order_by(Feedback.at.desc(), Feedback.id.desc())
                                .limit(per_page).offset((page - 1) * per_page)))
    return _shown(session, rows, internal=True), total


def _shown(session: Session, rows: list[Feedback], *, internal: bool) -> list[dict]:
    classes: dict[int, list[str]] = {}
    if internal and rows:
        for feedback_id, name in session.execute(
                select(FeedbackClass.feedback_id, FeedbackClass.name)
                .where(FeedbackClass.feedback_id.in_([r.id for r in rows]))):
            classes.setdefault(feedback_id, []).append(name)
    shown = []
    for row in rows:
        item = {"kind": row.kind, "text": row.text, "at": row.at}
        if internal:
            item.update(id=row.id, request_no=row.request_no, category=row.category,
                        classes=sorted(classes.get(row.id, []), key=_order_of(session)),
                        taxonomy_version=row.taxonomy_version)
        shown.append(item)
    return shown


def _order_of(session: Session):
    """Sort key: a class name's place in the newest taxonomy (unknown names last)."""
    newest = feedback_taxonomy.newest(session)
    names = feedback_taxonomy.class_names(newest.source) if newest is not None else []
    return lambda name: (names.index(name) if name in names else len(names), name)


def counts(session: Session, start: datetime, end: datetime) -> dict:
    """How often each class was given to feedback in [start, end): {"total": feedback rows,
    "by_class": {name: n}, "by_category": {category: {name: n}}}, classes by count."""
    in_range = [Feedback.at >= start, Feedback.at < end]
    total = session.scalar(select(func.count()).select_from(Feedback).where(*in_range))
    by_class: dict[str, int] = {}
    by_category: dict[str, dict[str, int]] = {}
    for category, name, n in session.execute(
            select(Feedback.category, FeedbackClass.name, func.count())
            .join(FeedbackClass, FeedbackClass.feedback_id == Feedback.id).where(*in_range)
            .group_by(Feedback.category, FeedbackClass.name)):
        by_class[name] = by_class.get(name, 0) + n
        by_category.setdefault(category, {})[name] = n
    return {"total": total, "by_class": _ranked(by_class),
            "by_category": {c: _ranked(v) for c, v in sorted(by_category.items())}}


def _ranked(counted: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))

"""The feedback taxonomy: the classes customers' words are sorted into and the keyword rules
that recognise them, edited by process owners and deployed in versions like the routing table.

The source is a JSON document (bpmn/feedback/taxonomy.json as shipped): `classes`, each with a
`code`, a Chinese `name` (what reports and `aftersales feedback classify` print), an English
`en` and its `rules`; `other`, the class of feedback nothing recognises; `model.threshold`, how
sure the statistical model must be to add a class (engine/feedback_classifier.py). A rule is a
word, or words joined by "+" that must all appear in one clause ("物流+慢"); a word written
"!退款" must not appear in it.

Why a JSON table of its own rather than a DMN decision: a decision table answers one row per
input, while feedback is multi-label and its rules are word lists that grow to hundreds of
entries; owners edit a list of words more easily than DMN cells. It is versioned as the routing
table is: each deployment is a numbered row (identical content is not deployed twice), the
newest classifies, and every stored feedback row names the version that classified it, so
`aftersales feedback reclassify` can bring old rows to the current table.
"""
from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from engine import clock, json_safety, prebuilt
from engine.errors import InvalidInput
from engine.models import FeedbackTaxonomy

SHIPPED = Path("feedback") / "taxonomy.json"     # under the settings' bpmn_dir
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_RULES = 2000
MAX_RULE = 60


def shipped_source(bpmn_dir: Path) -> dict:
    """The taxonomy as shipped in `bpmn_dir` (checked). Raises InvalidInput."""
    return check(json.loads((bpmn_dir / SHIPPED).read_text(encoding="utf-8")))


def check(source) -> dict:
    """`source` if it is a well-formed taxonomy; InvalidInput naming the first bad field
    otherwise (e.g. "classes[2].rules[5]")."""
    if not isinstance(source, dict):
        raise InvalidInput("the taxonomy must be a JSON object", field="taxonomy")
    json_safety.check(source)
    _class(source.get("other"), "other", rules=False)
    model = source.get("model") or {}
    if not isinstance(model, dict):
        raise InvalidInput("model must be an object such as {\"threshold\": 0.6}", field="model")
    threshold = model.get("threshold", 0.6)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | Decimal) \
            or not 0 < threshold < 1:
        raise InvalidInput("model.threshold must be a number between 0 and 1",
                           field="model.threshold")
    if isinstance(threshold, Decimal):      # as a body reads it (web.read_json): a score, not money
        source = {**source, "model": {**model, "threshold": float(threshold)}}
    classes = source.get("classes")
    if not isinstance(classes, list) or not classes:
        raise InvalidInput("classes must be a non-empty list", field="classes")
    seen = {source["other"]["code"]: "other", source["other"]["name"]: "other"}
    for i, entry in enumerate(classes):
        where = f"classes[{i}]"
        _class(entry, where, rules=True)
        for key in ("code", "name"):
            if entry[key] in seen:
                raise InvalidInput(f"{where}.{key} {entry[key]!r} is already used by "
                                   f"{seen[entry[key]]}", field=f"{where}.{key}")
            seen[entry[key]] = where
    return source


def _class(entry, where: str, *, rules: bool) -> None:
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where} must be an object with code, name and en", field=where)
    if not isinstance(entry.get("code"), str) or not _CODE.fullmatch(entry["code"]):
        raise InvalidInput(f"{where}.code must be lower-case letters, digits or _ (at most 40)",
                           field=f"{where}.code")
    for key in ("name", "en"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 40:
            raise InvalidInput(f"{where}.{key} must be text of 1-40 characters",
                               field=f"{where}.{key}")
    if not rules:
        return
    words = entry.get("rules")
    if not isinstance(words, list) or len(words) > MAX_RULES:
        raise InvalidInput(f"{where}.rules must be a list of at most {MAX_RULES} words",
                           field=f"{where}.rules")
    for j, rule in enumerate(words):
        parts = [part.strip() for part in rule.split("+")] if isinstance(rule, str) else []
        if not parts or len(rule) > MAX_RULE or not all(p.lstrip("!").strip() for p in parts) \
                or all(p.startswith("!") for p in parts):
            raise InvalidInput(f"{where}.rules[{j}] must be a word, or words joined by + (a "
                               f"word after ! must not appear), at most {MAX_RULE} characters, "
                               f"one of them without !", field=f"{where}.rules[{j}]")


def digest(source: dict) -> str:
    return hashlib.sha256(json.dumps(source, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def deploy(session: Session, source, actor_name: str) -> tuple[FeedbackTaxonomy, bool]:
    """Deploy `source` as the next version; (the version row, whether it is new): the same
    content as a deployed version is that version. Raises InvalidInput naming the field."""
    source = check(source)
    sha = digest(source)
    existing = session.scalars(select(FeedbackTaxonomy).where(FeedbackTaxonomy.sha256 == sha)).first()
    if existing is not None:
        return existing, False
    newest = session.scalar(select(func.max(FeedbackTaxonomy.version))) or 0
    row = FeedbackTaxonomy(version=newest + 1, sha256=sha, source=source,
                           deployed_by=actor_name, deployed_at=clock.now())
    session.add(row)
    session.flush()
    return row, True


# Asked by every filing that says something; the source, a JSON document, is loaded when it
# is read (the classifier of a version is built once per process: engine.feedback).
_NEWEST = (select(FeedbackTaxonomy).options(defer(FeedbackTaxonomy.source))
           .order_by(FeedbackTaxonomy.version.desc()).limit(1))


# The same, read ahead of a unit's queued writes (they never deploy a taxonomy).
_NEWEST_ROW = (select(*(c for c in FeedbackTaxonomy.__table__.columns if c.key != "source"))
               .order_by(FeedbackTaxonomy.version.desc()).limit(1))


def newest(session: Session) -> FeedbackTaxonomy | None:
    return session.scalars(_NEWEST).first()


def in_force(session: Session, bpmn_dir: Path) -> tuple[dict, int | None]:
    """(source, version) of the taxonomy that classifies, for a reader: the newest deployed
    version, or the shipped table (version None) before the first deployment. Writes nothing."""
    row = newest(session)
    return (row.source, row.version) if row is not None else (shipped_source(bpmn_dir), None)


def current(session: Session, bpmn_dir: Path) -> FeedbackTaxonomy:
    """The newest deployed version; the first time, the shipped table is deployed as version 1
    (by "system"), so that every classification names a version. Two first filings at once on
    PostgreSQL: the second's insert waits for the first and fails on the unique version, its
    savepoint is rolled back and it takes the first's row."""
    found = prebuilt.one(session, FeedbackTaxonomy, _NEWEST_ROW, ahead=True)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            return deploy(session, shipped_source(bpmn_dir), "system")[0]
    except IntegrityError:
        return newest(session)


def class_names(source: dict) -> list[str]:
    """The Chinese names of a taxonomy's classes in its order, `other` last."""
    return [entry["name"] for entry in source["classes"]] + [source["other"]["name"]]


def versions(session: Session) -> list[dict]:
    """Every deployed version, newest first: {version, sha256, deployed_by, deployed_at,
    classes (their names)}."""
    return [{"version": row.version, "sha256": row.sha256, "deployed_by": row.deployed_by,
             "deployed_at": row.deployed_at,
             "classes": class_names(row.source)}
            for row in session.scalars(select(FeedbackTaxonomy)
                                       .order_by(FeedbackTaxonomy.version.desc()))]

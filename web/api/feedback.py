"""Customer feedback (engine/feedback.py) and its taxonomy (engine/feedback_taxonomy.py).

GET /api/feedback searches what customers said (text, class, kind, category, date range) for
those who read every request; a request's own feedback is on GET /api/requests/{ref}. The
taxonomy is read by the KPI readers, deployed in a new version by process owners, and tried on
texts before it is deployed (POST /api/feedback/classify with the draft taxonomy).
"""
from __future__ import annotations

from flask import Blueprint, request

from engine import access, feedback, feedback_classifier, feedback_taxonomy
from web import query
from web.api.base import actor, allow, body, only_args, page_args, paged, settings, transaction

bp = Blueprint("feedback", __name__)

FILTERS = ("q", "class", "kind", "category")
# Who may ask; among staff only those who read every request get answers (engine.feedback.search).
READERS = ("staff", "supervisor", "auditor", "admin")
# Trying texts is a POST, which auditors (read-only everywhere) do not send.
CLASSIFIERS = tuple(role for role in access.KPI_READERS if role != "auditor")
MAX_TEXTS = 200
CLASSIFY = {"type": "object", "required": ["texts"], "additionalProperties": False,
            "properties": {"texts": {"type": "array", "maxItems": MAX_TEXTS,
                                     "items": {"type": "string", "maxLength": 2000}},
                           "taxonomy": {"type": "object"}}}
TAXONOMY = {"type": "object"}


@bp.get("/feedback")
@allow(*READERS)
def search():
    only_args(*FILTERS, "from", "to", "page", "per_page")
    page, per_page = page_args()
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    if request.args.get("from") or request.args.get("to"):
        filters["start"], filters["end"] = query.date_range(
            request.args.get("from"), request.args.get("to"), settings().timezone)
    with transaction() as session:
        items, total = feedback.search(session, actor(), filters, page=page, per_page=per_page)
        return paged(items, total, page, per_page)


@bp.get("/feedback/taxonomy")
@allow(*access.KPI_READERS)
def taxonomy():
    with transaction() as session:
        source, version = feedback_taxonomy.in_force(session, settings().bpmn_dir)
        return {"version": version, "taxonomy": source,
                "versions": feedback_taxonomy.versions(session)}


@bp.post("/feedback/taxonomy")
@allow(*access.OWNERS)
def deploy():
    source = body(TAXONOMY)
    with transaction() as session:
        row, created = feedback_taxonomy.deploy(session, source, actor().name)
        return {"version": row.version, "sha256": row.sha256, "created": created}, \
            201 if created else 200


@bp.post("/feedback/classify")
@allow(*CLASSIFIERS)
def classify():
    fields = body(CLASSIFY)
    draft = fields.get("taxonomy")
    if draft is None:
        with transaction() as session:
            source, _ = feedback_taxonomy.in_force(session, settings().bpmn_dir)
    else:
        source = feedback_taxonomy.check(draft)
    classifier = feedback_classifier.for_taxonomy(source, feedback_taxonomy.digest(source),
                                                  settings().bpmn_dir)
    return {"items": [{"text": text, "classes": classifier.classify(text)}
                      for text in fields["texts"]]}

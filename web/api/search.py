"""GET /api/search?q=: after-sales requests by number, order, customer or phone, for everyone
inside who reads requests (engine/search.py; what each may read is engine.service_requests')."""
from __future__ import annotations

from flask import Blueprint, request

from engine import search
from web.api.base import actor, allow, only_args, transaction

bp = Blueprint("search", __name__)


@bp.get("/search")
@allow(*search.SEARCHERS)
def find():
    only_args("q")
    with transaction() as session:
        return search.search(session, actor(), request.args.get("q"))

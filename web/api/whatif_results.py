"""What-if results for supervisors (engine/whatif_results.py): the last what-if that process
owners ran on each draft, cut to the requests and departments the supervisor oversees. Read
only; supervisors and admins (403 for everyone else, 404 for a draft with nothing of theirs).
"""
from __future__ import annotations

from flask import Blueprint

from engine import access, whatif_results
from web.api.base import actor, allow, only_args, transaction

bp = Blueprint("whatif_results", __name__)


@bp.get("/whatif-results")
@allow(*access.SUPERVISORS)
def listing():
    only_args()
    with transaction() as session:
        return {"items": whatif_results.listing(session, actor())}


@bp.get("/whatif-results/<id:draft_id>")
@allow(*access.SUPERVISORS)
def show(draft_id):
    only_args()
    with transaction() as session:
        return whatif_results.result(session, actor(), draft_id)

"""Customers' words behind a dashboard figure (/feedback?q=&class=&from=&to=): the feedback that
says a word of the word cloud or has a class, newest first, each linked to its request, for those
who read every request (engine.feedback.search decides)."""
from __future__ import annotations

from flask import render_template, request

from engine import access, feedback
from web import query
from web.pages import bp, context

SHOWN = 100


@bp.get("/feedback")
@context.roles_required(*access.KPI_READERS, "staff")
def feedback_list():
    args = request.args
    filters = {name: args[name] for name in ("q", "class", "kind", "category") if args.get(name)}
    filters["start"], filters["end"] = query.date_range(args.get("from"), args.get("to"),
                                                        context.settings().timezone)
    with context.transaction() as db:
        items, total = feedback.search(db, context.actor(), filters, page=1, per_page=SHOWN)
    return render_template("feedback.html", items=items, total=total, query=args.get("q", ""),
                           chosen=args.get("class", ""), shown=SHOWN)

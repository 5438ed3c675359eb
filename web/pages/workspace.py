"""The staff workspace around the inbox: the top bar's search (/search) and open-task count,
filing a request for a caller (/requests/new), saved filters (one's own and the department's),
and what keeps the pages alive between loads: a fresh CSRF token for the page's script when the
session changed (a sign-in in another tab), so that a form is sent again instead of lost, and
who else has a task open (presence).

Registered with the pages' blueprint by web/pages/inbox.py, which is what uses it.
"""
from __future__ import annotations

from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import (access, clock, orders, presence, saved_filters, search, service_requests,
                    tasklist, tasks)
from engine.errors import EngineError, InvalidInput
from web.pages import bp, context, refusals


@bp.app_context_processor
def _workspace_globals():
    return {"searchers": search.SEARCHERS, "queue_count": queue_count}


def queue_count() -> int:
    """How many open tasks the signed-in person sees (the navigation's count; counted up to
    engine.tasklist.COUNT_LIMIT); 0 for someone without a task list. Every page's top bar
    asks it, error pages too, so it never raises."""
    try:
        with context.transaction() as db:
            return tasklist.list_tasks(db, context.actor(), tasklist.Filters(), "due", 1, 1)[1]
    except EngineError:
        return 0


@bp.get("/search")
@context.roles_required(*search.SEARCHERS)
def search_page():
    """The top bar's search: requests by number, order, customer or phone, each with the open
    tasks of it the searcher may see."""
    text = request.args.get("q", "")
    found, error = None, None
    if text.strip():
        try:
            with context.transaction() as db:
                found = search.search(db, context.actor(), text)
                for item in found["items"]:
                    item["open_tasks"] = (tasks.open_tasks_of(db, context.actor(),
                                                              item["instance_id"])
                                          if item.get("instance_id") else [])
        except InvalidInput:
            error = _("A search is 1 to %(n)s characters.", n=search.MAX_QUERY)
    status = 422 if error else 200
    return render_template("search.html", q=text, found=found, error=error), status


@bp.route("/requests/new", methods=["GET", "POST"])
@context.roles_required(*access.TASK_WORKERS)
def file_for_caller():
    """Customer service files a request for a customer on the phone: the customer's id shows
    their orders; the clerk picks the order, the type, the items (none ticked: all) and writes
    the reason, and the request starts as if the customer had filed it (engine.service_requests
    .file; who may file for a customer is its rule, and the item rules are the same)."""
    who = context.actor()
    # The rule of POST /api/requests (web/api/requests.py): staff file only in customer service.
    if who.role in access.STAFF_ROLES and who.department not in access.FILING_DEPARTMENTS:
        abort(403)
    form = request.form if request.method == "POST" else request.args
    customer_id = form.get("customer_id", "").strip()
    shown, error, status = [], None, 200
    try:
        with context.transaction() as db:
            if customer_id:
                shown = orders.list_orders(db, context.actor(), customer_id)
        if request.method == "POST":
            skus = request.form.getlist("sku")
            fields = {"customer_id": customer_id, "order_id": request.form.get("order_id", ""),
                      "type": request.form.get("type", ""),
                      "reason": request.form.get("reason", "").strip()}
            if skus:
                quantities = {i["sku"]: i["quantity"] for o in shown for i in o["items"]}
                fields["items"] = [{"sku": sku, "quantity": quantities.get(sku, 1)}
                                   for sku in skus]
            with context.transaction() as db:
                filed, _created = service_requests.file(db, context.runtime(), fields,
                                                        context.actor())
            return render_template("task_done.html", message=_(
                "Request %(number)s is filed for %(customer)s and on its way.",
                number=filed["number"], customer=customer_id))
    except EngineError as err:
        error, status = refusals.say(err) + _field_note(err), context.status_of(err)
    return render_template("file_request.html", customer_id=customer_id, orders=shown,
                           form=form, types=service_requests.TYPES, error=error), status


def _field_note(err: EngineError) -> str:
    """" (field: order_id)" after a refusal that names its field, so the clerk sees where."""
    return f" ({err.field})" if getattr(err, "field", None) else ""


@bp.post("/inbox/filters")
@context.roles_required(*access.TASK_WORKERS)
def save_filter():
    """Keep the inbox's current filter under a name (shared with the department if asked);
    back to the inbox with that filter."""
    query = request.form.get("query", "")
    try:
        with context.transaction() as db:
            saved_filters.save(db, context.actor(), request.form.get("name"), query,
                               share=request.form.get("share") == "1", now=clock.now())
    except InvalidInput as err:
        raise InvalidInput(_filter_refusal(err), field=err.field) from None
    return redirect(url_for("pages.inbox") + ("?" + query if query else ""))


@bp.post("/inbox/filters/<id:filter_id>/delete")
@context.roles_required(*access.TASK_WORKERS)
def delete_filter(filter_id):
    with context.transaction() as db:
        saved_filters.delete(db, context.actor(), filter_id)
    return redirect(url_for("pages.inbox"))


def _filter_refusal(err: InvalidInput) -> str:
    """The engine's refusal of a filter, said in the page's language."""
    return {"name": _("Give the filter a name of 1 to %(n)s characters (at most %(m)s filters "
                      "each).", n=saved_filters.MAX_NAME, m=saved_filters.MAX_PER_PERSON),
            "share": _("Only members of a department can share a filter with it."),
            }.get(err.field, _("This filter is too long to keep."))


@bp.post("/tasks/<task_id>/presence")
@context.roles_required(*access.TASK_WORKERS)
def task_presence(task_id):
    """The open pane says it is still open (or, with `left`, that it closed); answers
    {"others": [names], "message": "cs_sup is working on this"} ("" when nobody else)."""
    now = clock.now()
    with context.transaction() as db:
        tasks.scope(db, context.actor(), task_id)
        if request.form.get("left"):
            presence.left(db, task_id, context.actor())
            return jsonify(others=[], message="")
        presence.seen(db, task_id, context.actor(), now)
        others = presence.others(db, task_id, context.actor(), now)
    return jsonify(others=others, message=working_on(others))


def working_on(others: list[str]) -> str:
    """"cs_sup is working on this" for the people who have the task open, "" for nobody."""
    if not others:
        return ""
    return _("%(who)s is working on this", who=others[0]) if len(others) == 1 else \
        _("%(who)s are working on this", who=", ".join(others))


@bp.get("/session/csrf")
def session_token():
    """{"token": the session's CSRF token} for a signed-in user; 401 {"message"} otherwise
    (the script tells the person to sign in again, keeping their input)."""
    if context.current_user() is None:
        return jsonify(message=refusals.signed_out()), 401
    return jsonify(token=context.csrf_token())

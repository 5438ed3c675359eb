"""The OpenAPI 3 document of the JSON API, served at /api/openapi.json, and the health check
beside it (GET /api/health).

Written by hand from one table (OPERATIONS) so that it reads as documentation; request bodies
come from web/api/schemas.py, the very schemas the routes validate with, and `x-roles` lists the
roles each route admits. tests/web/test_openapi.py checks the table against the app's URL map
and the routes' role guards, both ways.
"""
from __future__ import annotations

from flask import Flask

from engine import access, return_labels, search, signatures
from engine.access import (ADMIN, EXPORT_READERS, INCIDENT_READERS, INSTANCE_READERS,
                           KPI_READERS, MESSAGE_SENDERS, ORDER_READERS, ORDER_WRITERS,
                           OWNER_READERS, OWNERS, REQUEST_FILERS,
                           REQUEST_READERS, SUPERVISORS, TASK_READERS, TASK_WORKERS)
from engine.tasklist import SORTS
from web.api import customer, drafts, feedback, schemas, tiers
from web.api.admin import LIFT_LOCK, PASSWORD_RESET, SECRET_ISSUE
from web.api.auth import SIGNED_IN
from web.api.owner import MIGRATION

CUSTOMER = ("customer",)
MESSENGERS = tuple(MESSAGE_SENDERS)


def _q(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


PAGING = [_q("page", "page number, from 1", {"type": "integer", "minimum": 1}),
          _q("per_page", "rows per page (at most 100)", {"type": "integer", "minimum": 1,
                                                          "maximum": 100})]
TASK_FILTERS = [
    _q("department", "only this department's tasks"),
    _q("assignee", "'me', 'unassigned' or a user name"),
    _q("overdue", "true: past their due time", {"type": "boolean"}),
    _q("at_risk", "true: past the at-risk point but not yet due", {"type": "boolean"}),
    _q("tier", "L1, L2 or expert: tasks of requests that need this service tier"),
    _q("priority", "1 (highest) to 9", {"type": "integer"}),
    _q("process", "process key"),
    _q("created_from", "ISO time"), _q("created_to", "ISO time (exclusive)"),
    _q("due_from", "ISO time"), _q("due_to", "ISO time (exclusive)"),
    _q("sort", "due (default, no due date last), priority or age", {"enum": list(SORTS)}),
    *PAGING]
REQUEST_FILTERS = [_q("status", "request status"), _q("category", "product category"),
                   _q("type", "request type"), _q("customer_id", "staff only: one customer"),
                   _q("order_id", "one order"), *PAGING]
KPI_FILTERS = [_q("from", "ISO date or time (default: 30 days before 'to')"),
               _q("to", "ISO date (inclusive) or time (exclusive); default now"),
               _q("category", "product category"), _q("department", "department")]
MULTIPART = {"multipart/form-data": {"schema": {"type": "object", "properties": {
    "files": {"type": "array", "items": {"type": "string", "format": "binary"},
              "description": "*.bpmn, *.dmn and forms/<name>.json files"},
    "comment": {"type": "string"}}}}}
UPLOAD = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                             "properties": {"file": {"type": "string",
                                                                     "format": "binary"}}}}}

# (method, path, tag, summary, roles (None: public), body, success status, conflict?, query)
OPERATIONS = [
    ("post", "/api/auth/token", "auth", "Exchange username and password for a bearer token; "
     "failed logins are counted per account and per client address, and while either is "
     "locked out the answer is 429 with Retry-After", None, schemas.TOKEN, (200, 401, 429),
     False, []),
    ("post", "/api/auth/logout", "auth", "End every sign-in of the caller: each bearer token "
     "and each page session", SIGNED_IN, schemas.EMPTY, 200, False, []),
    ("put", "/api/orders/{order_id}", "orders", "Send an order (the shop): created 201, updated "
     "or unchanged 200 (`result` says which); 422 names the bad field", ORDER_WRITERS,
     schemas.ORDER, (201, 200), True, []),
    ("get", "/api/orders", "orders", "Orders of a customer, newest first (customers: their "
     "own; staff name the customer_id)", ORDER_READERS, None, 200, False,
     [_q("customer_id", "staff: whose orders")]),
    ("get", "/api/orders/{order_id}", "orders", "One order with its items; another customer's "
     "order is 404", ORDER_READERS, None, 200, False, []),
    ("post", "/api/requests", "requests", "File an after-sales request from an order: category, "
     "amount, warranty and address come from it (customers for themselves, without "
     "customer_id or customer_tier; customer service names the customer_id that owns the "
     "order); 404 for an unknown order, 409 when a chosen item has an open request",
     REQUEST_FILERS,
     schemas.STAFF_FILE_REQUEST, (201, 200), True, []),
    ("get", "/api/requests", "requests", "Requests (customers: their own)", REQUEST_READERS,
     None, 200, False, REQUEST_FILTERS),
    ("get", "/api/requests/{ref}", "requests", "A request (by id or number) with its timeline; "
     "another customer's request is 404", REQUEST_READERS, None, 200, False, []),
    ("get", "/api/requests/{ref}/payments", "requests", "The request's refunds and claw-backs "
     "from the ledger, each with its state (pending, paid, failed), and their totals; for "
     "finance, auditors, admins and the request's customer", REQUEST_READERS, None, 200,
     False, []),
    ("post", "/api/requests/{ref}/quote-answer", "requests", "Approve or decline a repair "
     "quote (message quote_answered)", CUSTOMER, schemas.QUOTE_ANSWER, 200, True, []),
    ("post", "/api/requests/{ref}/feedback", "requests", "Confirm or reopen a complaint's "
     "resolution (message complaint_feedback)", CUSTOMER, schemas.FEEDBACK, 200, True, []),
    ("post", "/api/requests/{ref}/rating", "requests", "Rate the service 1-5 (message "
     "csat_submitted)", CUSTOMER, schemas.RATING, 200, True, []),
    ("post", "/api/requests/{ref}/shipped", "requests", "Report the return shipment "
     "(message return_shipped)", CUSTOMER, schemas.SHIPPED, 200, True, []),
    ("get", "/api/tasks", "tasks", "Task list of the caller's departments, sorted by SLA due "
     "time; `total` is counted up to 1,000 (`total_exact` false beyond)", TASK_READERS, None,
     200, False, TASK_FILTERS),
    ("get", "/api/tasks/{task_id}", "tasks", "A task with its form schema, data, SLA status, "
     "comments and attachments", TASK_READERS, None, 200, False, []),
    ("post", "/api/tasks/{task_id}/claim", "tasks", "Claim a task", TASK_WORKERS,
     schemas.EMPTY, 200, True, []),
    ("post", "/api/tasks/{task_id}/release", "tasks", "Hand a claimed task back to the queue",
     TASK_WORKERS, schemas.EMPTY, 200, True, []),
    ("post", "/api/tasks/{task_id}/complete", "tasks", "Complete a task with its form data "
     "(version: the instance version you saw; stale is 409)", TASK_WORKERS, schemas.COMPLETE,
     200, True, []),
    ("post", "/api/tasks/{task_id}/reassign", "tasks", "Give a task to someone (null: back to "
     "the queue)", SUPERVISORS, schemas.REASSIGN, 200, True, []),
    ("post", "/api/tasks/reassign", "tasks", "Reassign several tasks, all or nothing",
     SUPERVISORS, schemas.BULK_REASSIGN, 200, True, []),
    ("get", "/api/tasks/{task_id}/comments", "tasks", "Comments on a task", TASK_READERS,
     None, 200, False, []),
    ("post", "/api/tasks/{task_id}/comments", "tasks", "Comment on a task", TASK_WORKERS,
     schemas.COMMENT_BODY, 201, False, []),
    ("get", "/api/tasks/{task_id}/attachments", "tasks", "Attachments of a task", TASK_READERS,
     None, 200, False, []),
    ("post", "/api/tasks/{task_id}/attachments", "tasks", "Attach a file (413 over the size "
     "limit)", TASK_WORKERS, UPLOAD, 201, False, []),
    ("get", "/api/attachments/{attachment_id}", "tasks", "Download an attachment",
     TASK_READERS, None, 200, False, []),
    ("post", "/api/messages", "messages", "Deliver an external event (couriers: picked_up, "
     "pickup_booked; payment: refund_result, clawback_result); 422 naming the payload's field "
     "when it does not satisfy the message's schema, nothing applied; 202 {buffered: true} when the "
     "known request does not wait for it yet: it is kept and delivered when it does",
     MESSENGERS, schemas.MESSAGE, 200, True, []),
    ("get", "/api/messages/buffered", "messages", "Messages kept for requests that did not "
     "wait for them yet (status: pending, delivered, expired, refused; default expired)",
     SUPERVISORS + ("auditor",), None, 200, False,
     [_q("status", "pending, delivered, expired or refused")]),
    ("post", "/api/signals", "messages", "Send a signal to every request waiting for it "
     "(audited per instance as signal_received; 404: none waits; a supervisor only to "
     "instances whose work they supervise)", SUPERVISORS, schemas.SIGNAL, 200, True, []),
    ("get", "/api/instances/{instance_id}", "instances", "Instance state, open tasks, timers "
     "and the elements to mark on the diagram", INSTANCE_READERS, None, 200, False, []),
    ("get", "/api/instances/{instance_id}/history", "instances", "Audit events, paged",
     INSTANCE_READERS, None, 200, False, PAGING),
    ("get", "/api/instances/{instance_id}/replay", "instances", "Verify the hash chain and "
     "replay the history, with every step", INSTANCE_READERS, None, 200, False, []),
    ("get", "/api/instances/{instance_id}/replay/{seq}", "instances", "Replayed state right "
     "after event seq", INSTANCE_READERS, None, 200, False, []),
    *[("post", f"/api/instances/{{instance_id}}/{verb}", "instances", f"{verb.capitalize()} an "
       "instance", SUPERVISORS, schemas.RETRY if verb == "retry" else schemas.INSTANCE_ACTION,
       200, True, []) for verb in ("suspend", "resume", "cancel")],
    ("post", "/api/instances/{instance_id}/retry", "instances", "Retry what put an instance in "
     "error: its incident's input (a completion with corrected form data, a message with a "
     "corrected payload) or the task that failed", SUPERVISORS, schemas.RETRY, 200, True, []),
    ("post", "/api/instances/{instance_id}/skip", "instances", "Drop the input of an "
     "instance's incident: it runs on as before", SUPERVISORS, schemas.INSTANCE_ACTION, 200,
     True, []),
    ("get", "/api/timers", "instances", "Timers waiting in the instances whose work the caller "
     "supervises, soonest first", SUPERVISORS, None, 200, False,
     [_q("instance_id", "only this instance's")]),
    ("post", "/api/instances/{instance_id}/timers/{task_id}/fire", "instances", "Fire a "
     "waiting timer now (audited as timer_rescheduled; replay repeats it)", SUPERVISORS,
     schemas.TIMER_FIRE, 200, True, []),
    ("post", "/api/instances/{instance_id}/timers/{task_id}/reschedule", "instances", "Move "
     "a waiting timer to due_at (within ten years; due by then: it fires now)", SUPERVISORS,
     schemas.TIMER_RESCHEDULE, 200, True, []),
    ("post", "/api/definitions", "definitions", "Deploy BPMN/DMN files, forms and message "
     "schemas (messages/<name>.json): a folder, one process file with its forms or one DMN "
     "file, what it leaves out taken from the deployed versions; only processes whose closure "
     "changed get a version (versioned, unchanged); 422 lists every problem; nothing changed: "
     "200, created false)", OWNERS, MULTIPART, (201, 200), False, []),
    ("post", "/api/definitions/validate", "definitions", "Validate an upload without deploying, "
     "by the plan deploy runs (ok exactly when deploy would succeed; would_version, unchanged)",
     OWNERS, MULTIPART, 200, False, []),
    ("get", "/api/definitions", "definitions", "Latest version of every process",
     INSTANCE_READERS, None, 200, False, []),
    ("get", "/api/definitions/{key}/versions", "definitions", "Every version of a process",
     INSTANCE_READERS, None, 200, False, []),
    ("get", "/api/definitions/{key}/versions/{version}", "definitions", "One version with its "
     "BPMN/DMN sources and forms", INSTANCE_READERS, None, 200, False, []),
    ("get", "/api/kpis", "kpis", "Service KPIs overall, by category and by department",
     KPI_READERS, None, 200, False, KPI_FILTERS),
    ("get", "/api/feedback", "feedback", "What customers said (filing reasons, complaints, "
     "rating comments, reopen reasons) with its classes, newest first; customer service, "
     "management, auditors and admins only", feedback.READERS, None, 200, False,
     [_q("q", "words the text contains"), _q("class", "a class name of the taxonomy"),
      _q("kind", "filing, complaint, rating, reopen or complaint_comment"),
      _q("category", "the request's category"), _q("from", "ISO date or time"),
      _q("to", "ISO date or time"), *PAGING]),
    ("get", "/api/tiers", "tiers", "Staff service tiers (L1 一线, L2 二线, expert 专家); staff "
     "without one are L1", SUPERVISORS + ("auditor",), None, 200, False, []),
    ("put", "/api/users/{username}/tier", "tiers", "Give a staff member a service tier",
     ADMIN, tiers.TIER, 200, False, []),
    ("get", "/api/reports", "reports", "The stored after-sales reports (weekly, monthly, "
     "quarterly; the scheduler makes each once its period is over)", KPI_READERS, None, 200,
     False, []),
    ("get", "/api/reports/{period}", "reports", "One period's report (2026-W48, 2026-11, "
     "2026-Q4): KPIs and SLA as GET /api/kpis gives them for its range, feedback classes, top "
     "SKUs by problem rate, repurchase; the stored one, else computed now (stored: false)",
     KPI_READERS, None, 200, False, []),
    ("get", "/api/reports/{period}/report.xlsx", "reports", "The period's report as an XLSX "
     "workbook", KPI_READERS, None, 200, False, []),
    ("get", "/api/feedback/taxonomy", "feedback", "The feedback taxonomy in force (classes, "
     "keyword rules, model threshold) and every deployed version", KPI_READERS, None, 200,
     False, []),
    ("post", "/api/feedback/taxonomy", "feedback", "Deploy a taxonomy as the next version "
     "(201; identical to a deployed version: 200 with that version)", OWNERS, feedback.TAXONOMY,
     (201, 200), False, []),
    ("post", "/api/feedback/classify", "feedback", "The classes of each text, by the taxonomy "
     "in force or the draft `taxonomy` given", feedback.CLASSIFIERS, feedback.CLASSIFY, 200,
     False, []),
    ("get", "/api/search", "search", "After-sales requests by request number, order, customer "
     "(id, user name or name) or phone, newest first, at most 20, as far as the caller may read "
     "them (matched says how each was found)", search.SEARCHERS, None, 200, False,
     [_q("q", "what to look for (1-100 characters)")]),
    ("get", "/api/incidents", "admin", "Incidents: outbox rows (kind outbox) and instances "
     "in error (kind instance)", INCIDENT_READERS, None, 200,
     False, []),
    ("post", "/api/incidents/{incident_id}", "admin", "Retry (optionally with a fixed payload) "
     "or skip an outbox incident", ADMIN, schemas.INCIDENT_ACTION, 200, True, []),
    ("post", "/api/users/{username}/deactivate", "admin", "Deactivate an account: every "
     "sign-in of it ends and no new one is possible (not your own: 409)", ADMIN, schemas.EMPTY,
     200, True, []),
    ("post", "/api/users/{username}/activate", "admin", "Reactivate an account", ADMIN,
     schemas.EMPTY, 200, False, []),
    ("post", "/api/users/{username}/reset-password", "admin", "Give an account a new password; "
     "every sign-in made with the old one ends", ADMIN, PASSWORD_RESET, 200, False, []),
    ("post", "/api/users/{username}/revoke-tokens", "admin", "End every sign-in of an account "
     "(bearer tokens and page sessions); `revoked` counts them", ADMIN, schemas.EMPTY, 200,
     False, []),
    ("get", "/api/users/{username}/secrets", "admin", "The active signing secrets of a "
     "courier, payment or shop account (when each was issued and ends; never their text)",
     ADMIN, None, 200, False, []),
    ("post", "/api/users/{username}/secrets", "admin", "Issue the signing secret of a courier, "
     "payment or shop account: `secret` is in this answer only; rotate: true issues another "
     "while the current one works for 24 more hours (409 without it when one is active)",
     ADMIN, SECRET_ISSUE, 201, True, []),
    ("post", "/api/users/{username}/secrets/retire", "admin", "End every signing secret of "
     "the account but the newest, now (after the client switched)", ADMIN, schemas.EMPTY, 200,
     False, []),
    ("get", "/api/login-locks", "admin", "Accounts and client addresses locked out after too "
     "many failed logins, with when each lockout ends", ADMIN, None, 200, False, []),
    ("post", "/api/login-locks/lift", "admin", "Lift the lockout of an account (username) or "
     "of a client address (address) and forget its failures; `lifted` says whether there was "
     "one", ADMIN, LIFT_LOCK, 200, False, []),
    ("get", "/api/definitions/{key}/diff", "owner", "Elements added, removed and changed "
     "between two versions, and the unfinished instances of `from` standing on them (impact)",
     OWNER_READERS, None, 200, False, [_q("from", "older version number", {"type": "integer"}),
                                       _q("to", "newer version number", {"type": "integer"})]),
    ("post", "/api/definitions/{key}/migrations", "owner", "Move unfinished instances of version "
     "`from` to `to` (mapping: {old_id: new_id}; default: every unfinished instance of `from`); "
     "per-instance results; dry_run writes nothing", OWNERS, MIGRATION, 200, False, []),
    ("post", "/api/whatif", "owner", "Replay finished instances against an undeployed bundle "
     "(upload as for POST /api/definitions, plus form fields instance_ids: comma list, limit, "
     "mapping: JSON {old_id: new_id}); nothing is stored", OWNERS, MULTIPART, 200, False, []),
    # Process owners' drafts (web/api/drafts.py, engine/definitions/drafts.py).
    ("get", "/api/drafts", "drafts", "The caller's drafts and those shared with them (an "
     "admin: all), newest change first", OWNERS, None, 200, False, []),
    ("post", "/api/drafts", "drafts", "Start a draft from a deployed process (process_key: its "
     "newest files) or from files {path: text}; nothing is deployed", OWNERS, drafts.DRAFT_NEW,
     201, False, []),
    ("get", "/api/drafts/{draft_id}", "drafts", "A draft with the files of its newest revision "
     "(or of `revision`), its history (revision, note, who, when) and whom it is shared with; "
     "403 for another owner's draft not shared with you", OWNERS, None, 200, False,
     [_q("revision", "a revision number", {"type": "integer", "minimum": 1})]),
    ("put", "/api/drafts/{draft_id}", "drafts", "Save the files as a new revision with a note; "
     "409 when base_revision is no longer the newest (someone saved meanwhile)", OWNERS,
     drafts.DRAFT_SAVE, 200, True, []),
    ("get", "/api/drafts/{draft_id}/bundle", "drafts", "The newest revision as a zip in the "
     "layout of bpmn/ (a download)", OWNERS, None, 200, False, []),
    ("post", "/api/drafts/{draft_id}/validate", "drafts", "The newest revision's problems as "
     "deploy finds them (the shape of POST /api/definitions/validate); nothing is stored",
     OWNERS, None, 200, False, []),
    ("post", "/api/drafts/{draft_id}/shares", "drafts", "Share the draft with another process "
     "owner (its owner only)", OWNERS, drafts.DRAFT_SHARE, 201, False, []),
    ("delete", "/api/drafts/{draft_id}/shares/{username}", "drafts", "Stop sharing the draft "
     "with `username` (its owner only)", OWNERS, None, 200, False, []),
    ("post", "/api/drafts/{draft_id}/whatif", "drafts", "The newest revision against the "
     "requests of its processes finished in the last `days` days (default 30, at most `limit`, "
     "default 50): which would take another path and where, tasks and departments with more "
     "or less work, refunds paid on the diverging requests; kept as the draft's last what-if "
     "for the supervisors (GET /api/whatif-results), nothing else is stored", OWNERS,
     drafts.DRAFT_WHATIF, 200, False, []),
    # What-if results for supervisors (web/api/whatif_results.py, engine/whatif_results.py).
    ("get", "/api/whatif-results", "whatif results", "The drafts whose last what-if touches "
     "requests of the departments the caller supervises, newest run first, each with its sums "
     "over those requests (examined, diverging, work by department, refunds)", SUPERVISORS,
     None, 200, False, []),
    ("get", "/api/whatif-results/{draft_id}", "whatif results", "A draft's last what-if cut to "
     "the caller's departments: the requests of theirs that would go differently (where and "
     "why), the work by task and department of theirs, refunds paid and asked otherwise; 404 "
     "when none of its requests is theirs", SUPERVISORS, None, 200, False, []),
    ("post", "/api/drafts/{draft_id}/deploy", "drafts", "Deploy revision `revision` (it must "
     "be the newest: 409 otherwise) as POST /api/definitions deploys; 422 with every problem "
     "when it does not validate", OWNERS, drafts.DRAFT_DEPLOY, 201, True, []),
    ("get", "/api/instances/{instance_id}/export", "exports", "One instance's record: JSON "
     "(definition, row, events) or CSV of its events (a download)", EXPORT_READERS, None, 200,
     False, [_q("format", "json (default) or csv", {"enum": ["json", "csv"]})]),
    ("get", "/api/instances/{instance_id}/checkpoint", "exports", "The newest signed "
     "checkpoint of the global audit log (size, root, time, key) and the instance's coverage: "
     "state verified, partly, waiting, differs (naming the event), no_checkpoint or "
     "bad_checkpoint; covered and events counts", access.AUDITORS, None, 200, False, []),
    ("get", "/api/audit/events.csv", "exports", "Audit events recorded in [from, to) as CSV "
     "(a download); give from, to or both", EXPORT_READERS, None, 200, False,
     [_q("from", "ISO date or time"), _q("to", "ISO date or time (exclusive)")]),
    ("get", "/api/calendar", "meta", "The business calendar SLAs count in: time zone, "
     "working hours, weekdays worked, holidays and make-up workdays from today to the end of "
     "the month `months` ahead", access.PAGE_ROLES, None, 200, False,
     [_q("months", "months ahead, 1 to 24 (default 3)", {"type": "integer", "minimum": 1,
                                                         "maximum": 24})]),
    # The customer's after-sales app (web/api/customer.py, engine/customer_app.py).
    ("get", "/api/app/orders", "customer app", "The customer's orders, newest first, each item "
     "with what it allows now (`actions`: return_refund, exchange, repair, complaint -> "
     "{allowed, why, until, request}) and each order with its requests", CUSTOMER, None, 200,
     False, []),
    ("post", "/api/app/requests", "customer app", "File a request with up to 6 photos in one "
     "go (multipart: `request` is the JSON of POST /api/requests, `photos` the files); a photo "
     "that is not a JPEG, PNG or WebP image by its content, too large or one too many is 422 "
     "naming photos[n], and nothing is filed", CUSTOMER, customer.FILING_FORM, 201, True, []),
    ("get", "/api/app/requests/{ref}", "customer app", "A request as the app shows it: "
     "timeline, progress (stage, departments handling it and their promised times, the "
     "deadline), refunds, photos, pickup slot, the answers awaited (with the offered slots "
     "when a pickup slot is), the repair quote", CUSTOMER, None, 200, False, []),
    ("get", "/api/requests/{ref}/pickup-slots", "customer app", "The pickup slots the courier "
     "offers for the request", CUSTOMER, None, 200, False, []),
    ("post", "/api/requests/{ref}/pickup-slot", "customer app", "Choose an offered pickup slot "
     "(the answer to the booking the process waits for: message pickup_booked); 409 when it "
     "does not wait for one, 422 for a slot not offered", CUSTOMER, customer.PICKUP_SLOT, 200,
     True, []),
    *[("get", f"/api/requests/{{ref}}/label.{kind}", "customer app", f"The return label as "
       f"{kind.upper()}: a QR code of the request number; 409 for a complaint", CUSTOMER,
       None, 200, True, []) for kind in return_labels.FORMATS],
    ("get", "/api/requests/{ref}/photos", "customer app", "The photos filed with the request "
     "(for the customer and staff who may read the request)", REQUEST_READERS, None, 200,
     False, []),
    ("get", "/api/requests/{ref}/photos/{photo_id}", "customer app", "One photo, or its JPEG "
     "thumbnail with size=thumb", REQUEST_READERS, None, 200, False,
     [_q("size", "full (default) or thumb", {"enum": ["full", "thumb"]})]),
    ("get", "/api/app/messages", "customer app", "The message centre: the notifications sent "
     "to the customer about their requests, newest first, in their words", CUSTOMER, None,
     200, False, [_q("lang", "zh_CN (default) or en", {"enum": ["zh_CN", "en"]})]),
    ("get", "/api/openapi.json", "meta", "This document", None, None, 200, False, []),
    ("get", "/api/health", "meta", "Liveness: {\"status\": \"ok\"} while the server answers "
     "requests (it reads no database, so a stalled worker shows at once)", None, None, 200,
     False, []),
]

# Couriers, payment providers and the shop sign these (web/api/signing.py); people do not.
SIGNED = {("post", "/api/messages"), ("put", "/api/orders/{order_id}")}
SIGNATURE = {"name": signatures.HEADER, "in": "header", "required": False, "schema": {
    "type": "string", "pattern": r"^t=\d+(,v1=[0-9a-f]{64})+$"},
    "description": f"required from courier, payment and shop accounts: {signatures.FORMAT}, "
                   "keyed with the account's secret, made within 5 minutes of the call"}

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": ["object", "null"], "description": "for invalid input, `field` "
                    "names the offending field"}}}}}
ERROR_TEXT = {400: "malformed JSON or wrong content type",
              401: "no valid bearer token (for a login: wrong username or password; for a "
                   "machine account: no valid X-Aftersales-Signature)",
              403: "not allowed for your role, department or request", 404: "unknown id",
              409: "conflict: changed meanwhile, claimed by someone else, already completed, "
                   "or not waiting for this", 413: "body too large",
              422: "invalid input (details.field names the field)",
              429: "locked out after too many failed logins: retry after the Retry-After "
                   "seconds, or ask an admin to lift the lock",
              503: "the database is busy: retry after the Retry-After seconds"}


def document() -> dict:
    paths: dict = {}
    for method, path, tag, summary, roles, body, ok, conflict, query in OPERATIONS:
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in _path_params(path)] + query
        params += [SIGNATURE] if (method, path) in SIGNED else []
        ok, *extra = ok if isinstance(ok, tuple) else (ok,)
        codes = [c for c in extra if c >= 400] + ([413] if method in ("post", "put") else []) + [503]
        codes += [401, 403] if roles is not None else []
        codes += [400, 422] if body is not None and not _is_content(body) else []
        codes += [422] if _is_content(body) else []
        codes += [404] if params and any(p["in"] == "path" for p in params) else []
        codes += [409] if conflict else []
        codes += [422] if query and 422 not in codes else []
        responses = {str(c): {"description": "success" if c == ok else "success (already done: "
                                                                       "nothing new was created)"}
                     for c in [ok, *(c for c in extra if c < 400)]}
        responses.update({str(c): {"description": ERROR_TEXT[c], "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for c in sorted(set(codes))})
        operation = {"tags": [tag], "summary": summary, "operationId": _operation_id(method, path),
                     "parameters": params, "responses": responses,
                     "x-roles": list(roles) if roles is not None else ["public"]}
        if roles is None:
            operation["security"] = []
        if body is not None:
            content = body if _is_content(body) else {"application/json": {"schema": body}}
            operation["requestBody"] = {"required": body is not schemas.EMPTY, "content": content}
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0",
            "info": {"title": "After-sales platform API", "version": "1.0",
                     "description": "JSON API of the after-sales (售后) process platform. "
                                    "Authenticate with POST /api/auth/token, then send "
                                    "Authorization: Bearer <token>."},
            "servers": [{"url": "/"}], "paths": paths,
            "components": {"schemas": {"Error": ERROR}, "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}]}


def _is_content(body) -> bool:
    """Is `body` a multipart upload's content (MULTIPART, UPLOAD, a filing with photos) rather
    than the JSON Schema of a JSON body?"""
    return isinstance(body, dict) and "multipart/form-data" in body


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation_id(method: str, path: str) -> str:
    words = [p.strip("{}").replace("-", "_").replace(".", "_") for p in path.split("/")[2:]]
    return method + "_" + "_".join(words)


def init_app(app: Flask) -> None:
    cached = document()
    app.add_url_rule("/api/openapi.json", "openapi", lambda: cached)
    # Outside the API's gate: public, and as cheap as a request can be.
    app.add_url_rule("/api/health", "health", lambda: {"status": "ok"})

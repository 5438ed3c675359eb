"""Comments and attachments on tasks (internal: customers never see them).

Whoever may see a task may read its comments and attachments, whoever may act on it may add
them; completed tasks keep theirs (engine.task_notes, each addition an audit event).
Downloads are always sent as attachments with their sniffing switched off, so an uploaded page
never runs in the browser.
"""
from __future__ import annotations

from flask import Blueprint

from engine import access, task_notes, tasks
from web import files
from web.api import schemas
from web.api.base import actor, allow, body, settings, transaction

bp = Blueprint("task_files", __name__)


@bp.get("/tasks/<task_id>/comments")
@allow(*access.TASK_READERS)
def comments(task_id):
    with transaction() as session:
        tasks.scope(session, actor(), task_id)
        return {"items": task_notes.comments_of(session, task_id)}


@bp.post("/tasks/<task_id>/comments")
@allow(*access.TASK_WORKERS)
def add_comment(task_id):
    text = body(schemas.COMMENT_BODY)["body"]
    with transaction() as session:
        scope = tasks.scope(session, actor(), task_id)
        return task_notes.add_comment(session, actor(), scope, text), 201


@bp.get("/tasks/<task_id>/attachments")
@allow(*access.TASK_READERS)
def attachments(task_id):
    with transaction() as session:
        tasks.scope(session, actor(), task_id)
        return {"items": task_notes.attachments_of(session, task_id)}


@bp.post("/tasks/<task_id>/attachments")
@allow(*access.TASK_WORKERS)
def upload(task_id):
    limit = settings().max_attachment_bytes
    filename, content_type, content = files.read_upload("file", limit)
    with transaction() as session:
        scope = tasks.scope(session, actor(), task_id)
        return task_notes.add_attachment(session, actor(), scope, filename,
                                         content_type, content, max_bytes=limit,
                                         attachments_dir=settings().attachments_dir), 201


@bp.get("/attachments/<id:attachment_id>")
@allow(*access.TASK_READERS)
def download(attachment_id):
    with transaction() as session:
        meta, content = tasks.attachment(session, actor(), attachment_id,
                                         settings().attachments_dir)
    return files.download(meta, content)

"""Comments and attachments on tasks (internal: customers never see them).

Whoever may see a task may read its comments and attachments, whoever may act on it may add
them; completed tasks keep theirs. Attachment bytes live in the attachment row, or in
`settings.attachments_dir` (named by their sha256) when that is set; downloads are always sent
as attachments with their sniffing switched off, so an uploaded page never runs in the browser.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Blueprint, Response, request
from sqlalchemy import select

from engine import clock
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.models import Attachment, TaskComment
from web.api import schemas
from web.api.base import TASK_READERS, TASK_WORKERS, actor, allow, body, settings, transaction
from web.api.tasks import task_scope
from web.errors import ApiError

bp = Blueprint("task_files", __name__)

_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+")


@bp.get("/tasks/<task_id>/comments")
@allow(*TASK_READERS)
def comments(task_id):
    with transaction() as session:
        task_scope(session, task_id)
        return {"items": comments_of(session, task_id)}


@bp.post("/tasks/<task_id>/comments")
@allow(*TASK_WORKERS)
def add_comment(task_id):
    text = body(schemas.COMMENT_BODY)["body"]
    with transaction() as session:
        scope = task_scope(session, task_id)
        row = TaskComment(instance_id=scope.instance_id, task_id=task_id, author=actor().name,
                          body=text, internal=True, created_at=clock.now())
        session.add(row)
        session.flush()
        return _comment_json(row), 201


@bp.get("/tasks/<task_id>/attachments")
@allow(*TASK_READERS)
def attachments(task_id):
    with transaction() as session:
        task_scope(session, task_id)
        return {"items": attachments_of(session, task_id)}


@bp.post("/tasks/<task_id>/attachments")
@allow(*TASK_WORKERS)
def upload(task_id):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("send the file as multipart/form-data in a field named 'file'",
                           field="file")
    limit = settings().max_attachment_bytes
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, f"the file is larger than {limit} bytes", details={"limit": limit})
    filename = Path(upload.filename.replace("\\", "/")).name.strip()[:200] or "file"
    content_type = upload.mimetype or "application/octet-stream"
    if not _CONTENT_TYPE.fullmatch(content_type) or len(content_type) > 100:
        content_type = "application/octet-stream"
    digest = hashlib.sha256(content).hexdigest()
    with transaction() as session:
        scope = task_scope(session, task_id)
        row = Attachment(instance_id=scope.instance_id, task_id=task_id, filename=filename,
                         content_type=content_type, size=len(content), sha256=digest,
                         uploaded_by=actor().name, created_at=clock.now())
        folder = settings().attachments_dir
        if folder is None:
            row.content = content
        else:
            path = Path(folder) / digest[:2] / digest
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(content)
            row.path = f"{digest[:2]}/{digest}"
        session.add(row)
        session.flush()
        return _attachment_json(row), 201


@bp.get("/attachments/<id:attachment_id>")
@allow(*TASK_READERS)
def download(attachment_id):
    with transaction() as session:
        row = session.get(Attachment, attachment_id)
        if row is None:
            raise NotFound(f"attachment {attachment_id} does not exist")
        if row.task_id is None:
            raise Forbidden("this attachment belongs to no task you can see")
        task_scope(session, row.task_id)
        content = row.content
        if content is None:
            path = Path(settings().attachments_dir or "") / (row.path or "")
            if settings().attachments_dir is None or not path.is_file():
                raise NotFound(f"the file of attachment {attachment_id} is missing")
            content = path.read_bytes()
        response = Response(content, mimetype=row.content_type)
        response.headers["Content-Disposition"] = _disposition(row.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


def comments_of(session, task_id: str) -> list[dict]:
    return [_comment_json(c) for c in session.scalars(
        select(TaskComment).where(TaskComment.task_id == task_id).order_by(TaskComment.id))]


def attachments_of(session, task_id: str) -> list[dict]:
    return [_attachment_json(a) for a in session.scalars(
        select(Attachment).where(Attachment.task_id == task_id).order_by(Attachment.id))]


def _comment_json(c: TaskComment) -> dict:
    return {"id": c.id, "task_id": c.task_id, "instance_id": c.instance_id, "author": c.author,
            "body": c.body, "created_at": c.created_at}


def _attachment_json(a: Attachment) -> dict:
    return {"id": a.id, "task_id": a.task_id, "instance_id": a.instance_id,
            "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "uploaded_by": a.uploaded_by, "created_at": a.created_at,
            "url": f"/api/attachments/{a.id}"}


def _disposition(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = re.sub(r'[^\w.\- ]', "_", filename.encode("ascii", "replace").decode()) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"

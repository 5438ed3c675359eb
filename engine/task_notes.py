"""Comments and attachments on tasks: internal notes of staff (customers never see them), and
the bytes of the photos a customer files with a request (engine.request_photos: attachments of
the instance with no task, which the customer does see).

Adding either is a change of the record, so each is written with an audit event of its
instance (`comment_added`, `attachment_added`), in the caller's transaction; a note moves the
instance's audit chain but not its state or version (engine.history.audit.append_note).
Callers first establish the task's scope with `engine.tasks.scope`, which also checks that the
actor may see the task. Attachment bytes live in the attachment row, or in
`attachments_dir` (named by their sha256) when that is set.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.access import Actor, TaskScope
from engine.errors import InvalidInput, NotFound
from engine.history import audit
from engine.models import Attachment, Instance, TaskComment
from engine.runtime import serialization

MAX_COMMENT = 5000
MAX_FILENAME = 200
DEFAULT_TYPE = "application/octet-stream"
# ASCII: a Unicode \w took 图片/png, which no (Latin-1) header can carry: its download was a 500
_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+", re.ASCII)


def usable_content_type(kind: str) -> bool:
    """Whether an attachment can be stored with content type `kind` and sent back with it:
    type/subtype in ASCII letters, digits and _.+-, at most 100 characters (the column)."""
    return len(kind) <= 100 and _CONTENT_TYPE.fullmatch(kind) is not None


def add_comment(session: Session, actor: Actor, scope: TaskScope, body: str) -> dict:
    """Add a comment to the task of `scope`; returns it. Raises InvalidInput (field `body`)."""
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_COMMENT:
        raise InvalidInput(f"a comment is 1 to {MAX_COMMENT} characters", field="body")
    row = TaskComment(instance_id=scope.instance_id, task_id=scope.task_id, author=actor.name,
                      body=body, created_at=clock.now())
    session.add(row)
    session.flush()
    # The event proves what was written without showing it to every reader of the history
    # (comments are for those who may see the task).
    _note(session, actor, scope, "comment_added",
          {"comment_id": row.id, "length": len(body),
           "sha256": hashlib.sha256(body.encode()).hexdigest()})
    return _comment_json(row)


def add_attachment(session: Session, actor: Actor, scope: TaskScope, filename: str,
                   content_type: str | None, content: bytes, *, max_bytes: int,
                   attachments_dir: Path | None) -> dict:
    """Store a file on the task of `scope`; returns its description. The name is cut to its
    last path part ("file" if none is left), an unusable content type becomes
    application/octet-stream. Raises InvalidInput (field `file`) for a file over `max_bytes`."""
    name = Path((filename or "").replace("\\", "/")).name.strip()[:MAX_FILENAME] or "file"
    if len(content) > max_bytes:
        raise InvalidInput(f"the file is larger than {max_bytes} bytes", field="file")
    kind = content_type or DEFAULT_TYPE
    if not usable_content_type(kind):
        kind = DEFAULT_TYPE
    digest = hashlib.sha256(content).hexdigest()
    row = Attachment(instance_id=scope.instance_id, task_id=scope.task_id, filename=name,
                     content_type=kind, size=len(content), sha256=digest,
                     uploaded_by=actor.name, created_at=clock.now())
    if attachments_dir is None:
        row.content = content
    else:
        path = Path(attachments_dir) / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(content)
        row.path = f"{digest[:2]}/{digest}"
    session.add(row)
    session.flush()
    _note(session, actor, scope, "attachment_added",
          {"attachment_id": row.id, "filename": name, "content_type": kind,
           "size": len(content), "sha256": digest})
    return _attachment_json(row)


def comments_of(session: Session, task_id: str) -> list[dict]:
    return [_comment_json(c) for c in session.scalars(
        select(TaskComment).where(TaskComment.task_id == task_id).order_by(TaskComment.id))]


def attachments_of(session: Session, task_id: str) -> list[dict]:
    return [_attachment_json(a) for a in session.scalars(
        select(Attachment).where(Attachment.task_id == task_id).order_by(Attachment.id))]


def attachment(session: Session, attachment_id: int) -> dict:
    """An attachment's description (its `task_id` tells whose scope to check). Raises
    NotFound."""
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    return _attachment_json(row)


def attachment_content(session: Session, attachment_id: int,
                       attachments_dir: Path | None) -> bytes:
    """The bytes of an attachment. Raises NotFound when they are gone."""
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    if row.content is not None:
        return row.content
    path = Path(attachments_dir or "") / (row.path or "")
    if attachments_dir is None or not path.is_file():
        raise NotFound(f"the file of attachment {attachment_id} is missing")
    return path.read_bytes()


def _note(session: Session, actor: Actor, scope: TaskScope, kind: str, payload: dict) -> None:
    instance = session.get(Instance, scope.instance_id)
    audit.append_note(session, instance, at=clock.now(), actor=actor.name, kind=kind,
                      payload=payload, state_hash=serialization.state_hash(instance.state),
                      element=scope.bpmn_id, task_id=scope.task_id)


def _comment_json(c: TaskComment) -> dict:
    return {"id": c.id, "task_id": c.task_id, "instance_id": c.instance_id, "author": c.author,
            "body": c.body, "created_at": c.created_at}


def _attachment_json(a: Attachment) -> dict:
    return {"id": a.id, "task_id": a.task_id, "instance_id": a.instance_id,
            "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "uploaded_by": a.uploaded_by, "created_at": a.created_at,
            "url": f"/api/attachments/{a.id}"}

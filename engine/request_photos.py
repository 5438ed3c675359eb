"""Photos a customer sends with a filing: checked by their content, stored as attachments of the
request's instance, shown full size or as thumbnails.

A photo is an image by what its bytes are, not by its name or the browser's content type:
Pillow must recognise it as JPEG, PNG or WebP and read it whole (a truncated or disguised file
is refused), and it may have at most MAX_PIXELS pixels (a small file that unpacks into a huge
picture would stall every thumbnail). At most MAX_PHOTOS per request, each at most the
attachment limit (Settings.max_attachment_bytes). `check` refuses the whole batch before
anything is stored, naming the photo (`photos[2]`), so a bad photo files nothing.

Stored photos are attachments of the instance with no task (engine.task_notes stores the bytes
and writes the `attachment_added` audit event with the customer as actor); staff who may read
the request see them too. Thumbnails are made on reading (THUMBNAIL px, JPEG): six photos of a
request are cheap to scale, and nothing derived needs to be kept in step.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import task_notes
from engine.access import Actor, TaskScope
from engine.errors import InvalidInput, NotFound
from engine.models import Attachment, Instance

MAX_PHOTOS = 6
MAX_PIXELS = 40_000_000
THUMBNAIL = 320
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"),
           "WEBP": ("image/webp", "webp")}


@dataclass(frozen=True)
class Photo:
    """A photo that passed `check`: its name, the content type its bytes show, the bytes."""

    filename: str
    content_type: str
    content: bytes


def check(uploads: list[tuple[str, bytes]], max_bytes: int) -> list[Photo]:
    """The uploads [(file name, bytes)] as photos. Raises InvalidInput naming `photos` (too
    many) or `photos[n]` (too large, empty, not a JPEG, PNG or WebP image, too many pixels);
    details.why says which: too_many, too_large, not_an_image, too_many_pixels."""
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(f"at most {MAX_PHOTOS} photos may be sent, not {len(uploads)}",
                           field="photos", details={"field": "photos", "why": "too_many",
                                                    "limit": MAX_PHOTOS})
    return [_photo(n, name, content, max_bytes) for n, (name, content) in enumerate(uploads)]


def _photo(n: int, name: str, content: bytes, max_bytes: int) -> Photo:
    field = f"photos[{n}]"
    if len(content) > max_bytes:
        raise InvalidInput(f"photo {n + 1} is larger than {max_bytes} bytes", field=field,
                           details={"field": field, "why": "too_large", "limit": max_bytes})
    kind = _format(content)
    if kind is None:
        raise InvalidInput(f"photo {n + 1} is not a JPEG, PNG or WebP image", field=field,
                           details={"field": field, "why": "not_an_image"})
    if kind == "too_many_pixels":
        raise InvalidInput(f"photo {n + 1} has more than {MAX_PIXELS} pixels", field=field,
                           details={"field": field, "why": "too_many_pixels"})
    content_type, suffix = FORMATS[kind]
    stem = Path((name or "").replace("\\", "/")).stem.strip() or f"photo-{n + 1}"
    return Photo(f"{stem}.{suffix}", content_type, content)


def _format(content: bytes) -> str | None:
    """JPEG, PNG or WEBP when the bytes are a whole image of that format; "too_many_pixels";
    None for anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.format not in FORMATS:
                    return None
                if image.width * image.height > MAX_PIXELS:
                    return "too_many_pixels"
                image.load()          # decodes every byte: a truncated file fails here
                return image.format
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return "too_many_pixels"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def store(session: Session, actor: Actor, instance_id: int, photos: list[Photo], *,
          max_bytes: int, attachments_dir: Path | None) -> list[dict]:
    """Store checked photos on the request's instance (each an audit event); returns them as
    `photo_json`s."""
    scope = TaskScope(task_id=None, instance_id=instance_id, department=None, claimed_by=None,
                      bpmn_id=None, open=False)
    stored = [task_notes.add_attachment(session, actor, scope, p.filename, p.content_type,
                                        p.content, max_bytes=max_bytes,
                                        attachments_dir=attachments_dir) for p in photos]
    return [{"id": s["id"], "filename": s["filename"], "content_type": s["content_type"],
             "size": s["size"]} for s in stored]


def of_instance(session: Session, instance_id: int) -> list[dict]:
    """The photos filed with the request of `instance_id`, in the order they were sent."""
    return [{"id": row.id, "filename": row.filename, "content_type": row.content_type,
             "size": row.size}
            for row in session.scalars(select(Attachment).where(
                Attachment.instance_id == instance_id, Attachment.task_id.is_(None))
                .order_by(Attachment.id))]


def content(session: Session, instance_id: int, photo_id: int, attachments_dir: Path | None,
            *, thumbnail: bool = False) -> tuple[dict, bytes]:
    """(the photo's description, its bytes, or a JPEG thumbnail's). Raises NotFound for a
    photo that is not one of this request's."""
    row = session.get(Attachment, photo_id)
    if row is None or row.instance_id != instance_id or row.task_id is not None \
            or session.get(Instance, instance_id) is None:
        raise NotFound(f"photo {photo_id} does not exist", field="photo_id")
    data = task_notes.attachment_content(session, photo_id, attachments_dir)
    meta = {"id": row.id, "filename": row.filename, "content_type": row.content_type}
    if not thumbnail:
        return meta, data
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((THUMBNAIL, THUMBNAIL))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
    return {**meta, "content_type": "image/jpeg",
            "filename": f"{Path(row.filename).stem}-thumb.jpg"}, out.getvalue()

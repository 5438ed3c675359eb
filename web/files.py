"""Files over HTTP, for the API and the pages alike: reading one uploaded file within a size
limit, reading an uploaded bundle of process files, and sending a stored attachment back as a
download that never runs in the browser."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, request

from engine import task_notes
from engine.definitions.bundle import Bundle
from engine.errors import InvalidInput
from web.errors import ApiError


def read_upload(field: str, limit: int) -> tuple[str, str | None, bytes]:
    """(file name, content type without its parameters, bytes) of the multipart file `field`.
    Raises InvalidInput (naming the field) when there is none or its content type could not
    be sent back (engine.task_notes.usable_content_type), and a 413 when it is larger than
    `limit` bytes."""
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise InvalidInput(f"send the file as multipart/form-data in a field named '{field}'",
                           field=field)
    if upload.mimetype and not task_notes.usable_content_type(upload.mimetype):
        raise InvalidInput("the file's content type must be type/subtype in ASCII letters, "
                           "digits and _.+- (image/png), at most 100 characters", field=field)
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, f"the file is larger than {limit} bytes", details={"limit": limit})
    return upload.filename, upload.mimetype, content


def read_bundle() -> tuple[Bundle, str | None]:
    """The multipart upload of a bundle, as the API takes it (deploy, validate, what-if): the
    files as a Bundle (engine.definitions.bundle decides what is taken) and the deployment
    comment. Forms may also come as text fields named `forms/<name>.json`; message schemas
    as files named `messages/<name>.json`, files in the field `messages`, or text fields named
    `messages/<name>.json`."""
    if request.mimetype != "multipart/form-data":
        raise InvalidInput("send the files as multipart/form-data", field="files")
    named = [(upload.filename or "(no file name)", upload.read())
             for field, upload in request.files.items(multi=True) if field != "messages"]
    named += [(field, value.encode()) for field, value in request.form.items(multi=True)
              if field.startswith(("forms/", "messages/")) and field.endswith(".json")]
    messages = [(upload.filename or "(no file name)", upload.read())
                for upload in request.files.getlist("messages")]
    comment = request.form.get("comment")
    if comment is not None and len(comment) > 2000:
        raise InvalidInput("comment must be at most 2000 characters", field="comment")
    return Bundle.from_files(named, messages), comment


def download(meta: dict, content: bytes) -> Response:
    """An attachment (`meta` as engine.task_notes describes it) as a download: sent as an
    attachment, with sniffing and scripts switched off; as bytes when its content type could
    not be sent (stored before uploads were checked)."""
    kind = meta["content_type"]
    usable = task_notes.usable_content_type(kind)
    response = Response(content, mimetype=kind if usable else task_notes.DEFAULT_TYPE)
    response.headers["Content-Disposition"] = _disposition(meta["filename"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^\w.\- ]', "_", filename.encode("ascii", "replace").decode()) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"

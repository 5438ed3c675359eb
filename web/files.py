"""Files over HTTP, for the API and the pages alike: reading one uploaded file within a size
limit, and sending a stored attachment back as a download that never runs in the browser."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, request

from engine.errors import InvalidInput
from web.errors import ApiError


def read_upload(field: str, limit: int) -> tuple[str, str | None, bytes]:
    """(file name, content type, bytes) of the multipart file `field`. Raises InvalidInput
    (naming the field) when there is none, and a 413 when it is larger than `limit` bytes."""
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise InvalidInput(f"send the file as multipart/form-data in a field named '{field}'",
                           field=field)
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, f"the file is larger than {limit} bytes", details={"limit": limit})
    return upload.filename, upload.mimetype, content


def download(meta: dict, content: bytes) -> Response:
    """An attachment (`meta` as engine.task_notes describes it) as a download: sent as an
    attachment, with sniffing and scripts switched off."""
    response = Response(content, mimetype=meta["content_type"])
    response.headers["Content-Disposition"] = _disposition(meta["filename"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^\w.\- ]', "_", filename.encode("ascii", "replace").decode()) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"

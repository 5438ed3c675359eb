"""Form data checks: user task input is validated against the task's JSON Schema."""
from __future__ import annotations

import json
from functools import lru_cache

from jsonschema import Draft202012Validator

from engine.errors import InvalidInput

MAX_FORM_BYTES = 256 * 1024


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def validate(schema: dict | None, data) -> dict:
    """Return `data` if it satisfies `schema`; raise InvalidInput naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidInput("form data must be an object", field="data")
    if len(json.dumps(data, default=str)) > MAX_FORM_BYTES:
        raise InvalidInput("form data is too large", field="data")
    if schema is None:
        return data
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.path), e.message))
    if not errors:
        return data
    first = errors[0]
    field = _field_of(first)
    raise InvalidInput(f"{field}: {first.message}" if field else first.message, field=field,
                       details=[{"field": _field_of(e), "message": e.message} for e in errors])


def _field_of(error) -> str | None:
    if error.validator == "required":
        missing = error.message.split("'")
        return missing[1] if len(missing) > 2 else None
    if error.validator == "additionalProperties":
        extra = error.message.split("'")
        return extra[1] if len(extra) > 2 else None
    path = [str(p) for p in error.absolute_path]
    return ".".join(path) or None

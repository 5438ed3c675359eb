"""Task forms drawn from their JSON Schema, and posted form fields turned back into typed data.

Only the conversion from HTML strings to JSON types happens here; whether the data is valid is
decided by the engine (engine.definitions.forms through Runtime.complete), whose InvalidInput names the field.
A value that cannot even be converted ("abc" for a number) is passed on as the string, so that
the engine reports it like any other error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from web.pages.i18n import current


@dataclass
class Field:
    name: str
    kind: str             # checkbox-like "boolean", "number", "integer", "select", "text", "textarea"
    label: str
    hint: str
    required: bool
    options: list[str] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    value: object = None
    error: str | None = None


def fields_of(schema: dict | None, values: dict | None = None,
              errors: dict[str, str] | None = None) -> list[Field]:
    """The fields of a task form, in schema order, with current values and error messages."""
    if not schema:
        return []
    values, errors = values or {}, errors or {}
    required = set(schema.get("required", ()))
    zh = current() == "zh_CN"
    result = []
    for name, prop in schema.get("properties", {}).items():
        title, description = prop.get("title", name), prop.get("description", "")
        label, hint = (description or title, title) if zh else (title, description)
        kind, attrs = _kind(prop)
        result.append(Field(name, kind, label, hint, name in required,
                            [str(o) for o in prop.get("enum", ())], attrs,
                            values.get(name), errors.get(name)))
    return result


def _kind(prop: dict) -> tuple[str, dict]:
    attrs = {}
    # No `pattern`: JSON Schema and HTML read regular expressions differently; the engine checks.
    for key, attr in (("minimum", "min"), ("maximum", "max"), ("minLength", "minlength"),
                      ("maxLength", "maxlength")):
        if key in prop:
            attrs[attr] = prop[key]
    kind = prop.get("type")
    if "enum" in prop:
        return "select", {}
    if kind == "boolean":
        return "boolean", {}
    if kind in ("number", "integer"):
        attrs["step"] = "1" if kind == "integer" else "0.01"
        return kind, attrs
    if prop.get("maxLength", 0) > 200:
        return "textarea", attrs
    return "text", attrs


def data_from(schema: dict | None, form) -> dict:
    """The JSON object a posted HTML form stands for; empty optional fields are left out."""
    if not schema:
        return {}
    data: dict = {}
    for name, prop in schema.get("properties", {}).items():
        raw = form.get(name)
        if raw is None or raw == "":
            continue
        data[name] = _convert(prop, raw)
    return data


def _convert(prop: dict, raw: str):
    kind = prop.get("type")
    try:
        if kind == "boolean":
            return {"true": True, "false": False}.get(raw, raw)
        if kind == "integer":
            return int(raw)
        if kind == "number":        # a Decimal, as the API reads JSON numbers
            number = Decimal(raw.strip())
            return int(number) if "." not in raw and number.is_finite() else number
    except (ValueError, ArithmeticError):
        return raw
    return raw

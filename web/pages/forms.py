"""Task forms drawn from their JSON Schema, and posted form fields turned back into typed data.

Only the conversion from HTML strings to JSON types happens here; whether the data is valid is
decided by the engine (engine.definitions.forms through Runtime.complete), whose InvalidInput names the field.
A value that cannot even be converted ("abc" for a number) is passed on as the string, so that
the engine reports it like any other error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from web.pages.i18n import current

# The words of the product's form options (bpmn/forms/*.json `enum`), said for people. A value
# not listed here (an owner's new option) is shown as it is written.
OPTION_LABELS = {
    "refund": _l("Refund"), "partial_refund": _l("Partial refund"),
    "replacement": _l("Replacement"), "repair": _l("Repair"), "coupon": _l("Coupon"),
    "apology": _l("Apology"), "other": _l("Other"),
    "reassigned": _l("Reassigned"), "contacted_customer": _l("Contacted the customer"),
    "deadline_extended": _l("Deadline extended"),
    "claw_back": _l("Claw back"), "waive": _l("Waive"),
    "wrong_account": _l("Wrong account"), "provider_error": _l("Payment provider error"),
    "limit_exceeded": _l("Limit exceeded"),
    "as_new": _l("As new"), "opened": _l("Opened package"), "used": _l("Used"),
    "damaged": _l("Damaged"), "missing_parts": _l("Missing parts"),
    "wrong_item": _l("Wrong item"),
    "arrange_self_ship": _l("Customer ships it back"), "cancel_request": _l("Cancel the request"),
    "retry_pickup": _l("Try the pickup again"),
}


@dataclass
class Field:
    name: str
    kind: str             # checkbox-like "boolean", "number", "integer", "select", "text", "textarea"
    label: str
    hint: str
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)    # (value, label)
    attrs: dict = field(default_factory=dict)
    value: object = None
    error: str | None = None


def fields_of(schema: dict | None, values: dict | None = None,
              errors: dict[str, str] | None = None) -> list[Field]:
    """The fields of a task form, in schema order, with current values and error messages.

    The product's forms give each field an English `title` and a Chinese `description`: the
    label is the one of the page's language, and neither is repeated under it as a hint (an
    English hint under a Chinese label helped nobody). A description that is not the Chinese
    name (a form whose title and description are both English) is the hint."""
    if not schema:
        return []
    values, errors = values or {}, errors or {}
    required = set(schema.get("required", ()))
    zh = current() == "zh_CN"
    result = []
    for name, prop in schema.get("properties", {}).items():
        title, description = prop.get("title", name), prop.get("description", "")
        chinese = _is_chinese(description)
        label = (description if zh and chinese else title) or name
        hint = "" if chinese or description == label else description
        kind, attrs = _kind(prop)
        options = [(str(o), option_label(prop, o, zh)) for o in prop.get("enum", ())]
        result.append(Field(name, kind, label, hint, name in required, options, attrs,
                            values.get(name), errors.get(name)))
    return result


# A form's own words for its options (written by the owners' form editor):
# "x-option-labels": {"partial_refund": {"en": "Partial refund", "zh-CN": "部分退款"}}.
OPTION_LABELS_KEY = "x-option-labels"


def option_label(prop: dict, value, zh: bool) -> str:
    """How option `value` of field `prop` is said: the form's own label in the page's language
    (the other language's if only that one is written), else the product's (OPTION_LABELS),
    else the value as written."""
    own = prop.get(OPTION_LABELS_KEY)
    words = own.get(str(value)) if isinstance(own, dict) else None
    if isinstance(words, dict):
        first, second = ("zh-CN", "en") if zh else ("en", "zh-CN")
        for language in (first, second):
            if isinstance(words.get(language), str) and words[language].strip():
                return words[language]
    return str(OPTION_LABELS.get(str(value), value))


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


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

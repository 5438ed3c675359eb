"""Form data checks: user task input is validated against the task's JSON Schema.

A required text must hold more than spaces (JSON Schema's `required` and `minLength` take
"   "), whatever the schema says of its length.

A property with `"format": "money"` is an amount: after the schema's checks it must pass
engine.money.amount (finite, at least 0, at most two decimals) and is handed on as a Decimal,
whoever sent it (a JSON number read as a Decimal by the API, a float from Python). NaN and
Infinity are refused in every number.

A `pattern` (and the keys of `patternProperties`) is matched with RE2, a linear-time engine
(google-re2), never with Python's backtracking `re`: `^(a+)+$` against 'a' * 50 + '!' took
seconds per request and doubled with every character. `pattern_error` says why RE2 cannot
compile a pattern (backreferences, lookarounds); validation refuses such forms with it.

A `$ref` resolves within the form and to the JSON Schema meta-schemas, never over the network
(jsonschema's default registry fetched any http(s) URI with urlopen, at every completion);
`ref_errors` says which point to nothing or lead back to themselves before any data is
checked, and validation refuses such forms with it.
"""
from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import lru_cache

import re2
import referencing
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from engine import money
from engine.by_object import ByObject
from engine.errors import InvalidInput

MAX_FORM_BYTES = 256 * 1024


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr


@lru_cache(maxsize=1024)
def _regex(pattern: str):
    return re2.compile(pattern, _RE2_OPTIONS)


def pattern_error(pattern) -> str | None:
    """Why RE2 cannot compile `pattern`, or None when it can."""
    if not isinstance(pattern, str):
        return f"a pattern must be a string, not {type(pattern).__name__}"
    try:
        _regex(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return (f"pattern {pattern!r} cannot be compiled by the linear-time regex engine "
                f"(RE2: {reason}); backreferences and lookarounds are not supported")
    return None


def _pattern(validator, pattern, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    refused = pattern_error(pattern)  # a form deployed before validation asked RE2
    if refused is not None:
        yield ValidationError(f"cannot be checked: the form's {refused}")
    elif not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        refused = pattern_error(pattern)
        if refused is not None:
            yield ValidationError(f"cannot be checked: the form's {refused}")
            continue
        for key, value in instance.items():
            if _regex(pattern).search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


# Where a form's $refs may point: the form itself (added by the validator) and, as jsonschema
# adds them to any registry it is given, the meta-schemas; nothing retrieved.
_NOTHING_FETCHED = referencing.Registry()
# Keywords whose values are data, not subschemas: a "pattern" or "$ref" in them is neither.
DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
# Keywords whose values map names (fields, definitions) to subschemas.
_NAMED_SUBSCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                               "dependentSchemas"})


def ref_errors(schema: dict) -> list[str]:
    """Why each `$ref` of `schema` cannot be followed, as validating data would follow it
    (the form's resolver: within the form, its `$id`s and the meta-schemas), and the first
    `$ref` that leads back to itself (`_loop`); [] if none."""
    resolver = META_SCHEMAS.combine(_NOTHING_FETCHED).resolver_with_root(
        DRAFT202012.create_resource(schema))
    subschemas = list(_subschemas(schema, resolver))
    problems = [why for why in (_unresolvable(node, node_resolver)
                                for node, node_resolver in subschemas) if why is not None]
    looping = _loop(subschemas)
    if looping is not None:
        problems.append(f"$ref {looping!r} leads back to itself before any of the data is "
                        "checked, so no data could ever be checked against the form")
    return problems


# The keywords that apply their subschemas to the same part of the data (no step into it).
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE = ("not", "if", "then", "else")


def _loop(subschemas: list) -> str | None:
    """The first `$ref` that validation would follow back into a subschema it is already in
    without stepping into the data (`{"$ref": "#"}`, two definitions that $ref each other): a
    RecursionError at every completion. A tree's `{"properties": {"child": {"$ref": "#"}}}`
    steps into the data and is fine. A depth-first walk, iterative (a form may chain thousands
    of $refs), of every subschema once, along the $refs and in-place keywords from each of the
    form's `subschemas` (as `_subschemas` gives them)."""
    on_path, done = set(), set()
    for root, root_resolver in subschemas:
        if id(root) in done:
            continue
        on_path.add(id(root))
        stack = [(root, _in_place(root, root_resolver))]
        while stack:
            node, children = stack[-1]
            for child, child_resolver, ref in children:
                if id(child) in on_path:
                    return ref
                if id(child) not in done:
                    on_path.add(id(child))
                    stack.append((child, _in_place(child, child_resolver)))
                    break
            else:
                on_path.discard(id(node))
                done.add(id(node))
                stack.pop()
    return None


def _in_place(node: dict, resolver):
    """The subschemas validation applies to the same data as `node`: its $ref's target and its
    in-place keywords' subschemas, as (subschema, its resolver, the $ref followed or None)."""
    if isinstance(node.get("$id"), str):
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
    if isinstance(node.get("$ref"), str):
        try:
            found = resolver.lookup(node["$ref"])
        except Unresolvable:        # said by _unresolvable
            found = None
        if found is not None and isinstance(found.contents, dict):
            yield found.contents, found.resolver, node["$ref"]
    for keyword in _IN_PLACE_LISTS:
        for sub in node.get(keyword) if isinstance(node.get(keyword), list) else ():
            if isinstance(sub, dict):
                yield sub, resolver, None
    for keyword in _IN_PLACE:
        if isinstance(node.get(keyword), dict):
            yield node[keyword], resolver, None


def _subschemas(node, resolver):
    """Every subschema of the form in document order, with the resolver its $refs are read
    with (a `$id` is a new base for the refs inside it), iteratively (a form may nest deep).
    A map of names to subschemas (`_NAMED_SUBSCHEMAS`: a property may be called "enum") has
    no keywords for keys; the values of DATA_KEYWORDS hold data, no subschemas."""
    stack = [(node, resolver, False)]
    while stack:
        node, resolver, named = stack.pop()
        if isinstance(node, list):
            stack.extend((item, resolver, False) for item in reversed(node))
        elif isinstance(node, dict) and named:
            stack.extend((sub, resolver, False) for sub in reversed(node.values()))
        elif isinstance(node, dict):
            if isinstance(node.get("$id"), str):
                resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
            yield node, resolver
            stack.extend((value, resolver, keyword in _NAMED_SUBSCHEMAS)
                         for keyword, value in reversed(node.items())
                         if keyword not in DATA_KEYWORDS)


def _unresolvable(node: dict, resolver) -> str | None:
    """Why `node`'s own `$ref` cannot be followed, or None."""
    if not isinstance(node.get("$ref"), str):
        return None
    try:
        resolver.lookup(node["$ref"])
    except Unresolvable:
        return (f"$ref {node['$ref']!r} points to nothing (a $ref may point only into the form "
                "itself)")
    return None


def _following(keyword: str):
    """Draft 2020-12's `keyword` ($ref, $dynamicRef), refusing the data it cannot check when
    the reference points to nothing (a form deployed before validation followed them), where
    jsonschema raises."""
    follow = Draft202012Validator.VALIDATORS[keyword]

    def checked(validator, ref, instance, schema):
        try:
            yield from follow(validator, ref, instance, schema)
        except Unresolvable:
            yield ValidationError(f"cannot be checked: the form's {keyword} {ref!r} points "
                                  "to nothing")
    return checked


def _required(validator, required, instance, schema):
    """Draft 2020-12's `required`, and a required text must hold more than spaces: "   "
    passes `required` and `minLength: 1` alike, so a task asking for a reason took none."""
    yield from Draft202012Validator.VALIDATORS["required"](validator, required, instance, schema)
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        value = instance.get(name)
        if isinstance(value, str) and value and not value.strip():
            yield ValidationError(f"{name!r} is required and may not be blank")


# Draft 2020-12 with RE2 for every regular expression it matches against data, references that
# point to nothing refused as the data's errors, and required texts not blank.
FormValidator = validators.extend(
    Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties,
                           "$ref": _following("$ref"), "$dynamicRef": _following("$dynamicRef"),
                           "required": _required})


@lru_cache(maxsize=512)
def _validator(schema_json: str, formats=None):
    return FormValidator(json.loads(schema_json), format_checker=formats,
                         registry=_NOTHING_FETCHED)


# The routes' schemas and a compiled version's forms are built once and never changed: a
# request finds its validator by the schema object, without serialising the schema again.
_BY_OBJECT = ByObject(512)


def validate(schema: dict | None, data, *, formats=None) -> dict:
    """Return `data` if it satisfies `schema`; raise InvalidInput naming the first bad field.

    `formats` (a jsonschema FormatChecker) makes `format` an assertion for the formats it
    knows (message schemas check date-times with it, engine.definitions.messages)."""
    if not isinstance(data, dict):
        raise InvalidInput("form data must be an object", field="data")
    if len(json.dumps(data, default=str)) > MAX_FORM_BYTES:
        raise InvalidInput("form data is too large", field="data")
    where = _non_finite(data)
    if where is not None:
        raise InvalidInput(f"{where} must be a finite number", field=where)
    if schema is None:
        return data
    validator = _BY_OBJECT.get(
        schema, lambda: _validator(json.dumps(schema, sort_keys=True), formats), formats)
    try:
        errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.path), e.message))
    except RecursionError:  # {"$ref": "#"}: references that lead back without descending
        raise InvalidInput("the data cannot be checked: the form's references lead back to "
                           "themselves", field="data") from None
    if not errors:
        return _with_amounts(schema, data)
    first = errors[0]
    field = _field_of(first)
    raise InvalidInput(f"{field}: {first.message}" if field else first.message, field=field,
                       details=[{"field": _field_of(e), "message": e.message} for e in errors])


def _non_finite(value, path: str = "") -> str | None:
    """The path of the first NaN or Infinity inside `value` (None: there is none)."""
    if isinstance(value, Decimal):      # not math.isfinite: 1e999999999 would be a float's inf
        return path if not value.is_finite() else None
    if isinstance(value, float):
        return path if not math.isfinite(value) else None
    children = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _non_finite(child, f"{path}[{key}]" if isinstance(key, int) else
                            f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _with_amounts(schema: dict, data: dict) -> dict:
    """`data` with its money properties as Decimals. Raises InvalidInput naming the field."""
    properties = schema.get("properties") or {}
    amounts = {name: money.amount(data[name], name) for name, spec in properties.items()
               if isinstance(spec, dict) and spec.get("format") == "money"
               and data.get(name) is not None}
    return {**data, **amounts} if amounts else data


def _field_of(error) -> str | None:
    if error.validator == "required":
        missing = error.message.split("'")
        return missing[1] if len(missing) > 2 else None
    if error.validator == "additionalProperties":
        extra = error.message.split("'")
        return extra[1] if len(extra) > 2 else None
    path = [str(p) for p in error.absolute_path]
    return ".".join(path) or None

"""Checks of user tasks: who does them (lanes) and what they show (forms, SLA).

In every executable process, each user task must:

* sit in a lane named after a department (SpiffWorkflow's own rule for which
  lane a task is in: a task inside an embedded subprocess takes the
  subprocess's lane, otherwise the lane listing it with `flowNodeRef`);
* name its form with `<spiffworkflow:property name="form" value="x.json"/>`,
  and `x.json` must be in the upload's `forms/` folder, be JSON, be an object
  and be a valid JSON Schema (Draft 2020-12) whose every `pattern` (and
  `patternProperties` key) RE2 compiles (`engine.definitions.forms.pattern_error`:
  the runtime matches them with that linear-time engine, so no backreferences
  or lookarounds) and whose every `$ref` points into the form itself
  (`engine.definitions.forms.ref_errors`: followed as the runtime follows them);
* if it has an `sla` property, give a duration the business calendar can count
  (PT4H, P2D: `engine.business_time.parse_duration` decides, so whatever passes
  here gets a due time) or the name of a data field holding one.

Spiff properties without a name or value anywhere are reported too: the
library would fail on them with a bare KeyError.
"""
from __future__ import annotations

import json
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.business_time import parse_duration
from engine.definitions.forms import DATA_KEYWORDS, pattern_error, ref_errors
from engine.definitions.vocabulary import CAMUNDA_NS, CONTAINERS, bpmn, is_bpmn, spiff
from engine.runtime.task_rows import is_duration

from .bpmn import inside_non_executable
from .model import Bundle, Document, Problem, is_executable

MAX_FORM_BYTES = 2 * 1024 * 1024
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class FormChecker:
    """Checks each form of an upload once, however many tasks use it."""

    def __init__(self, forms: dict[str, bytes], kind: str = "form", folder: str = "forms"):
        # Message schemas (validation.messages) are JSON Schemas too, checked by the same rules.
        self.forms, self.kind, self.folder = forms, kind, folder
        self._verdicts: dict[str, str | None] = {}

    def error(self, name: str) -> str | None:
        """Why form `name` cannot be used, or None when it is fine."""
        if name not in self._verdicts:
            self._verdicts[name] = self._check(name)
        return self._verdicts[name]

    def _check(self, name: str) -> str | None:
        data = self.forms.get(name)
        folder = f"{self.folder}/"
        if data is None and name.startswith(folder) and name[len(folder):] in self.forms:
            return (f"{self.kind} {name!r}: name the file without its folder, "
                    f"as {name[len(folder):]!r}")
        if data is None:
            return f"{self.kind} {name!r} is not in the upload's {folder} folder"
        if len(data) > MAX_FORM_BYTES:
            return (f"{self.kind} {name!r} is {len(data):,} bytes, over the limit of "
                    f"{MAX_FORM_BYTES:,}")
        try:
            # Strict UTF-8: json.loads(bytes) also takes UTF-16, which deployment cannot store.
            schema = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            return f"{self.kind} {name!r} is not UTF-8; save it as UTF-8"
        except json.JSONDecodeError as exc:
            return (f"{self.kind} {name!r} is not valid JSON: {exc.msg} "
                    f"(line {exc.lineno}, column {exc.colno})")
        except (ValueError, RecursionError) as exc:
            return f"{self.kind} {name!r} cannot be read as JSON: {type(exc).__name__}"
        if not isinstance(schema, dict):
            kind = type(schema).__name__
            return f"{self.kind} {name!r} must be a JSON object (a JSON Schema), not {kind}"
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(part) for part in exc.path) or "top level"
            return f"{self.kind} {name!r} is not a valid JSON Schema: {exc.message} (at {where})"
        except Exception as exc:  # e.g. RecursionError on absurd nesting
            return (f"{self.kind} {name!r} could not be checked as a JSON Schema: "
                    f"{type(exc).__name__}")
        refused = [f"field {field or '(top level)'!r}: {reason}"
                   for field, pattern in _patterns(schema)
                   if (reason := pattern_error(pattern)) is not None] + ref_errors(schema)
        if refused:
            return f"{self.kind} {name!r}: " + "; ".join(refused)
        return None


def _patterns(schema, field: str = ""):
    """(field, pattern) for every `pattern` and `patternProperties` key in `schema`; the field
    is the dotted path of property names leading to it."""
    if isinstance(schema, list):
        for item in schema:
            yield from _patterns(item, field)
        return
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("pattern"), str):
        yield field, schema["pattern"]
    for keyword, value in schema.items():
        if keyword in DATA_KEYWORDS:
            continue
        if keyword in ("properties", "patternProperties") and isinstance(value, dict):
            for key, sub in value.items():
                if keyword == "patternProperties":
                    yield field, key
                yield from _patterns(sub, f"{field}.{key}" if field else key)
        elif isinstance(value, (dict, list)):
            yield from _patterns(value, field)


def check_user_tasks(doc: Document, bundle: Bundle, forms: FormChecker) -> list[Problem]:
    """Lane, form and SLA problems of the user tasks of one BPMN file."""
    problems = _check_property_names(doc)
    lanes = _lanes_by_node(doc)
    for process in doc.processes():
        if not is_executable(process):
            continue
        for task in process.iter(bpmn("userTask")):
            problems += _check_lane(doc, task, _lane_of(task, lanes), bundle.departments)
            properties = _properties(task)
            problems += _check_form(doc, task, properties.get("form"), forms)
            if "sla" in properties:
                problems += _check_sla(doc, task, properties["sla"])
    return problems


def _lanes_by_node(doc: Document) -> dict[str, str | None]:
    # Same rule as SpiffWorkflow: the last lane (in document order) listing a node wins,
    # which is the innermost one in nested lane sets.
    lanes = {}
    for ref in doc.root.iter(bpmn("flowNodeRef")):
        if ref.text is not None:
            lanes[ref.text] = ref.getparent().get("name")
    return lanes


def _lane_of(task, lanes: dict[str, str | None]) -> str | None:
    enclosing = [a for a in task.iterancestors() if is_bpmn(a, *CONTAINERS[1:])]
    for subprocess in reversed(enclosing):  # outermost first, as Spiff passes lanes down
        if lanes.get(subprocess.get("id")) is not None:
            return lanes[subprocess.get("id")]
    return lanes.get(task.get("id"))


def _properties(task) -> dict[str, str]:
    path = f"{bpmn('extensionElements')}/{spiff('properties')}/{spiff('property')}"
    return {prop.get("name"): prop.get("value") or "" for prop in task.iterfind(path)
            if prop.get("name")}


def _check_lane(doc, task, lane, departments) -> list[Problem]:
    known = ", ".join(sorted(departments))
    if lane is None:
        return [doc.problem(task, f"user task is in no lane; put it in a department lane "
                                  f"({known})")]
    if lane not in departments:
        return [doc.problem(task, f"user task is in lane {lane!r}, which is not a department "
                                  f"({known})")]
    return []


def _check_form(doc, task, form: str | None, forms: FormChecker) -> list[Problem]:
    if not form or not form.strip():
        hint = ""
        camunda_form = task.get(f"{{{CAMUNDA_NS}}}formKey")
        if camunda_form:
            hint = f" (camunda:formKey {camunda_form!r} is Camunda's and is not read here)"
        return [doc.problem(task, 'user task has no form: add <spiffworkflow:property '
                                  f'name="form" value="....json"/>{hint}')]
    error = forms.error(form)
    return [doc.problem(task, error)] if error else []


def _check_sla(doc, task, sla: str) -> list[Problem]:
    error = sla_error(sla)
    return [doc.problem(task, error)] if error else []


def sla_error(sla: str) -> str | None:
    """Why a user task's `sla` property would give no due time, or None when it gives one.

    Read as the runtime reads the property (engine.runtime.task_rows): a duration for the
    business calendar (is_duration), else the name of a top-level key of the task data holding
    one. Durations are judged by the calendar's parser. The owners' editor asks this as they type.
    """
    if is_duration(sla):
        try:
            parse_duration(sla)
        except ValueError as refused:
            hint = ("; a value starting with P is read as a duration, so rename the field"
                    if _FIELD.match(sla) and not any(ch.isdigit() for ch in sla) else "")
            return (f"sla {sla!r} would get no due time: the business "
                    f"calendar refuses it ({refused}){hint}")
        return None
    if _reads_as_duration(sla):
        return (f"sla {sla!r} would be read as the name of a data field, as "
                "only a value starting with a capital P is a duration; "
                f"write {sla.strip().upper()!r}")
    if _FIELD.match(sla):
        return None
    if _DOTTED_FIELD.match(sla):
        return (f"sla {sla!r}: the field is looked up among the top-level "
                "names of the task data and a dotted path is not followed; "
                "name a top-level field")
    return (f"sla {sla!r} must be an ISO-8601 duration such as PT4H or P2D, "
            "or the name of a data field")


def _reads_as_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def _check_property_names(doc: Document) -> list[Problem]:
    problems = []
    for prop in doc.root.iter(spiff("property")):
        if inside_non_executable(prop):
            continue
        if prop.get("name") is None or prop.get("value") is None:
            task = next((a for a in prop.iterancestors() if a.get("id")), None)
            problems.append(doc.problem(task, "spiffworkflow:property needs both a name and a "
                                              "value", line=prop.sourceline))
    return problems

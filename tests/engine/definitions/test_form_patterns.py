"""Form `pattern`s run on RE2: linear time at run time, refused at validation when RE2 cannot
compile them. And a form's validator is built once per schema."""
import json
import time

import pytest

from engine.definitions import forms
from engine.errors import InvalidInput
from tests.engine.definitions.test_validation import BPMN, VALID_BPMN, check, line_of, only


def form(properties, **extra):
    return {"review_request.json": json.dumps(
        {"type": "object", "properties": properties, **extra}).encode()}


@pytest.mark.timing
def test_a_catastrophic_pattern_is_matched_in_linear_time():
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as refused:
        forms.validate(schema, {"code": "a" * 50 + "!"})
    assert time.perf_counter() - started < 0.5
    assert refused.value.field == "code"
    assert forms.validate(schema, {"code": "a" * 50}) == {"code": "a" * 50}


@pytest.mark.timing
def test_pattern_properties_are_matched_by_re2_too():
    schema = {"type": "object", "patternProperties": {"^(a+)+$": {"type": "integer"}}}
    started = time.perf_counter()
    assert forms.validate(schema, {"a" * 40 + "!": "x"})
    with pytest.raises(InvalidInput):
        forms.validate(schema, {"aaa": "x"})
    assert time.perf_counter() - started < 0.5


def test_a_pattern_re2_cannot_compile_is_refused_at_run_time_not_run_by_re():
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": r"(a)\1"}}}
    with pytest.raises(InvalidInput) as refused:
        forms.validate(schema, {"code": "aa"})
    assert "cannot be compiled" in str(refused.value)


@pytest.mark.parametrize("properties, field, pattern", [
    ({"code": {"type": "string", "pattern": r"(a)\1"}}, "code", r"(a)\1"),
    ({"addr": {"type": "object", "properties": {"zip": {"pattern": "(?=1)1"}}}}, "addr.zip",
     "(?=1)1"),
    ({"tags": {"type": "array", "items": {"pattern": r"(x)\1"}}}, "tags", r"(x)\1"),
])
def test_a_pattern_re2_cannot_compile_is_refused_naming_the_form_and_field(
        properties, field, pattern):
    problem = only(check(forms=form(properties)), "linear-time regex engine")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(VALID_BPMN, 'id="review_request"'), "review_request")
    assert "'review_request.json'" in problem.message
    assert f"field {field!r}" in problem.message
    assert repr(pattern) in problem.message


def test_a_pattern_properties_key_is_checked_and_data_keywords_are_not():
    bad = form({}, patternProperties={r"(k)\1": {}})
    assert only(check(forms=bad), "linear-time regex engine")
    data_only = form({"x": {"type": "object", "default": {"pattern": r"(a)\1"}}})
    assert check(forms=data_only) == []


def test_patterns_re2_compiles_pass():
    assert check(forms=form({"phone": {"type": "string", "pattern": "^[0-9+ -]{5,20}$"},
                             "pattern": {"type": "string", "pattern": r"^\d+$"}})) == []


def test_a_schema_asked_again_is_not_serialised_again_and_each_object_has_its_own(monkeypatch):
    """The validator of a schema object is found by the object (engine.by_object): a route
    does not serialise its schema on every request, and another object with other content
    gets a validator of its own."""
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}
    assert forms.validate(schema, {"n": 2}) == {"n": 2}
    dumped = []
    real_dumps = forms.json.dumps
    monkeypatch.setattr(forms.json, "dumps", lambda value, **kw: (
        dumped.append(value), real_dumps(value, **kw))[1])
    assert forms.validate(schema, {"n": 3}) == {"n": 3}
    assert schema not in dumped
    other = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 1}}}
    with pytest.raises(InvalidInput, match="n"):
        forms.validate(other, {"n": 2})
    assert other in dumped

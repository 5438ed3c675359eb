"""A form's `$ref`s point into the form itself (or to the JSON Schema meta-schemas): one that
points to nothing is refused at validation naming the form, and a form deployed before that
check answers a completion with a refusal naming the field, not a 500. Nothing is fetched."""
import json

import pytest

from engine.definitions import forms
from engine.errors import InvalidInput
from tests.engine.definitions.test_validation import BPMN, VALID_BPMN, check, line_of, only


def form(**schema):
    return {"review_request.json": json.dumps({"type": "object", **schema}).encode()}


@pytest.mark.parametrize("schema, ref", [
    ({"$ref": "#/definitions/nowhere"}, "#/definitions/nowhere"),
    ({"properties": {"reason": {"$ref": "#/$defs/reason"}}}, "#/$defs/reason"),
    ({"properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
      "$defs": {"item": {"$ref": "#/$defs/gone"}}}, "#/$defs/gone"),
    ({"properties": {"enum": {"$ref": "#/$defs/x"}}}, "#/$defs/x"),     # a field named enum
    ({"properties": {"a": {"$ref": "https://example.com/a.json"}}}, "https://example.com/a.json"),
    ({"properties": {"a": {"$ref": "other.json"}}}, "other.json"),
])
def test_a_ref_to_nothing_is_refused_naming_the_form_and_the_ref(schema, ref):
    problem = only(check(forms=form(**schema)), "$ref")
    assert (problem.file, problem.line, problem.element_id) == (
        BPMN, line_of(VALID_BPMN, 'id="review_request"'), "review_request")
    assert "'review_request.json'" in problem.message and repr(ref) in problem.message


def test_refs_into_the_form_and_to_the_meta_schema_pass():
    assert check(forms=form(
        properties={"reason": {"$ref": "#/$defs/reason"}, "code": {"$ref": "#/definitions/c"},
                    "inner": {"$id": "https://forms.example/inner", "$defs": {"n": {}},
                              "$ref": "#/$defs/n"},
                    "schema": {"$ref": "https://json-schema.org/draft/2020-12/schema"}},
        **{"$defs": {"reason": {"type": "string"}}, "definitions": {"c": {"type": "integer"}},
           "default": {"$ref": "#/nowhere"}})) == []      # data keywords hold data, no refs


@pytest.mark.parametrize("schema, data, field", [
    ({"type": "object", "properties": {"reason": {"$ref": "#/$defs/reason"}}},
     {"reason": "x"}, "reason"),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
     {"a": 1}, "a"),
])
def test_a_form_deployed_with_a_ref_to_nothing_refuses_the_data_naming_the_field(
        schema, data, field, monkeypatch):
    """Deployed before validation followed $refs: jsonschema raised PointerToNowhere (a 500),
    and would fetch an http(s) $ref with urlopen at every completion."""
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("fetched"))
    with pytest.raises(InvalidInput) as refused:
        forms.validate(schema, data)
    assert refused.value.field == field and "cannot be checked" in str(refused.value)


@pytest.mark.parametrize("schema", [
    {"$ref": "#"},
    {"type": "object", "properties": {"x": {"$ref": "#/$defs/a"}},
     "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}}])
def test_references_that_lead_back_to_themselves_refuse_the_data(schema):
    """Each check of the data followed them again, to a RecursionError (a 500)."""
    with pytest.raises(InvalidInput) as refused:
        forms.validate(schema, {"x": 1})
    assert refused.value.field == "data" and "lead back" in str(refused.value)


LOOPS = [                              # a form, and the $refs that close its loop
    ({"$ref": "#"}, {"#"}),
    ({"properties": {"x": {"$ref": "#/$defs/a"}},
      "$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}}},
     {"#/$defs/a", "#/$defs/b"}),
    ({"properties": {"x": {"not": {"anyOf": [{"$ref": "#/properties/x"}]}}}},
     {"#/properties/x"})]


@pytest.mark.parametrize("schema, refs", LOOPS)
def test_references_that_lead_back_to_themselves_are_refused_at_validation(schema, refs):
    problem = only(check(forms=form(**schema)), "leads back")
    assert problem.element_id == "review_request"
    assert any(repr(ref) in problem.message for ref in refs), problem.message


def test_a_recursive_form_that_steps_into_the_data_passes():
    assert check(forms=form(properties={"child": {"$ref": "#"}, "parts": {
        "type": "array", "items": {"$ref": "#/$defs/part"}}},
        **{"$defs": {"part": {"properties": {"sub": {"$ref": "#/$defs/part"}}}}})) == []


def test_thousands_of_chained_references_are_walked_without_recursion():
    chain = {f"d{n}": {"$ref": f"#/$defs/d{n + 1}"} for n in range(5000)}
    chain["d5000"] = {"type": "string"}
    assert check(forms=form(properties={"x": {"$ref": "#/$defs/d0"}}, **{"$defs": chain})) == []

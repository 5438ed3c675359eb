"""A required text must hold more than spaces: "   " passed `required` and `minLength: 1`
alike, and a task asking for a reason was completed without one."""
import pytest

from engine.definitions import forms
from engine.errors import InvalidInput

SCHEMA = {"type": "object", "required": ["reason"],
          "properties": {"reason": {"type": "string", "minLength": 1}, "note": {"type": "string"},
                         "address": {"type": "object", "required": ["city"],
                                     "properties": {"city": {"type": "string"}}}}}


@pytest.mark.parametrize("data, field", [
    ({"reason": "   "}, "reason"), ({"reason": "\t\n\u3000"}, "reason"),
    ({"reason": "ok", "address": {"city": " "}}, "city"),
])
def test_a_required_text_of_only_spaces_is_refused_naming_the_field(data, field):
    with pytest.raises(InvalidInput) as refused:
        forms.validate(SCHEMA, data)
    assert refused.value.field == field and "blank" in str(refused.value)


def test_text_with_words_and_blank_text_that_is_not_required_pass():
    data = {"reason": "  torn  ", "note": "   ", "address": {"city": "上海"}}
    assert forms.validate(SCHEMA, data) == data                   # kept as sent


def test_an_empty_text_is_still_missing_as_the_schema_says():
    with pytest.raises(InvalidInput) as refused:                    # minLength's message
        forms.validate(SCHEMA, {"reason": ""})
    assert refused.value.field == "reason"

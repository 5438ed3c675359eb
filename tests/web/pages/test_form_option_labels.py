"""A form's own words for its options (x-option-labels, written by the owners' form editor) are
what staff read, in their language; the product's table and the raw value come after."""
from __future__ import annotations

from web.pages.forms import option_label

SIZE = {"enum": ["size", "refund", "other"],
        "x-option-labels": {"size": {"en": "Wrong size", "zh-CN": "尺码不合适"},
                            "other": {"zh-CN": "其他原因"}}}


def test_an_option_is_said_in_the_pages_language_from_the_form():
    assert option_label(SIZE, "size", zh=True) == "尺码不合适"
    assert option_label(SIZE, "size", zh=False) == "Wrong size"


def test_a_label_in_one_language_serves_both_and_unlabelled_values_fall_back():
    assert option_label(SIZE, "other", zh=False) == "其他原因"
    assert option_label(SIZE, "refund", zh=False) == "Refund"           # the product's word
    assert option_label({"enum": ["x"]}, "x", zh=True) == "x"            # as written

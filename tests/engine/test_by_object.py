"""engine.by_object: a value is made once per object and extra key, never shared between two
objects of equal content, and the kept values are bounded."""
from __future__ import annotations

from engine.by_object import ByObject


def test_values_are_made_once_per_object_and_extra_key():
    kept, made = ByObject(8), []

    def make(tag):
        made.append(tag)
        return tag
    one, same_content = {"a": 1}, {"a": 1}
    assert kept.get(one, lambda: make("one")) == "one"
    assert kept.get(one, lambda: make("again")) == "one"
    assert kept.get(same_content, lambda: make("other")) == "other"
    assert kept.get(one, lambda: make("sqlite"), "sqlite") == "sqlite"
    assert made == ["one", "other", "sqlite"]


def test_a_full_store_starts_again():
    kept = ByObject(2)
    objects = [object() for _ in range(3)]
    for n, obj in enumerate(objects):
        kept.get(obj, lambda n=n: n)
    assert kept.get(objects[2], lambda: "made again") == 2        # kept after the clearing
    assert kept.get(objects[0], lambda: "made again") == "made again"

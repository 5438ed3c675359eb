"""engine/runtime/data_copy.py: a task's data copied from its parent's is what SpiffWorkflow's
DeepMerge makes of it (the same values in the same order, each list, dict and set a copy of
its own, anything else the parent's object), and a task readied with data of its own still
gets the library's merge."""
from __future__ import annotations

from copy import deepcopy
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from SpiffWorkflow.util.deep_merge import DeepMerge

from engine.runtime import data_copy, determinism
from tests.engine.runtime.test_serialization import _workflow

_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                    st.decimals(allow_nan=False, places=2),
                    st.just(datetime(2026, 12, 6, tzinfo=timezone.utc)))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3),
    st.frozensets(st.integers(), max_size=3).map(set)), max_leaves=12)


def _shape(data: dict, parent: dict) -> list:
    """Each key, its value, and whether that value is the parent's own object."""
    return [(key, type(value), value == parent[key], value is parent[key])
            for key, value in data.items()]


@given(st.dictionaries(st.text(max_size=4), _VALUES, max_size=8))
def test_a_copy_is_what_deep_merge_makes_into_an_empty_dict(parent):
    before = deepcopy(parent)
    ours, library = data_copy.copy_into({}, parent), DeepMerge.merge({}, parent)
    assert list(ours) == list(library) and ours == library
    assert _shape(ours, parent) == _shape(library, parent)
    assert parent == before


def _readied(own_data: dict) -> tuple[dict, dict]:
    """(a task's data once readied from its parent's, the parent's data)."""
    determinism.install()
    root, child = list(_workflow().tasks.values())[:2]
    root.data = {"amount": Decimal("1.50"), "items": [{"sku": "A"}], "note": "x"}
    child.data = own_data
    child._inherit_data()
    return child.data, root.data


def test_a_task_readied_without_data_gets_a_copy_of_its_parents():
    data, parent = _readied({})
    assert data == parent and data["items"] is not parent["items"]
    assert data["items"][0] is parent["items"][0]           # shallow, as the library's


def test_a_task_readied_with_data_of_its_own_gets_the_librarys_merge():
    data, parent = _readied({"note": "mine", "extra": 1})
    assert data == {"note": "x", "extra": 1, "amount": Decimal("1.50"), "items": [{"sku": "A"}]}
    assert data["items"] is not parent["items"]

"""A task's data as a copy of its parent's, at less cost than SpiffWorkflow 3.2's DeepMerge.

The library gives a task its parent's data with DeepMerge.merge(task.data, parent.data): on each
task it readies (Task._inherit_data) and on each task it restores (TaskConverter.from_dict, into
an empty dict). Merged into an empty dict, DeepMerge only ever copies: each value that is a
dict, list or set shallowly (copy()), any other as it is, in the source's order. `copy_into()`
does that in one pass without the merge's comparisons and recursion; `install()` makes
_inherit_data use it when the task's data is empty (most tasks readied: every new one), and
the library's merge otherwise.
"""
from __future__ import annotations

from copy import copy

from SpiffWorkflow import task as spiff_task

_MUTABLE = (dict, list, set)


def copy_into(data: dict, source: dict) -> dict:
    """`data`, empty, filled with `source` as DeepMerge.merge(data, source) fills it."""
    data.update(source)
    for key, value in data.items():     # values replaced, none added: safe while iterating
        if isinstance(value, _MUTABLE):
            data[key] = copy(value)
    return data


def install() -> None:
    """Readying a task with no data of its own copies its parent's by `copy_into` (idempotent)."""
    if getattr(spiff_task.Task._inherit_data, "library_inherit", None) is None:
        spiff_task.Task._inherit_data = _inheriting(spiff_task.Task._inherit_data)


def _inheriting(library_inherit):
    def _inherit_data(self) -> None:
        if self.data:
            library_inherit(self)
        else:
            copy_into(self.data, self.parent.data)
    _inherit_data.library_inherit = library_inherit
    return _inherit_data

"""Values made once per object that is never changed after it is built (a prebuilt statement, a
form's JSON Schema), found by the object itself instead of by its content, so that a request
neither compiles nor serialises it again to look the value up."""
from __future__ import annotations


class ByObject:
    """At most `size` values, each kept with its object (so that the object's id stays its own
    while it is kept), all dropped when full; `extra` keys tell values of one object apart (a
    dialect's name, a format checker)."""

    def __init__(self, size: int):
        self.size = size
        self._kept: dict[tuple, tuple] = {}

    def get(self, obj, make, *extra):
        """The value kept for `obj` and `extra`, else `make()`, kept."""
        key = (id(obj), *extra)
        found = self._kept.get(key)
        if found is not None and found[0] is obj:
            return found[1]
        value = make()
        if len(self._kept) >= self.size:
            self._kept.clear()
        self._kept[key] = (obj, value)
        return value

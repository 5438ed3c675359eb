"""A prebuilt statement compiled for one dialect, as engine.prebuilt sends it on the driver: its
SQL, its parameters bound with SQLAlchemy's own processors and the columns' Python-side defaults,
a list's IN written out, and its rows read back with the result types' processors."""
from __future__ import annotations

import collections
import re

from sqlalchemy import exc
from sqlalchemy.sql import Select

from engine import db


class Compiled:
    """A statement compiled for one dialect (and one set of parameter names): its SQL, how its
    parameters are bound (in order for SQLite's qmark style, by name for psycopg's), the
    Python-side defaults of the columns it inserts or updates without being given them, and its
    result columns' names and types."""

    def __init__(self, statement, dialect, keys):
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys) if keys else None)
        self.dialect, self.sql = dialect, compiled.string
        self.writes = not db.reads_only(self.sql) or \
            getattr(statement, "_for_update_arg", None) is not None
        # An IN of a list, rendered per call (SQLAlchemy's own "post compile" step).
        self.expanding = compiled if compiled.post_compile_params or \
            compiled.literal_execute_params else None
        self.positional = compiled.positional
        # A list's IN on SQLite's "?" style: its "?, ?, ?" written here, between these pieces
        # of the SQL (the text, a list's name, the text...). SQLAlchemy's step does the rest.
        self.lists = {compiled.bind_names[bind] for bind in compiled.post_compile_params}
        self.pieces = _POSTCOMPILED.split(self.sql) if self.lists and self.positional and \
            not compiled.literal_execute_params else None
        names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        escaped = compiled.escaped_bind_names or {}
        self.keys = [escaped.get(name, name) for name in names]
        # As SQLAlchemy binds: a name used twice takes the processor of any of its uses.
        self.bind_processors = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.bind_processors[name] = process
        self.binds = [(name, self.bind_processors.get(name),
                       _REQUIRED if bind.required else bind.callable or bind.value)
                      for name in names for bind in (compiled.binds[name],)]
        self.defaults = [(column.key, _default(column.default))
                         for column in compiled.insert_prefetch] + \
                        [(column.key, _default(column.onupdate))
                         for column in compiled.update_prefetch]
        # A SELECT's columns, an INSERT's or UPDATE's RETURNING (None: no rows).
        selected = statement.selected_columns if isinstance(statement, Select) else \
            (statement.exported_columns or None)
        self.columns = [column.key for column in selected] if selected is not None else None
        self.types = [column.type.dialect_impl(dialect) for column in selected] \
            if selected is not None else None
        self.row_type = collections.namedtuple("Row", self.columns, rename=True) \
            if self.columns else None
        self.processors = None          # from the first result's column types (PostgreSQL's)

    def bound_one(self, params: dict):
        """(the SQL, its parameters as the driver takes them) for one execution."""
        if self.defaults:
            params = self._with_defaults(params)
        if self.pieces is not None:
            return self._listed(params)
        if self.expanding is not None:
            return self._expanded(params)
        values = []
        for name, process, default in self.binds:
            value = params[name] if name in params else _given(default, name)
            values.append(process(value) if process else value)
        if self.positional:
            return self.sql, tuple(values)
        return self.sql, dict(zip(self.keys, values))

    def bound(self, many: list[dict]):
        """(the SQL, a list of parameters) for one execution over many rows (no IN list)."""
        return self.sql, [self.bound_one(params)[1] for params in many]

    def _with_defaults(self, params: dict) -> dict:
        params = dict(params)
        for key, default in self.defaults:
            if key not in params:
                params[key] = default()
        return params

    def _listed(self, params: dict):
        """bound_one for a statement with lists on SQLite."""
        values, sizes = [], {}
        for name, process, default in self.binds:
            value = params[name] if name in params else _given(default, name)
            if name not in self.lists:
                values.append(process(value) if process else value)
            elif not value:              # an empty IN: SQLAlchemy's own rendering of it
                return self._expanded(params)
            else:
                sizes[name] = len(value)
                values.extend(map(process, value) if process else value)
        sql = "".join(", ".join("?" * sizes[piece]) if n % 2 else piece
                      for n, piece in enumerate(self.pieces))
        return sql, tuple(values)

    def _expanded(self, params: dict):
        state = self.expanding.construct_expanded_state(params)
        processors = dict(self.bind_processors, **state.processors)
        values = {name: (processors[name](value) if processors.get(name) else value)
                  for name, value in state.parameters.items()}
        if self.positional:
            return state.statement, tuple(values[name] for name in state.positiontup)
        return state.statement, values

    def rows(self, cursor) -> list:
        found = cursor.fetchall()
        if self.processors is None:
            codes = [column[1] for column in cursor.description] if cursor.description \
                else [None] * len(self.types)
            self.processors = [kind.result_processor(self.dialect, code)
                               for kind, code in zip(self.types, codes)]
        processors, row_type = self.processors, self.row_type
        if not any(processors):
            return [row_type._make(row) for row in found]
        return [row_type._make([process(value) if process else value
                                for process, value in zip(processors, row)]) for row in found]


_REQUIRED = object()
_POSTCOMPILED = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


def _given(value, name):
    if value is _REQUIRED:
        raise exc.ArgumentError(f"A value is required for bind parameter {name!r}")
    return value() if callable(value) else value


def _default(default):
    """A column default as a function of nothing (the platform's defaults use no context)."""
    if default.is_scalar:
        return lambda: default.arg
    if default.is_callable:
        return lambda: default.arg(None)
    raise NotImplementedError(f"{default!r}: a SQL default is the database's, not prefetched")

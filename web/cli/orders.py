"""`aftersales orders import FILE`: the shop's orders from a file, one order a line, through
the checks PUT /api/orders applies (engine.orders.upsert).

A file is JSON lines (each line an object with `order_id` and the order's fields) or, when its
name ends in .csv, CSV with a header row naming the same fields and `items` as a JSON column.
The file is one transaction: the first bad line is reported with its number and nothing is
stored.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import click

from engine import orders as order_store
from engine.errors import EngineError, InvalidInput
from web.cli.group import Context, main, pass_context


@main.group()
def orders():
    """The shop's orders."""


@orders.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_context
def import_orders(ctx: Context, file: Path):
    """Store the orders of FILE (JSON lines, or CSV with items as JSON); exit 1 at the first
    bad line, storing nothing."""
    counts: Counter = Counter()
    with ctx.sessions.begin() as session:
        for number, row in _rows(file):
            try:
                if not isinstance(row, dict):
                    raise InvalidInput("a line must be an object", field="line")
                fields = dict(row)
                _, what = order_store.upsert(session, fields.pop("order_id", None), fields)
            except EngineError as err:
                raise _at(file, number, err) from None
            counts[what] += 1
    total = sum(counts.values())
    click.echo(f"{total} order(s): {counts['created']} created, {counts['updated']} updated, "
               f"{counts['unchanged']} unchanged")


def _rows(file: Path):
    """(line number, order fields) for each order line of `file`."""
    with file.open(encoding="utf-8-sig", newline="") as handle:
        if file.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            for row in reader:
                fields = {k: v for k, v in row.items() if k is not None and v not in ("", None)}
                if "items" in fields:
                    try:
                        fields["items"] = json.loads(fields["items"])
                    except ValueError:
                        raise _at(file, reader.line_num, InvalidInput(
                            "items is not JSON", field="items")) from None
                yield reader.line_num, fields
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                raise _at(file, number, InvalidInput("the line is not JSON", field="line")) from None


def _at(file: Path, number: int, err: EngineError) -> InvalidInput:
    where = f"{err.field}: " if err.field else ""
    return InvalidInput(f"line {number} of {file.name} is refused; nothing was imported",
                        details=[{"file": file.name, "line": number,
                                  "message": f"{where}{err.message}"}])

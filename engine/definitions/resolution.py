"""Resolution: what an upload leaves out, taken from what is deployed.

A process owner may upload one process file with its forms, or one DMN file. Whatever the
upload's processes need and do not carry (engine.definitions.dependencies) comes from the
newest deployed versions: a called process from the newest version of that process (its own
file), a decision from the newest deployment whose files define it, a form from the newest
version of the process (or of a process it calls) that uses it, a message schema likewise or,
since a message name means one message wherever it is caught, from the newest deployment
that has it. Files the upload carries always win.

The processes to deploy are the upload's executable processes and, when the upload carries
DMN files, every deployed process whose closure (its callees included) evaluates one of their
decisions: editing routing.dmn alone versions exactly the processes that use it. A deployed
process that only calls an uploaded process keeps its version (its stored closure holds the
callee it was deployed with).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from engine.definitions import dependencies
from engine.definitions.bundle import SOURCE_SUFFIXES, Bundle
from engine.definitions.messages import file_name


class DeployedVersion(Protocol):
    """What resolution reads of a deployed version (a `Definition` row)."""

    id: int
    process_key: str
    version: int
    sha256: str
    sources: dict[str, str]
    forms: dict[str, str]
    messages: dict[str, str]


@dataclass
class Resolved:
    """The upload completed from deployed versions: the bundle to validate and deploy, the
    processes to deploy from it, and where each file that the upload lacked came from."""

    bundle: Bundle
    targets: list[str]
    index: dependencies.Index
    origins: dict[str, str] = field(default_factory=dict)   # file -> "process_key vN"


_indexes: dict[tuple[str, str], dependencies.Index] = {}


def _index_of(row: DeployedVersion) -> dependencies.Index:
    # Rows never change and the digest names their content, so an index is kept per digest.
    key = (row.process_key, row.sha256)
    if key not in _indexes:
        _indexes[key] = dependencies.index(row.sources)
    return _indexes[key]


def resolve(upload: Bundle, deployed: Sequence[DeployedVersion]) -> Resolved:
    """The upload with what it needs from `deployed` (the newest version of each process)."""
    newest_first = sorted(deployed, key=lambda row: row.id, reverse=True)
    latest = {row.process_key: row for row in deployed}
    bundle = Bundle(dict(upload.files), dict(upload.forms), dict(upload.messages))
    origins: dict[str, str] = {}
    uploaded = dependencies.index(upload.files)
    targets = set(uploaded.executable())
    if uploaded.decisions:
        for row in deployed:
            if row.process_key in uploaded.processes:
                continue
            used = _index_of(row).closure(row.process_key).decisions
            if used & set(uploaded.decisions):
                targets.add(row.process_key)
    index = uploaded
    while True:
        missing_processes, missing_decisions = set(), set()
        for key in targets:
            closure = index.closure(key)
            missing_processes |= closure.missing_processes
            missing_decisions |= closure.missing_decisions
        added = [_pull(bundle, origins, latest[pid], _index_of(latest[pid]).processes[pid].file)
                 for pid in sorted(missing_processes)
                 if pid in latest and pid in _index_of(latest[pid]).processes]
        for decision in sorted(missing_decisions):
            row = next((r for r in newest_first if decision in _index_of(r).decisions), None)
            if row is not None:
                added.append(_pull(bundle, origins, row, _index_of(row).decisions[decision]))
        if not any(added):
            break
        index = dependencies.index(bundle.files)
    for key in sorted(targets):
        closure = index.closure(key)
        users = [latest[pid] for pid in sorted(closure.processes) if pid in latest]
        for form in sorted(closure.forms - set(bundle.forms)):
            row = _having(users, [], lambda r: form in r.forms)
            if row is not None:
                bundle.forms[form] = row.forms[form].encode()
                origins[f"forms/{form}"] = f"{row.process_key} v{row.version}"
        for message in sorted(closure.messages):
            name = file_name(message)
            if name in bundle.messages:
                continue
            row = _having(users, newest_first, lambda r: message in (r.messages or {}))
            if row is not None:
                bundle.messages[name] = row.messages[message].encode()
                origins[f"messages/{name}"] = f"{row.process_key} v{row.version}"
    return Resolved(bundle, sorted(targets), index, origins)


def _pull(bundle: Bundle, origins: dict, row: DeployedVersion, filename: str) -> bool:
    """Add deployed file `filename` of `row` to the bundle; False when nothing was added."""
    name = filename
    if name in bundle.files:
        if bundle.files[name] == row.sources[filename].encode():
            return False
        # The upload has another file of that name: keep both, the deployed one renamed.
        suffix = next((s for s in SOURCE_SUFFIXES if filename.endswith(s)), "")
        name = f"{filename[:len(filename) - len(suffix)]}.{row.process_key}-v{row.version}{suffix}"
        if name in bundle.files:
            return False
    bundle.files[name] = row.sources[filename].encode()
    origins[name] = f"{row.process_key} v{row.version}"
    return True


def _having(users, newest_first, test):
    """The first of `users` (then of every deployed version, newest first) that passes `test`."""
    return next((row for row in [*users, *newest_first] if test(row)), None)

"""Checks of the call graph: no process may call itself, directly or through others.

SpiffWorkflow starts a called process afresh for each call activity it reaches, so a process
that calls itself (or calls one that calls it back) starts instance after instance and `start`
never returns. The graph is the upload's executable processes (each call activity, however deep
in subprocesses, is an edge to its calledElement) and the deployed processes they call, whose
own calls the caller may pass (`Bundle.deployed_calls`); a process in the upload replaces the
deployed one of the same id, as deployment would. Each call activity on a cycle is reported
with the whole cycle, so every file of a mutual recursion shows where to break it.
"""
from __future__ import annotations

from engine.definitions.vocabulary import bpmn

from .model import Bundle, Problem, is_executable


def check_call_cycles(bundle: Bundle) -> list[Problem]:
    """One problem per call activity of the upload whose called process leads back to its own."""
    graph = {pid: set(called) for pid, called in bundle.deployed_calls.items()}
    calls = []  # (document, call activity, calling process id, called process id)
    for doc, process in bundle.executable_processes():
        pid = process.get("id")
        if not pid:
            continue
        graph[pid] = set()
        for call in process.iter(bpmn("callActivity")):
            called = call.get("calledElement")
            if called:
                graph[pid].add(called)
                calls.append((doc, call, pid, called))
    problems = []
    for doc, call, pid, called in calls:
        path = _path(graph, called, pid)
        if path is None:
            continue
        cycle = " -> ".join([pid, *path])
        what = ("calls its own process" if called == pid
                else f"calls process {called!r}, which calls back")
        problems.append(doc.problem(call, f"call activity {what} ({cycle}): a process may not "
                                          "call itself, directly or through others, or each "
                                          "start would start it again without end"))
    return problems


def _path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The shortest list of process ids from `start` to `goal` along calls, or None."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            if node == goal:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return path[::-1]
            for nxt in sorted(graph.get(node, ())):
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return None

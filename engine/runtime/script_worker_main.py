"""The loop of one script worker process (started by engine/runtime/script_workers.py as
`python -m engine.runtime.script_worker_main REQUEST_FD ANSWER_FD MEMORY_LIMIT`).

It limits its address space, checks that its hash seed is fixed, says it is ready, then answers
one request at a time: the platform clock frozen at the request's instant, the CPU limit moved to
this call's time limit plus a margin, the script or expression run by the sandbox of
engine/runtime/scripting.py, the answer pickled back (sets as lists, errors as class name,
message and line; text that shows a memory address is refused, as it could not be replayed).
A MemoryError is answered too, then the parent replaces the worker.
"""
from __future__ import annotations

import copy
import math
import os
import pickle
import re
import resource
import sys
import traceback
from multiprocessing.connection import Connection

from engine import clock
from engine.runtime import scripting
from engine.runtime.script_workers import HASH_SEED, KILL_MARGIN


def _as_stored(value):
    """`value` with every set as a list (in this worker's fixed-seed order), recursively."""
    if isinstance(value, (set, frozenset)):
        return [_as_stored(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_as_stored(v) for v in value)
    return value


# What repr() shows of a function, an iterator or any object without a repr of its own: its
# memory address, different in every process, so a history holding one could not be replayed.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]{4,}>")


def _check_replayable(value, where: str) -> None:
    """Raise ValueError when `value` holds text with a memory address (str() of a function,
    a map or a generator) at any depth."""
    if isinstance(value, str):
        if _ADDRESS.search(value):
            raise ValueError(f"{where} holds {value[:80]!r}, which shows a memory address: it "
                             f"differs in every process, so the history could not be replayed; "
                             f"store the values themselves (e.g. list(...) of an iterator)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_replayable(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_replayable(item, where)


def _script_line(tb) -> int:
    line = 0
    for frame in traceback.extract_tb(tb):
        if frame.filename == "<string>":
            line = frame.lineno or 0
    return line


def _serve(request_fd: int, answer_fd: int, memory_limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    requests = Connection(request_fd, writable=False)
    answers = Connection(answer_fd, readable=False)
    environment = scripting.RestrictedEnvironment()
    if os.environ.get("PYTHONHASHSEED") != HASH_SEED:
        sys.exit("script worker: PYTHONHASHSEED is not fixed")
    answers.send_bytes(b"ready")
    while True:
        try:
            request = pickle.loads(requests.recv_bytes())
        except EOFError:
            return  # the parent closed the pipe or died
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = math.ceil(used.ru_utime + used.ru_stime + request["time_limit"] + KILL_MARGIN) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
        answer = _answer(environment, request, memory_limit)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            data = pickle.dumps(("recycle", ("error", "MemoryError", "out of memory", 0, [])))
        except Exception as err:
            data = pickle.dumps(("error", "TypeError", f"the script's result cannot be stored "
                                 f"in task data: {err}", 0, []))
        answers.send_bytes(data)


def _answer(environment, request, memory_limit: int) -> tuple:
    prints: list[str] = []
    clock.freeze(request["now"])
    environment.time_limit = request["time_limit"]
    try:
        with scripting.collected_prints(prints):
            if request["mode"] == "eval":
                value = _as_stored(environment.run_expression(
                    request["source"], request["context"], request["external"]))
                _check_replayable(value, "the expression's value")
                return ("ok", value, prints)
            context = request["context"]
            given = copy.deepcopy(context)
            environment.run_script(request["source"], context, request["external"])
            stored = _as_stored(context)
            for key, value in stored.items():      # what the script set (given data is as given)
                if key not in given or given[key] != value:
                    _check_replayable(value, key)
            return ("ok", stored, prints)
    except MemoryError:
        return ("recycle", ("error", "MemoryError", "the script ran out of memory (the limit "
                            f"is {memory_limit // 2**20} MiB)", 0, prints))
    except Exception as err:
        message = str(err.args[0]) if err.args and len(err.args) == 1 else str(err)
        return ("error", type(err).__name__, message, _script_line(err.__traceback__), prints)
    finally:
        clock.freeze(None)


if __name__ == "__main__":
    sys.stdout = sys.stderr  # the protocol has its own pipes; nothing may write to stdout
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))

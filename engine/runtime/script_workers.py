"""Script worker processes: where scripts and non-trivial expressions of a process run.

RestrictedPython and the size guards of engine/runtime/script_builtins.py refuse what a script
may not do, and the tracer of engine/runtime/scripting.py stops Python code at the time limit;
neither can stop a single C-level call (`pow` with 8,000-digit operands, `str()` of a huge
list, `'a'.ljust(10**9)`), which holds the GIL and the memory of the process it runs in. So
scripts run in a small pool of long-lived worker processes (POOL_SIZE, started on first use),
each one a fresh interpreter (`python -m engine.runtime.script_worker_main`) that:

- runs with PYTHONHASHSEED=0, so that a set of strings iterates in the same order in every run
  of every worker, the recorded one and its replay (sets a script leaves in task data come
  back as lists in that order, as SpiffWorkflow's serializer stores them anyway);
- limits its address space (RLIMIT_AS, Settings.script_memory_mb: a huge allocation is a
  MemoryError there) and its CPU time per call (RLIMIT_CPU, the time limit plus a margin: SIGXCPU ends it);
- reads the platform clock's instant from each request (a script's `now()` is the instant the
  unit of work is pinned to), runs the script with the sandbox of engine/runtime/scripting.py
  and answers with the new task data, or the error's class, message and line.

The parent sends (mode, source, task data, clock instant, time limit) pickled over a pipe and
waits at most the time limit plus KILL_MARGIN: a worker that overruns, dies (memory, CPU) or
answers nonsense is killed and replaced, and the script fails with ScriptLimitExceeded, a task
error like any other, which the runtime turns into an incident. Answers are unpickled with a
whitelist of classes (task data's: Decimal, datetime, date, time, timedelta, timezone), so a
script that escaped the sandbox inside a worker still cannot hand the parent an object that
runs code. A thread waiting for a busy worker waits at most until the worker is killed.
"""
from __future__ import annotations

import atexit
import io
import os
import pickle
import queue
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from datetime import time as time_of_day
from decimal import Decimal
from multiprocessing.connection import Connection


POOL_SIZE = 2                      # workers per server process (Settings.script_workers)
MEMORY_LIMIT = 512 * 1024 * 1024   # bytes of address space per worker (Settings.script_memory_mb)
KILL_MARGIN = 1.0                  # seconds past the time limit before a worker is killed
START_TIMEOUT = 60.0               # seconds a new worker may take to start (a loaded machine)
HASH_SEED = "0"


class ScriptLimitExceeded(Exception):
    """A script's worker overran the time limit in a single operation, or ran out of memory or
    CPU time, or died: it was killed and replaced."""


class WorkerUnavailable(Exception):
    """No script worker could be started."""


# --- the parent's side ----------------------------------------------------------------------------

_ALLOWED = {
    ("decimal", "Decimal"): Decimal, ("datetime", "datetime"): datetime,
    ("datetime", "date"): date, ("datetime", "time"): time_of_day,
    ("datetime", "timedelta"): timedelta, ("datetime", "timezone"): timezone,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex, ("builtins", "slice"): slice,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"a script worker answered with a {module}.{name}")
        return found


def _loads(data: bytes):
    return _Unpickler(io.BytesIO(data)).load()


class _Worker:
    """One worker process and its two pipe ends."""

    def __init__(self, memory_limit: int):
        env = {**os.environ, "PYTHONHASHSEED": HASH_SEED, "PYTHONDONTWRITEBYTECODE": "1"}
        read_req, self._write_fd = os.pipe()
        self._read_fd, write_ans = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.runtime.script_worker_main", str(read_req), str(write_ans),
             str(memory_limit)],
            pass_fds=(read_req, write_ans), env=env, stdin=subprocess.DEVNULL,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        os.close(read_req)
        os.close(write_ans)
        self.requests = Connection(self._write_fd, readable=False)
        self.answers = Connection(self._read_fd, writable=False)
        self.ready = False

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.answers.poll(START_TIMEOUT):
            raise WorkerUnavailable("a script worker did not start in time")
        if self.answers.recv_bytes() != b"ready":
            raise WorkerUnavailable("a script worker started wrongly")
        self.ready = True

    def kill(self) -> None:
        try:
            self.process.kill()
        except OSError:
            pass
        for conn in (self.requests, self.answers):
            try:
                conn.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class WorkerPool:
    """A fixed number of workers; `call` lends one to the calling thread for one request."""

    def __init__(self, size: int = POOL_SIZE, memory_limit: int = MEMORY_LIMIT):
        self.size, self.memory_limit = size, memory_limit
        self.pid = os.getpid()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self.replaced = 0  # workers killed and replaced (tests and figures read it)
        for _ in range(size):
            self._start()

    def _start(self) -> None:
        worker = _Worker(self.memory_limit)
        with self._lock:
            self._workers.add(worker)
        self._idle.put(worker)

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
            self.replaced += 1
        worker.kill()
        self._start()  # the replacement boots while the caller reports the failure

    def call(self, request: dict, time_limit: float):
        """Send `request` to a worker; its answer, or raise ScriptLimitExceeded."""
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        worker = self._idle.get()
        try:
            worker.wait_ready()
            worker.requests.send_bytes(payload)
            if not worker.answers.poll(time_limit + KILL_MARGIN):
                raise ScriptLimitExceeded(
                    f"script stopped: it ran longer than the time limit of {time_limit:g} s "
                    "(in one operation; its worker was killed)")
            answer = _loads(worker.answers.recv_bytes())
        except ScriptLimitExceeded:
            self._retire(worker)
            raise
        except (EOFError, OSError, pickle.UnpicklingError, WorkerUnavailable) as err:
            self._retire(worker)
            if isinstance(err, WorkerUnavailable):
                raise
            raise ScriptLimitExceeded(
                "script stopped: its worker process died (it exceeded the memory limit of "
                f"{self.memory_limit // 2**20} MiB or its CPU time)") from None
        except BaseException:
            self._retire(worker)  # interrupted mid-call: the worker's state is unknown
            raise
        if answer[0] == "recycle":  # the worker ran out of memory: answer, then replace it
            self._retire(worker)
            return answer[1]
        self._idle.put(worker)
        return answer

    def close(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.kill()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()
_shape = (POOL_SIZE, MEMORY_LIMIT)     # what the next pool is started with (`configure`)


def configure(size: int, memory_limit: int) -> None:
    """Set the number of workers and each one's address-space limit in bytes (the Runtime
    passes its settings); a running pool of another shape is replaced on its next use."""
    global _shape
    _shape = (size, memory_limit)


def pool() -> WorkerPool:
    """The process's pool, started on first use (and again in a forked child, or after
    `configure` changed its shape)."""
    global _pool
    current = _pool
    if current is not None and current.pid == os.getpid() and \
            (current.size, current.memory_limit) == _shape:
        return current
    with _pool_lock:
        if _pool is not None and _pool.pid == os.getpid() and \
                (_pool.size, _pool.memory_limit) != _shape:
            _pool.close()
            _pool = None
        if _pool is None or _pool.pid != os.getpid():
            # An inherited pool's pipes belong to the parent: not touched.
            _pool = WorkerPool(*_shape)
        return _pool


@atexit.register
def _close_pool() -> None:
    if _pool is not None and _pool.pid == os.getpid():
        _pool.close()

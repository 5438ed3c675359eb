"""Restricted Python for BPMN: where every script, condition and expression of a process runs.

Owns the script environment used by script tasks, gateway conditions, timer expressions, message
payloads and service-task parameters, and the seam through which service tasks call out:

- code is compiled with RestrictedPython plus our own policy (no imports, no `_` names, no class,
  try or with statements, no id() or hash(), `**`, `*` and `<<` routed through size guards);
  code objects are cached;
- names resolve to the task data first, then to a whitelist of builtins and helpers
  (engine/runtime/script_builtins.py, with the guards the compiled code calls); `now()` reads
  engine.clock, so a script sees the same instant as the rest of its unit of work;
- every run has a time limit on its own work (its thread's CPU time once the wall clock is past
  it, and the clock alone past WALL_LIMITS limits), enforced by a per-thread trace function
  (works off the main thread);
- scripts and expressions that `is_cheap_script` / `is_cheap` cannot prove cheap (calls, loops,
  function definitions, comprehensions, `**`, big literals...) run in a script worker process (engine/runtime/script_workers.py: memory and CPU
  limits, a wall-clock kill, a fixed hash seed), so that a single C-level operation such as
  `str.ljust(10**9)` or a huge `pow` cannot take the server's memory or hold its GIL; cheap
  ones (most gateway conditions, `total = amount * 2`) run here, in microseconds;
- the duration or cycle a timer expression gives is bounded (business_time.timer_duration_error)
  before SpiffWorkflow reads it;
- `check_expression` / `check_script` let a deployment refuse bad definitions before they run.
"""
from __future__ import annotations

import ast
import contextlib
import decimal
import functools
import json
import logging
import sys
import time
from types import CodeType
from typing import Any, Callable, NamedTuple

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition as CycleTimer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition as DurationTimer,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine import clock
from engine.business_time import timer_cycle_error, timer_duration_error
from engine.runtime import script_workers
from engine.runtime.script_builtins import _GUARDS, BUILTINS, REFUSED_NAMES

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 1.0
WALL_LIMITS = 3      # a script is stopped after this many time limits of the clock
# Spiff's error formatter finds the failing line by looking for frames with this file name.
_FILENAME = "<string>"

class _ScriptTimeout(BaseException):
    """Raised into a script that ran out of time; converted to TimeoutError at the boundary."""


# --- compiling ------------------------------------------------------------------------------------

class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus what a BPMN script never needs and a sandbox must refuse."""

    _SIZE_GUARDS = {ast.Pow: "_pow_", ast.Mult: "_mul_", ast.LShift: "_lshift_"}

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        guard = self._SIZE_GUARDS.get(type(node.op))
        if guard is None:
            return node
        func = ast.Name(guard, ast.Load())
        call = ast.Call(func=func, args=[node.left, node.right], keywords=[])
        copy_locations(func, node)
        copy_locations(call, node)
        return call

    def visit_While(self, node):
        # `while True: pass` compiles to a jump onto itself, for which CPython emits no line
        # event: a name load at the top of every loop body gives the time-limit tracer one.
        node = super().visit_While(node)
        tick = ast.Expr(ast.Name("_loop_", ast.Load()))
        copy_locations(tick, node.body[0])
        copy_locations(tick.value, node.body[0])
        node.body.insert(0, tick)
        return node

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in REFUSED_NAMES:
            self.error(node, f'"{node.func.id}()" is not allowed in scripts')
        return super().visit_Call(node)

    def visit_Attribute(self, node):
        if node.attr == "mro":  # Exception.mro() hands out BaseException and `object`
            self.error(node, '"mro" is not allowed in scripts')
        return super().visit_Attribute(node)

    def _refuse(self, node, what):
        self.error(node, f"{what} are not allowed in scripts")
        return node

    # A time-limited script must not be able to catch its own timeout, nor run code while it
    # unwinds (finally, __exit__, __del__): so no try, with or class statements at all.
    def visit_Try(self, node):
        return self._refuse(node, "try statements (test the condition instead, e.g. d.get(key))")

    def visit_Import(self, node):
        return self._refuse(node, "import statements")

    visit_ImportFrom = visit_Import
    visit_With = lambda self, node: self._refuse(node, "with statements")  # noqa: E731
    visit_ClassDef = lambda self, node: self._refuse(node, "class definitions")  # noqa: E731


class _Compiled(NamedTuple):
    code: CodeType | None
    error: str | None
    error_type: type[Exception] = PermissionError


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> _Compiled:
    """Compile once per distinct source: the same condition is evaluated over and over."""
    try:
        tree = ast.parse(source, _FILENAME, mode)
    except SyntaxError as err:
        # Never re-raised as SyntaxError: Spiff's formatter crashes on one without a lineno.
        return _Compiled(None, f"Line {err.lineno}: syntax error: {err.msg}", ValueError)
    compile_restricted = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compile_restricted(tree, _FILENAME, policy=_Policy)
    if result.errors:
        return _Compiled(None, "; ".join(result.errors))
    return _Compiled(result.code, None)


def _compiled(source: str, mode: str) -> CodeType:
    compiled = _compile(source, mode)
    if compiled.code is None:
        raise compiled.error_type(compiled.error)
    return compiled.code


def check_expression(source: str) -> str | None:
    """Check a condition or expression without running it: an error message, or None if fine."""
    return _compile(source.strip(), "eval").error


def check_script(source: str) -> str | None:
    """Check a script without running it: an error message (with its line), or None if fine."""
    return _compile(source, "exec").error


# --- running --------------------------------------------------------------------------------------

class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff's TaskDataEnvironment semantics, run restricted and time-limited.

    Task data shadows builtins and helpers (a form field called `date` just works) instead of
    raising as TaskDataEnvironment does. A script writes its top-level names back to the task
    data only when it succeeds; functions and helpers are never written back.

    `evaluate` and `execute` run scripts and expressions that `is_cheap_script` and `is_cheap`
    cannot prove cheap in a script worker process (engine/runtime/script_workers.py); `run_expression` and
    `run_script` are the sandbox itself, run in this process (by the workers, and for cheap
    expressions). With `in_process=True` (or environment globals, which cannot cross a process
    boundary) everything runs here, with the tracer's time limit only. What is proved cheap runs
    without the tracer: no calls and no loops, so each line runs once and there is nothing the
    limit could stop (the tracer checks the clock between lines).
    """

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT, environment_globals=None,
                 in_process: bool = False):
        super().__init__(environment_globals)
        self.time_limit = time_limit
        self.builtins = {**BUILTINS, **self.globals}
        self.in_process = in_process or bool(self.globals)

    def evaluate(self, expression, context, external_context=None):
        """The value of `expression` over the task data; raises what the expression raised."""
        source = expression.strip()
        if is_cheap(source):    # no calls nor loops: one line, nothing for a time limit to stop
            return self._run(_compiled(source, "eval"), self._scope(context, external_context),
                             timed=False)
        if self.in_process:
            return self.run_expression(source, context, external_context)
        _compiled(source, "eval")  # refusals are told here, without a worker
        return self._in_worker("eval", source, context, external_context)

    def execute(self, script, context, external_context=None):
        """Run `script` over the task data and write its results back into `context`."""
        cheap = is_cheap_script(script)
        if self.in_process or cheap:
            return self.run_script(script, context, external_context, timed=not cheap)
        _compiled(script, "exec")
        new = self._in_worker("exec", script, context, external_context)
        for key in [key for key in context if key not in new]:
            del context[key]
        context.update(new)
        return True

    def run_expression(self, expression, context, external_context=None):
        """`evaluate`, in this process."""
        code = _compiled(expression.strip(), "eval")
        return self._run(code, self._scope(context, external_context))

    def run_script(self, script, context, external_context=None, *, timed: bool = True):
        """`execute`, in this process; without the time limit's tracer when not `timed` (a
        script `is_cheap_script` proved cheap: its lines run once each)."""
        scope = self._scope(context, external_context)
        self._run(_compiled(script, "exec"), scope, timed)
        for key in [key for key in context if key not in scope]:  # `del name` in the script
            del context[key]
        for key, value in scope.items():
            if key in _GUARDS or key == "__builtins__" or callable(value) or \
                    (external_context and key in external_context):
                continue
            context[key] = value
        return True

    def _in_worker(self, mode, source, context, external_context):
        request = {"mode": mode, "source": source, "context": dict(context),
                   "external": dict(external_context) if external_context else None,
                   "now": clock.now(), "time_limit": self.time_limit}
        answer = script_workers.pool().call(request, self.time_limit)
        for line in answer[-1]:
            log.info("script print: %s", line)
        if answer[0] == "ok":
            return answer[1]
        _, kind, message, line, _ = answer
        _raise_at_line(_error_class(kind)(message), line)

    def _scope(self, context, external_context):
        scope = {**external_context, **context} if external_context else dict(context)
        scope.update(_GUARDS)  # after the data, so that no data key can replace a guard
        scope["__builtins__"] = self.builtins  # without it Python would hand out the real ones
        return scope

    def _run(self, code: CodeType, scope: dict, timed: bool = True):
        if not timed:
            try:
                return eval(code, scope)
            except Exception as err:
                raise _readable(err)
        # The limit is on the script's own work: once the wall clock passes the deadline, the
        # thread's CPU time decides, so a script that waited for the CPU (a loaded machine, a
        # collection of the garbage of other threads) gets the rest of its time, and one that
        # used it up stops. The clock is read on every line, the CPU time only then. Waiting
        # counts once the clock passes WALL_LIMITS time limits: the worker is not held longer
        # whatever the machine's load.
        limit, started = self.time_limit, time.thread_time()
        now = time.monotonic()
        deadline, last = now + limit, now + limit * WALL_LIMITS

        def tracer(frame, event, arg):
            nonlocal deadline
            now = time.monotonic()
            if now > deadline:
                if now > last:
                    raise _ScriptTimeout(f"it took more than {limit * WALL_LIMITS:g} s of the "
                                         f"clock, {WALL_LIMITS} times its time limit of "
                                         f"{limit:g} s")
                left = limit - (time.thread_time() - started)
                if left <= 0:
                    raise _ScriptTimeout(f"it ran longer than the time limit of {limit:g} s")
                deadline = now + left
            # Line events only in script frames; helpers are ours and finish on their own.
            return tracer if frame.f_code.co_filename == _FILENAME else None

        previous = sys.gettrace()
        sys.settrace(tracer)  # per thread, unlike SIGALRM
        try:
            return eval(code, scope)
        except _ScriptTimeout as stop:
            timeout = TimeoutError(f"script stopped: {stop.args[0]}")
            # Keep the script's frames: Spiff reads the failing line from them.
            raise timeout.with_traceback(stop.__traceback__) from None
        except Exception as err:
            raise _readable(err)
        finally:
            sys.settrace(previous)


def _readable(err: Exception) -> Exception:
    """`err`, with a message Spiff can format: its formatter concatenates args[0] to a str, so
    KeyError(5) would crash it."""
    if err.args and not isinstance(err.args[0], str):
        err.args = (str(err),) + err.args[1:]
    return err


# --- what runs in this process, and errors from a worker ------------------------------------------

# Nodes of an expression that runs in this process: no calls (nor methods, comprehensions,
# lambdas, f-strings), no `*`, `**`, `<<` or `%` (string formatting), no set displays (their
# order would follow this process's hash seed). What is left costs time linear in the
# expression and the data it reads: gateway conditions such as `amount > 100 and tier == "gold"`.
_CHEAP_NODES = (
    ast.Expression, ast.Name, ast.Load, ast.Constant, ast.Compare, ast.BoolOp, ast.And, ast.Or,
    ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Invert, ast.BinOp, ast.Add, ast.Sub, ast.Div,
    ast.FloorDiv, ast.BitAnd, ast.BitOr, ast.BitXor, ast.RShift, ast.Attribute, ast.Subscript,
    ast.Slice, ast.IfExp, ast.Tuple, ast.List, ast.Dict, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
    ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn)
_CHEAP_MAX_SOURCE = 1000
_CHEAP_MAX_CONSTANT = 1000   # characters of a str or bytes literal
_CHEAP_MAX_INT_BITS = 256


def _small_tree(source: str, mode: str) -> ast.AST | bool:
    """The parsed `source` when it is short enough to judge; else the verdict itself: False
    (too long: a worker runs it), True (it does not parse: the compile in run_expression or
    run_script reports that, as a worker would)."""
    if len(source) > _CHEAP_MAX_SOURCE:
        return False
    try:
        return ast.parse(source, _FILENAME, mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True


@functools.lru_cache(maxsize=4096)
def is_cheap(source: str) -> bool:
    """Whether the expression `source` provably runs fast and deterministically in this process."""
    tree = _small_tree(source, "eval")
    if not isinstance(tree, ast.AST):
        return tree
    for node in ast.walk(tree):
        if not isinstance(node, _CHEAP_NODES):
            return False
        if isinstance(node, ast.Constant) and not _small(node.value):
            return False
    return True


# Statements of a script that runs in this process: assignments and ifs whose expressions are
# cheap (and `*`, which the size guard bounds to MAX_SEQUENCE_LEN items or MAX_INT_BITS bits).
_CHEAP_STATEMENTS = (ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.Pass, ast.Store,
                     ast.Mult)


@functools.lru_cache(maxsize=4096)
def is_cheap_script(source: str) -> bool:
    """Whether the script `source` provably runs fast and deterministically in this process:
    `total = amount * 2`, `route = 'manager' if amount > 1000 else 'auto'`."""
    tree = _small_tree(source, "exec")
    if not isinstance(tree, ast.AST):
        return tree
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not all(isinstance(t, (ast.Name, ast.Subscript)) for t in targets):
                return False
            if isinstance(node, ast.AugAssign) and not isinstance(node.op, (ast.Add, ast.Sub)):
                return False
        elif not isinstance(node, _CHEAP_STATEMENTS + _CHEAP_NODES):
            return False
        if isinstance(node, ast.Constant) and not _small(node.value):
            return False
    return True


def _small(value) -> bool:
    return not (isinstance(value, (str, bytes)) and len(value) > _CHEAP_MAX_CONSTANT or
                isinstance(value, int) and value.bit_length() > _CHEAP_MAX_INT_BITS)


_ERROR_CLASSES = {cls.__name__: cls for cls in (
    ArithmeticError, AssertionError, AttributeError, IndexError, KeyError, LookupError,
    MemoryError, NameError, NotImplementedError, OverflowError, PermissionError, RecursionError,
    RuntimeError, StopIteration, TimeoutError, TypeError, UnboundLocalError, UnicodeError,
    ValueError, ZeroDivisionError, decimal.DivisionByZero, decimal.InvalidOperation,
    decimal.Overflow, script_workers.ScriptLimitExceeded)}


@functools.lru_cache(maxsize=256)
def _error_class(name: str) -> type[Exception]:
    """The class a worker named, or one of that name (the message keeps its wording)."""
    found = _ERROR_CLASSES.get(name)
    if found is not None:
        return found
    return type(name if name.isidentifier() else "ScriptError", (Exception,), {})


def _raise_at_line(error: Exception, line: int):
    """Raise `error` from a frame of the script's file name at `line`: Spiff's formatter reads
    the failing line of a script from the traceback, as when the script ran here."""
    code = compile("\n" * max(0, line - 1) + "raise _error_", _FILENAME, "exec")
    exec(code, {"_error_": error, "__builtins__": {}})


@contextlib.contextmanager
def collected_prints(lines: list):
    """Collect what scripts print (see script_builtins._LogPrint) into `lines` instead of the
    log, for a worker to hand to the parent, which logs it."""
    prefix = "script print: "

    class Collect(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            lines.append(message[len(prefix):] if message.startswith(prefix) else message)

    handler, propagate, level = Collect(), log.propagate, log.level
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = propagate, level


def _timer_value_error(task, expression: str, value) -> str | None:
    """Why `value`, which `expression` gave, cannot be the duration or cycle of the timer of
    `task` (engine.business_time.timer_duration_error, timer_cycle_error), or None (also when
    no timer asked)."""
    definition = getattr(getattr(task, "task_spec", None), "event_definition", None)
    for timer in getattr(definition, "event_definitions", None) or (definition,):
        if not isinstance(timer, (DurationTimer, CycleTimer)) or timer.expression != expression:
            continue
        refused = (timer_duration_error(value) if isinstance(timer, DurationTimer)
                   else timer_cycle_error(value))
        if refused is not None:
            return refused
    return None


ServiceHandler = Callable[[Any, str, dict], Any]


@functools.lru_cache(maxsize=4096)
def _parse_error(expression: str) -> tuple | None:
    """The arguments of the SyntaxError that parsing `expression` raises, or None."""
    try:
        ast.parse(expression)
    except SyntaxError as err:
        return err.args
    return None


class PlatformScriptEngine(PythonScriptEngine):
    """The script engine every workflow of the platform runs with (re-attach it after loading)."""

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT,
                 service_handler: ServiceHandler | None = None):
        super().__init__(environment=RestrictedEnvironment(time_limit))
        self.service_handler = service_handler

    def evaluate(self, task, expression, external_context=None):
        """As Spiff's, but the WorkflowTaskException's message names the underlying problem;
        the value of a timer's duration or cycle is bounded before SpiffWorkflow reads it."""
        try:
            value = self.environment.evaluate(expression, task.data, external_context)
            refused = _timer_value_error(task, expression, value)
            if refused is not None:
                raise ValueError(refused)
            return value
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': "
                                        f"{err.__class__.__name__}: {err}", task=task,
                                        exception=err) from err

    def validate(self, expression):
        """As Spiff's (raises SyntaxError unless `expression` parses), each text parsed once:
        SpiffWorkflow's DMN engine asks it up to three times for every cell of a table each
        time the table decides (36 times a filing)."""
        refused = _parse_error(expression)
        if refused is not None:
            raise SyntaxError(*refused)

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """Call `service_handler(task, operation_name, {name: value})`; returns the result as JSON.

        Raises WorkflowTaskException when no handler is configured or the handler fails.
        (Replaces Spiff's call_service, whose error path raises NameError.)
        """
        if self.service_handler is None:
            raise WorkflowTaskException(f"service {operation_name} failed: no service handler is "
                                        f"configured", task=task)
        params = {name: param["value"] for name, param in (operation_params or {}).items()}
        try:
            return json.dumps(self.service_handler(task, operation_name, params))
        except Exception as err:
            raise WorkflowTaskException(f"service {operation_name} failed: {err}", task=task,
                                        exception=err) from err

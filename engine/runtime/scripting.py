"""Restricted Python for BPMN: where every script, condition and expression of a process runs.

Owns the script environment used by script tasks, gateway conditions, timer expressions, message
payloads and service-task parameters, and the seam through which service tasks call out:

- code is compiled with RestrictedPython plus our own policy (no imports, no `_` names, no class,
  try or with statements, `**`, `*` and `<<` routed through size guards); code objects are cached;
- names resolve to the task data first, then to a whitelist of builtins and helpers
  (engine/runtime/script_builtins.py, with the guards the compiled code calls); `now()` reads
  engine.clock, so a script sees the same instant as the rest of its unit of work;
- every run has a time limit, enforced by a per-thread trace function (works off the main thread);
- `check_expression` / `check_script` let a deployment refuse bad definitions before they run.

This is defence in depth, not a security boundary (see the Spiff notes, section 5): single C
operations such as `str.ljust(10**9)` can still exhaust memory.
"""
from __future__ import annotations

import ast
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
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.runtime.script_builtins import _GUARDS, BUILTINS, REFUSED_NAMES

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 1.0
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
    """

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT, environment_globals=None):
        super().__init__(environment_globals)
        self.time_limit = time_limit
        self.builtins = {**BUILTINS, **self.globals}

    def evaluate(self, expression, context, external_context=None):
        """The value of `expression` over the task data; raises what the expression raised."""
        code = _compiled(expression.strip(), "eval")
        return self._run(code, self._scope(context, external_context))

    def execute(self, script, context, external_context=None):
        """Run `script` over the task data and write its results back into `context`."""
        scope = self._scope(context, external_context)
        self._run(_compiled(script, "exec"), scope)
        for key in [key for key in context if key not in scope]:  # `del name` in the script
            del context[key]
        for key, value in scope.items():
            if key in _GUARDS or key == "__builtins__" or callable(value) or \
                    (external_context and key in external_context):
                continue
            context[key] = value
        return True

    def _scope(self, context, external_context):
        scope = {**external_context, **context} if external_context else dict(context)
        scope.update(_GUARDS)  # after the data, so that no data key can replace a guard
        scope["__builtins__"] = self.builtins  # without it Python would hand out the real ones
        return scope

    def _run(self, code: CodeType, scope: dict):
        deadline = time.monotonic() + self.time_limit

        def tracer(frame, event, arg):
            if time.monotonic() > deadline:
                raise _ScriptTimeout
            # Line events only in script frames; helpers are ours and finish on their own.
            return tracer if frame.f_code.co_filename == _FILENAME else None

        previous = sys.gettrace()
        sys.settrace(tracer)  # per thread, unlike SIGALRM
        try:
            return eval(code, scope)
        except _ScriptTimeout as stop:
            timeout = TimeoutError(f"script stopped: it ran longer than the time limit of "
                                   f"{self.time_limit:g} s")
            # Keep the script's frames: Spiff reads the failing line from them.
            raise timeout.with_traceback(stop.__traceback__) from None
        except Exception as err:
            # Spiff's formatter concatenates args[0] to a str: KeyError(5) would crash it.
            if err.args and not isinstance(err.args[0], str):
                err.args = (str(err),) + err.args[1:]
            raise
        finally:
            sys.settrace(previous)


ServiceHandler = Callable[[Any, str, dict], Any]


class PlatformScriptEngine(PythonScriptEngine):
    """The script engine every workflow of the platform runs with (re-attach it after loading)."""

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT,
                 service_handler: ServiceHandler | None = None):
        super().__init__(environment=RestrictedEnvironment(time_limit))
        self.service_handler = service_handler

    def evaluate(self, task, expression, external_context=None):
        """As Spiff's, but the WorkflowTaskException's message names the underlying problem."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': "
                                        f"{err.__class__.__name__}: {err}", task=task,
                                        exception=err) from err

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

"""The import rules between layers: engine/ is usable without Flask (it imports nothing from
flask, werkzeug or web/), and web/ reads and changes state through engine functions (only the
app factory and the error handler touch the ORM or SpiffWorkflow); and no module of either takes
part in an import circle."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

WEB_LIBRARIES = ("flask", "werkzeug", "web")
# What web/ reaches only through engine functions.
ENGINE_INSIDES = ("sqlalchemy", "engine.models", "SpiffWorkflow")
# The app factory builds the database engine; the error handler maps database errors.
WEB_MAY_TOUCH_INSIDES = ("web/__init__.py", "web/errors.py")


def sources(package: str) -> list[Path]:
    """Every .py file of `package` and its subpackages (not front-end packages)."""
    return sorted(p for p in (ROOT / package).rglob("*.py") if "node_modules" not in p.parts)


def imported_names(path: Path) -> list[str]:
    """Every module `path` imports, anywhere in it; `from a import b` counts as a and a.b."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def offenders(paths, banned) -> list[str]:
    """"file: banned" for every file that imports a banned module or anything inside it."""
    return sorted({f"{path.relative_to(ROOT).as_posix()}: {b}"
                   for path in paths for name in imported_names(path)
                   for b in banned if name == b or name.startswith(b + ".")})


def test_engine_sources_do_not_import_flask_werkzeug_or_web():
    assert len(sources("engine")) > 40     # the walk reaches into the subpackages
    assert offenders(sources("engine"), WEB_LIBRARIES) == []


def test_importing_every_engine_module_loads_no_flask_or_werkzeug():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                     for p in sources("engine")
                     if p.stem != "__init__" and "migrations" not in p.parts)
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            f"bad = [m for m in sys.modules if m.split('.')[0] in {WEB_LIBRARIES!r}]\n"
            "assert not bad, bad\nprint(len(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_command_line_reaches_the_orm_and_spiffworkflow_only_through_the_engine():
    assert offenders(sources("web/cli"), ENGINE_INSIDES) == []


def test_web_reaches_the_orm_and_spiffworkflow_only_through_the_engine():
    paths = [p for p in sources("web")
             if p.relative_to(ROOT).as_posix() not in WEB_MAY_TOUCH_INSIDES]
    found = offenders(paths, ENGINE_INSIDES)
    assert found == [], "web/ modules that import " + ", ".join(ENGINE_INSIDES) + ":\n" + \
        "\n".join(found)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the platform modules it imports (a package's __init__ does not count as a
    target: importing a name from a package, as blueprints do, is not an edge)."""
    paths = [p for package in ("engine", "web") for p in sources(package)
             if "migrations" not in p.parts]
    modules = {module_name(p) for p in paths if p.stem != "__init__"}
    return {module_name(p): {n for n in imported_names(p) if n in modules}
            for p in paths}


def test_no_module_takes_part_in_an_import_circle():
    graph = import_graph()
    circles = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == [], "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)

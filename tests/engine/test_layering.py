"""engine/ is usable without Flask: it imports nothing from flask or web/."""
from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT


def test_engine_sources_do_not_import_flask_or_web():
    offenders = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in ("flask", "web")]
    assert offenders == []


def test_importing_every_engine_module_loads_no_flask():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                     for p in (ROOT / "engine").rglob("*.py")
                     if p.stem != "__init__" and "migrations" not in p.parts)
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'web')]\n"
            "assert not bad, bad\nprint(len(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

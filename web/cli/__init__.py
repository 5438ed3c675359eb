"""The `aftersales` command line (`web.cli:main`): database, definitions, demo data, serving,
audit.

Every command reads the settings once (engine.config.from_env, through `Context`) and calls
engine functions; only `serve` builds the Flask app. The commands are grouped by who uses them:
operations.py (init, demo, serve, scheduler, user), definitions.py (validate, deploy, versions,
diff, whatif), migrate.py (migrate), orders.py (orders import), payments.py (payments
reconcile), timers.py (timers list/fire/reschedule), signals.py (signals send), feedback.py
(feedback evaluate/classify/deploy/versions/reclassify), report.py (report --period), tiers.py
(tier set/list) and audit.py (audit verify/replay/export/money, archive). Each adds its commands
to the group of group.py, which also reports every EngineError the same way (`exit_with_error`);
importing them here is what registers them.
"""
from __future__ import annotations

from web.cli import (  # noqa: F401  (they register commands)
    audit,
    definitions,
    feedback,
    migrate,
    operations,
    orders,
    payments,
    report,
    signals,
    tiers,
    timers,
)
from web.cli.group import Context, exit_with_error, main

__all__ = ["Context", "exit_with_error", "main"]

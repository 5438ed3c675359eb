"""Migration 0024 on a database with balances: the rows stay, and the database's own CHECK
takes refunds less claw-backs equal to what was paid (128.02 - 8.02 = 120.00, which SQLite's
floats make 120.00000000000001) and still refuses a cent more."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, exc, text

from engine import db

_BALANCE = ("INSERT INTO order_balance (order_id, paid, refunds_held, refunds_paid, "
            "clawbacks_held, clawbacks_paid) VALUES ('O-1', 120.00, 120.00, 120.00, 8.02, 8.02)")
_REFUND = "UPDATE order_balance SET refunds_held = round(refunds_held + :moved, 2)"


def test_a_refund_to_the_cent_of_what_was_paid_passes_the_check_and_a_cent_more_does_not(
        tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(db.alembic_config(url), "0023")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(_BALANCE))
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(text(_REFUND), {"moved": 8.02})        # refused before the migration
    engine.dispose()
    db.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(_REFUND), {"moved": 8.02})
        assert conn.execute(text("SELECT paid, refunds_held, clawbacks_paid FROM order_balance")
                            ).one() == (120.0, 128.02, 8.02)
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(text(_REFUND), {"moved": 0.01})
    engine.dispose()

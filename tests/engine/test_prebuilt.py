"""engine.prebuilt: a prebuilt statement sent on the driver gives what SQLAlchemy's own
execution gives (values of their types, the columns' Python defaults, IN lists, many rows, the
database's errors) inside the session's transaction, which begins at its first write as with
SQLAlchemy, on SQLite and on PostgreSQL."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, delete, exc, insert, select, update
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from engine import clock, db, prebuilt
from engine.models import OrderBalance, ShopOrder, User

_ORDERS = select(ShopOrder.order_id, ShopOrder.paid_amount, ShopOrder.items,
                 ShopOrder.paid_at, ShopOrder.delivered_at, ShopOrder.currency).where(
    ShopOrder.order_id.in_(bindparam("ids", expanding=True))).order_by(ShopOrder.order_id)
_ADD_USER = insert(User)
_USER = select(User.username, User.active, User.created_at).where(
    User.username == bindparam("name"))
_ADD_BALANCE = insert(OrderBalance)
_HOLD = update(OrderBalance).where(OrderBalance.order_id == bindparam("b_order"))
_DROP_USERS = delete(User).where(User.username.in_(bindparam("names", expanding=True)))


def _order(order_id: str, paid: str, delivered) -> ShopOrder:
    return ShopOrder(order_id=order_id, customer_id="C-1", category="apparel",
                     paid_amount=Decimal(paid), paid_at=clock.now() - timedelta(days=9),
                     delivered_at=delivered,
                     items=[{"sku": "S-1", "quantity": 1, "unit_price": Decimal(paid)}])


def _in_transaction(session) -> bool:
    driver = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "sqlite":
        return driver.in_transaction
    return driver.info.transaction_status != 0                 # psycopg: IDLE


def test_rows_come_back_as_sqlalchemys_own_execution_gives_them(race_sessions):
    with race_sessions.begin() as session:
        session.add_all([_order("O-P1", "199.90", clock.now() - timedelta(days=2)),
                         _order("O-P2", "0.10", None)])
    with race_sessions() as session:
        params = {"ids": ["O-P2", "O-P1", "O-none"]}
        rows = prebuilt.run(session, _ORDERS, params).all()
        assert [tuple(row) for row in rows] == [tuple(row) for row in
                                                session.execute(_ORDERS, params)]
        first = rows[0]
        # Decimals stay Decimals, in the JSON too; datetimes are aware; a server default is read.
        assert (first.order_id, first.paid_amount, first.currency) == ("O-P1", Decimal("199.90"),
                                                                      "CNY")
        assert first.items[0]["unit_price"] == Decimal("199.90")
        assert first.paid_at.tzinfo is not None and rows[1].delivered_at is None
        assert prebuilt.run(session, _ORDERS, {"ids": []}).all() == []
        assert prebuilt.run(session, _ORDERS, {"ids": ["O-P2"]}).scalars() == ["O-P2"]


def test_inserts_fill_the_columns_python_defaults_and_many_rows_go_in_one_call(race_sessions):
    with race_sessions.begin() as session:
        prebuilt.run(session, _ADD_USER, [{"username": name, "password_hash": "x",
                                           "role": "staff", "department": "finance"}
                                          for name in ("wu", "zhao", "qian")])
        found = prebuilt.run(session, _USER, {"name": "zhao"}).first()
        assert found.active is True and found.created_at == clock.now()
        gone = prebuilt.run(session, _DROP_USERS, {"names": ["wu", "qian", "nobody"]})
        assert gone.rowcount == 2
    with race_sessions() as session:
        assert session.scalars(select(User.username).where(
            User.username.in_(["wu", "zhao", "qian"]))).all() == ["zhao"]


def test_an_update_says_how_many_rows_it_changed_and_its_values_are_converted(race_sessions):
    with race_sessions.begin() as session:
        prebuilt.run(session, _ADD_BALANCE, {"order_id": "O-B1", "paid": Decimal("100.00")})
        held = prebuilt.run(session, _HOLD, {"b_order": "O-B1", "refunds_held": Decimal("99.99")})
        missed = prebuilt.run(session, _HOLD, {"b_order": "O-B9", "refunds_held": Decimal("1")})
        assert (held.rowcount, missed.rowcount) == (1, 0)
    with race_sessions() as session:
        balance = session.get(OrderBalance, "O-B1")
        assert (balance.refunds_held, balance.refunds_paid) == (Decimal("99.99"), Decimal("0"))


def test_the_transaction_begins_at_the_first_write_and_is_the_sessions(race_sessions):
    with race_sessions() as session:
        prebuilt.run(session, _USER, {"name": "nobody"})
        assert not _in_transaction(session)          # a read before any write: no transaction
        prebuilt.run(session, _ADD_USER, {"username": "sun", "password_hash": "x",
                                          "role": "staff"})
        assert _in_transaction(session)
        session.rollback()                            # the session's own rollback undoes it
    with race_sessions() as session:
        assert prebuilt.run(session, _USER, {"name": "sun"}).first() is None


def test_the_databases_error_is_sqlalchemys_and_the_session_rolls_back(race_sessions):
    row = {"order_id": "O-B2", "paid": Decimal("10.00")}
    with race_sessions.begin() as session:
        prebuilt.run(session, _ADD_BALANCE, row)
    with race_sessions() as session:
        with pytest.raises(exc.IntegrityError):
            prebuilt.run(session, _ADD_BALANCE, row)
        session.rollback()
        assert prebuilt.run(session, select(OrderBalance.paid).where(
            OrderBalance.order_id == "O-B2")).scalar() == Decimal("10.00")


def test_a_write_in_a_read_transaction_is_refused_on_sqlite(race_sessions):
    if race_sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("PostgreSQL's reads are plain transactions")
    with db.reading(), race_sessions() as session:
        with pytest.raises(exc.OperationalError, match="readonly"):
            prebuilt.run(session, _ADD_USER, {"username": "li", "password_hash": "x",
                                              "role": "staff"})


_ORDER = prebuilt.rows_of(ShopOrder).where(ShopOrder.order_id == bindparam("id"))


def test_one_loads_the_sessions_object_as_the_orm_would(race_sessions):
    with race_sessions.begin() as session:
        session.add(_order("O-P3", "50.00", None))
    with race_sessions.begin() as session:
        order = prebuilt.one(session, ShopOrder, _ORDER, {"id": "O-P3"})
        # A persistent object, nothing pending, its values typed: a change is flushed as usual.
        assert order in session and not session.dirty and order.paid_amount == Decimal("50.00")
        assert prebuilt.one(session, ShopOrder, _ORDER, {"id": "O-P3"}) is order
        assert prebuilt.one(session, ShopOrder, _ORDER, {"id": "O-none"}) is None
        order.shipping_address = "上海市 1 号"
    with race_sessions.begin() as session:
        held = session.get(ShopOrder, "O-P3")
        assert held.shipping_address == "上海市 1 号"
        held.category = "3c"                          # unflushed: flushed before the read
        session.expire(held, ["paid_amount"])
        assert prebuilt.one(session, ShopOrder, _ORDER, {"id": "O-P3"}) is held
        assert (held.category, held.paid_amount) == ("3c", Decimal("50.00"))
        prebuilt.run(session, update(ShopOrder).where(ShopOrder.order_id == "O-P3"),
                     {"category": "fresh"})
        assert prebuilt.one(session, ShopOrder, _ORDER, {"id": "O-P3"}).category == "3c"
        assert prebuilt.one(session, ShopOrder, _ORDER, {"id": "O-P3"},
                            refresh=True).category == "fresh"
        assert not session.dirty


def test_add_inserts_a_new_object_and_keeps_it_as_the_database_stored_it(race_sessions):
    with race_sessions.begin() as session:
        user = prebuilt.add(session, User(username="he", password_hash="x", role="staff"))
        order = prebuilt.add(session, _order("O-P4", "12.30", None))
        # The id, the Python defaults and the server's defaults, as a flush would leave them.
        assert user.id is not None and user.active is True and user.created_at == clock.now()
        assert (order.currency, order.channel) == ("CNY", "web")
        assert user in session and not session.dirty and not session.new
        user.department = "warehouse"
    with race_sessions() as session:
        stored = session.scalars(select(User).where(User.username == "he")).one()
        assert (stored.id, stored.department) == (user.id, "warehouse")


def test_change_writes_the_row_and_keeps_the_object_in_step(race_sessions):
    with race_sessions.begin() as session:
        balance = prebuilt.add(session, OrderBalance(order_id="O-B3", paid=Decimal("80.00")))
        prebuilt.change(session, balance, {"refunds_held": Decimal("30.00")})
        assert balance.refunds_held == Decimal("30.00") and not session.dirty
        session.delete(balance)
        session.flush()
        with pytest.raises(StaleDataError):
            prebuilt.change(session, balance, {"refunds_held": Decimal("1.00")})


def test_what_a_rolled_back_savepoint_wrote_is_read_again(race_sessions):
    with race_sessions.begin() as session:
        balance = prebuilt.add(session, OrderBalance(order_id="O-B4", paid=Decimal("80.00")))
    with race_sessions.begin() as session:
        balance = session.get(OrderBalance, "O-B4")
        with pytest.raises(exc.IntegrityError):
            with session.begin_nested():
                prebuilt.change(session, balance, {"refunds_held": Decimal("50.00")})
                late = prebuilt.add(session, User(username="ma", password_hash="x",
                                                  role="staff"))
                # The CHECK refunds_paid <= refunds_held refuses this one: the savepoint goes.
                prebuilt.change(session, balance, {"refunds_paid": Decimal("60.00")})
        assert balance.refunds_held == Decimal("0") and balance.refunds_paid == Decimal("0")
        with pytest.raises(ObjectDeletedError):
            late.username


class _Lost(Exception):
    pass


def a_balance(sessions, order_id: str) -> None:
    """A committed balance of order `order_id`: 10.00 paid, nothing held."""
    with sessions.begin() as session:
        prebuilt.add(session, OrderBalance(order_id=order_id, paid=Decimal("10.00")))


def test_queued_writes_go_out_with_the_next_statement_or_the_commit(race_sessions):
    a_balance(race_sessions, "O-B5")
    with race_sessions.begin() as session:
        prebuilt.write(session, _HOLD, {"b_order": "O-B5", "refunds_held": Decimal("4.00")},
                       rows=1, lost=_Lost)
        assert not _in_transaction(session)        # queued: the transaction has not begun
        # Read after it, the write is there (SQLAlchemy's own statements see it too).
        assert session.scalar(select(OrderBalance.refunds_held).where(
            OrderBalance.order_id == "O-B5")) == Decimal("4.00")
        prebuilt.write(session, _HOLD, {"b_order": "O-B5", "refunds_held": Decimal("5.00")})
    with race_sessions() as session:                   # sent by the commit
        assert session.get(OrderBalance, "O-B5").refunds_held == Decimal("5.00")


class _LostToo(Exception):
    pass


def test_several_queued_writes_go_out_together_and_the_first_refused_one_is_raised(
        race_sessions):
    # On PostgreSQL the queue goes out in one round trip (psycopg's pipeline mode), on SQLite
    # one by one: the answers are the same.
    a_balance(race_sessions, "O-B7")
    with race_sessions.begin() as session:
        for held in ("1.00", "2.00", "3.00"):
            prebuilt.write(session, _HOLD, {"b_order": "O-B7", "refunds_held": Decimal(held)},
                           rows=1, lost=_Lost)
        prebuilt.write(session, _ADD_BALANCE, [{"order_id": "O-B8", "paid": Decimal("1")},
                                               {"order_id": "O-B9", "paid": Decimal("2")}])
        assert not _in_transaction(session)
    with race_sessions() as session:
        assert session.get(OrderBalance, "O-B7").refunds_held == Decimal("3.00")
        assert session.get(OrderBalance, "O-B9").paid == Decimal("2")
    for refused, params in (
            (_ADD_BALANCE, {"order_id": "O-B8", "paid": Decimal("1")}),   # the database refuses it
            (_HOLD, {"b_order": "O-B0", "refunds_held": Decimal("1")})):  # its version check fails
        with pytest.raises(_LostToo):
            with race_sessions.begin() as session:
                prebuilt.write(session, _HOLD, {"b_order": "O-B7", "refunds_held": Decimal("7")},
                               rows=1, lost=_Lost)
                prebuilt.write(session, refused, params, rows=1, lost=_LostToo)
                prebuilt.write(session, _HOLD, {"b_order": "O-B9", "refunds_held": Decimal("1.5")})
        with race_sessions() as session:             # nothing of the transaction was kept
            assert session.get(OrderBalance, "O-B7").refunds_held == Decimal("3.00")
            assert session.get(OrderBalance, "O-B9").refunds_held == Decimal("0")


def test_a_read_ahead_of_the_queue_begins_no_transaction(race_sessions):
    a_balance(race_sessions, "O-B4")
    with race_sessions.begin() as session:
        prebuilt.write(session, _HOLD, {"b_order": "O-B4", "refunds_held": Decimal("4.00")},
                       rows=1, lost=_Lost)
        held = select(OrderBalance.refunds_held).where(OrderBalance.order_id == bindparam("o"))
        # Sent before the queued write: what is committed, and the transaction not begun.
        assert prebuilt.ahead(session, held, {"o": "O-B4"}).scalar() == Decimal("0")
        assert not _in_transaction(session)
        assert prebuilt.read(session, held, {"o": "O-B4"}).scalar() == Decimal("4.00")
        assert _in_transaction(session)


def test_a_queued_write_that_loses_raises_when_sent_and_a_rollback_drops_the_rest(
        race_sessions):
    a_balance(race_sessions, "O-B6")
    with pytest.raises(_Lost):
        with race_sessions.begin() as session:      # no row O-B9: a version check that fails
            prebuilt.write(session, _HOLD, {"b_order": "O-B9", "refunds_held": Decimal("1")},
                           rows=1, lost=_Lost)
    with pytest.raises(_Lost):
        with race_sessions.begin() as session:      # the database refuses: another writer's
            prebuilt.write(session, _ADD_BALANCE, {"order_id": "O-B6", "paid": Decimal("1")},
                           lost=_Lost)
            session.flush()
            prebuilt.run(session, _USER, {"name": "nobody"})
    with race_sessions() as session:
        savepoint = session.begin_nested()
        prebuilt.write(session, _HOLD, {"b_order": "O-B6", "refunds_held": Decimal("9")})
        savepoint.rollback()                        # the savepoint's writes are dropped
        prebuilt.write(session, _HOLD, {"b_order": "O-B6", "refunds_held": Decimal("2")})
        session.rollback()
    with race_sessions() as session:
        assert session.get(OrderBalance, "O-B6").refunds_held == Decimal("0")

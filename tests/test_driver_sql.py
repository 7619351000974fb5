"""Driver-level statements: the rows they write are the ORM's rows, batches are all or nothing, and a batch
commits only a transaction its session owns."""

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import bindparam, delete, func, insert, literal, select, text, update
from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import Database
from common.driver_sql import DriverConnection, DriverStatement
from common.models import IdempotencyRecord, Program

INSERT_RECORD = DriverStatement(
    lambda _dialect: insert(IdempotencyRecord.__table__).values(
        id=bindparam("id", type_=IdempotencyRecord.__table__.c.id.type),
        request_hash=bindparam("request_hash", type_=IdempotencyRecord.__table__.c.request_hash.type),
        created_at=bindparam("created_at", type_=IdempotencyRecord.__table__.c.created_at.type),
    )
)
READ_RECORD = DriverStatement(
    lambda _dialect: select(IdempotencyRecord.request_hash, IdempotencyRecord.created_at).where(
        IdempotencyRecord.id == bindparam("id")
    )
)
OVERSPEND = DriverStatement(
    lambda _dialect: (
        update(Program.__table__).where(Program.id == bindparam("id")).values(reserved_yen=Program.budget_yen + 1)
    )
)
SYNCHRONOUS_COMMIT = DriverStatement(
    lambda dialect: select(
        func.current_setting("synchronous_commit") if dialect == "postgresql" else literal("not on postgresql")
    )
)
MOMENT = datetime(2026, 3, 31, 23, 59, 58, 123456, tzinfo=UTC)


def _key() -> str:
    return uuid.uuid4().hex


async def test_a_row_written_by_the_driver_reads_back_through_the_orm_like_one_the_orm_wrote(session):
    by_driver, by_orm = _key(), _key()
    sql = DriverConnection(session)
    await sql.run(INSERT_RECORD, id=by_driver, request_hash="h", created_at=MOMENT)
    session.add(IdempotencyRecord(id=by_orm, request_hash="h", created_at=MOMENT))
    await session.flush()
    session.expunge_all()
    driver_row, orm_row = await session.get(IdempotencyRecord, by_driver), await session.get(IdempotencyRecord, by_orm)
    assert (driver_row.request_hash, driver_row.created_at) == (orm_row.request_hash, orm_row.created_at)
    assert (await sql.run(READ_RECORD, id=by_orm)).row == ("h", orm_row.created_at)


async def test_a_failing_statement_fails_the_batch_and_names_the_check_it_broke(session):
    program = await _program(session)
    sql = DriverConnection(session)
    record = _key()
    try:
        await sql.run_all(
            [(INSERT_RECORD, {"id": record, "request_hash": "h", "created_at": MOMENT}), (OVERSPEND, {"id": program})]
        )
        raise AssertionError("the overspend was accepted")
    except sql.integrity_error as error:
        assert sql.violated_constraint(error) == "ck_program_within_budget"
    await session.rollback()
    assert await session.get(IdempotencyRecord, record) is None


async def test_inside_a_savepoint_a_committing_batch_ends_the_savepoint_not_the_outer_transaction(session):
    record = _key()
    await DriverConnection(session).commit_with(
        [(INSERT_RECORD, {"id": record, "request_hash": "h", "created_at": MOMENT})]
    )
    assert _driver_in_transaction(session.bind.sync_connection.connection.driver_connection)  # the test's own
    assert await session.get(IdempotencyRecord, record) is not None


async def test_committing_batches_commit_on_the_driver_and_with_them_what_the_orm_had_pending(engine):
    db, first, by_orm, second = Database(engine), _key(), _key(), _key()
    try:
        async with db.sessionmaker() as writer:
            sql = DriverConnection(writer)
            await sql.commit_with([(INSERT_RECORD, {"id": first, "request_hash": "h", "created_at": MOMENT})])
            writer.add(IdempotencyRecord(id=by_orm, request_hash="h", created_at=MOMENT))
            await sql.commit_with([(INSERT_RECORD, {"id": second, "request_hash": "h", "created_at": MOMENT})])
            assert not writer.new
            async with db.reader() as other:
                assert [
                    await other.get(IdempotencyRecord, record) is not None for record in (first, by_orm, second)
                ] == [True, True, True]
            await writer.rollback()  # too late: the batches committed
        async with db.reader() as other:
            assert [await other.get(IdempotencyRecord, record) is not None for record in (first, by_orm, second)] == [
                True,
                True,
                True,
            ]
    finally:
        async with db.sessionmaker() as cleanup:
            await cleanup.exec(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_([first, by_orm, second])))
            await cleanup.commit()


async def test_a_commit_that_need_not_be_durable_skips_the_flush_for_its_own_transaction_only(engine):
    db, record = Database(engine), _key()
    try:
        async with db.sessionmaker() as writer:
            sql = DriverConnection(writer)
            claim = [
                (INSERT_RECORD, {"id": record, "request_hash": "h", "created_at": MOMENT}),
                (SYNCHRONOUS_COMMIT, {}),
            ]
            _, during = await sql.commit_with(claim, durable=False)
            (after,) = await sql.commit_with([(SYNCHRONOUS_COMMIT, {})])
        async with db.reader() as other:
            assert await other.get(IdempotencyRecord, record) is not None  # committed all the same
        if engine.dialect.name == "postgresql":
            assert (during.row, after.row) == (("off",), ("on",))  # SET LOCAL: the next transaction flushes again
    finally:
        async with db.sessionmaker() as cleanup:
            await cleanup.exec(delete(IdempotencyRecord).where(IdempotencyRecord.id == record))
            await cleanup.commit()


async def test_on_postgresql_each_connection_parses_a_statement_once_and_runs_it_prepared(session):
    sql = DriverConnection(session)
    compiled = READ_RECORD.compiled(session.bind.dialect)
    if session.bind.dialect.name != "postgresql":
        assert compiled.preparation is None  # sqlite3 keeps its own cache of parsed statements
        return
    await sql.run(READ_RECORD, id=_key())
    runs = await _prepared_runs(session, compiled.preparation.name)
    for _ in range(3):
        await sql.run(READ_RECORD, id=_key())
    assert await _prepared_runs(session, compiled.preparation.name) == runs + 3


async def test_a_rollback_keeps_the_prepared_statements_and_a_dropped_one_is_prepared_again(session):
    program, sql = await _program(session), DriverConnection(session)
    await session.commit()  # the test's savepoint: the rollback below ends only what follows
    try:
        await sql.run_all([(READ_RECORD, {"id": _key()}), (OVERSPEND, {"id": program})])
        raise AssertionError("the overspend was accepted")
    except sql.integrity_error:
        await session.rollback()
    assert (await sql.run(READ_RECORD, id=_key())).row is None
    if session.bind.dialect.name != "postgresql":
        return
    await session.exec(text("DEALLOCATE ALL"))  # what a connection pooler's reset would do
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        await sql.run(READ_RECORD, id=_key())
    await session.rollback()
    assert (await sql.run(READ_RECORD, id=_key())).row is None  # the server was asked again, and it prepared


async def test_a_committing_batch_whose_statements_were_dropped_prepares_them_again_and_runs(engine):
    db, record = Database(engine), _key()
    try:
        async with db.sessionmaker() as writer:
            sql = DriverConnection(writer)
            await sql.commit_with([(INSERT_RECORD, {"id": _key(), "request_hash": "h", "created_at": MOMENT})])
            if engine.dialect.name == "postgresql":
                driver = (await (await writer.connection()).get_raw_connection()).driver_connection
                await driver.set_autocommit(True)
                await driver.execute("DEALLOCATE ALL")  # what a connection pooler's reset would do
                await driver.set_autocommit(False)
            await sql.commit_with([(INSERT_RECORD, {"id": record, "request_hash": "h", "created_at": MOMENT})])
        async with db.reader() as other:
            assert await other.get(IdempotencyRecord, record) is not None
    finally:
        async with db.sessionmaker() as cleanup:
            await cleanup.exec(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.request_hash == "h", IdempotencyRecord.created_at == MOMENT
                )
            )
            await cleanup.commit()


async def test_a_committing_batch_that_fails_is_rolled_back_whole_and_the_session_goes_on(session):
    program = await _program(session)
    sql, record = DriverConnection(session), _key()
    with pytest.raises(sql.integrity_error):
        await sql.commit_with(
            [(INSERT_RECORD, {"id": record, "request_hash": "h", "created_at": MOMENT}), (OVERSPEND, {"id": program})]
        )
    # No rollback here: commit_with has done it, so the session answers at once, and nothing of the batch stayed.
    assert await session.get(IdempotencyRecord, record) is None
    assert await session.get(Program, program) is None  # the program was flushed in the same transaction


async def _prepared_runs(session: AsyncSession, name: str) -> int:
    found = await session.exec(
        text("SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE name = :name").bindparams(name=name)
    )
    return found.scalar_one()


def _driver_in_transaction(driver) -> bool:
    if isinstance(driver, psycopg.AsyncConnection):
        return driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    return driver.in_transaction


async def _program(session: AsyncSession) -> str:
    program = Program(
        id=f"prog_{_key()[:12]}",
        municipality_code="012092",
        name="t",
        kind="fixed",
        points_per_person=1,
        budget_yen=10,
        opens_at=MOMENT,
        closes_at=MOMENT,
    )
    session.add(program)
    await session.flush()
    return program.id
